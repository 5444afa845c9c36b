//! The form page itself: the services it offers, the limits its script checks with, and `GET /`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::{Value, json};

use super::Answers;
use super::messages::{MESSAGES, accept_attribute, size_label, upper_list, zone_label};
use super::refusal::FieldError;
use crate::config::{ContactSettings, Settings};
use crate::http::csrf::{FormGuard, TOKEN_QUERY};
use crate::http::pages::{Chrome, ReceiptView, html_response};
use crate::intake::{Field, allowed_extensions};
use crate::services::Services;

/// A service as the form offers it.
pub struct Offer {
    pub value: &'static str,
    pub name: String,
    pub description: String,
    pub price: String,
}

pub(super) fn offers(settings: &Settings) -> Vec<Offer> {
    let s = &settings.form.services;
    vec![
        Offer {
            value: "records_review",
            name: s.records_review.name.clone(),
            description: s.records_review.description.clone(),
            price: s.records_review.price.clone(),
        },
        Offer {
            value: "records_and_images_review",
            name: s.records_and_images_review.name.clone(),
            description: s.records_and_images_review.description.clone(),
            price: s.records_and_images_review.price.clone(),
        },
    ]
}

/// The limits and messages the page's script checks with, as JSON safe inside `<script>`.
pub(super) fn script_config(settings: &Settings) -> String {
    let i = &settings.intake;
    let zone = zone_label(&settings.deadlines.time_zone);
    let messages: serde_json::Map<String, Value> = MESSAGES
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let config = json!({
        "maxFileBytes": i.max_file_bytes,
        "maxFileLabel": size_label(i.max_file_bytes),
        "maxImages": i.max_images,
        "maxReports": i.max_reports,
        "allowed": {
            "report": allowed_extensions(Field::Report, false),
            "image": allowed_extensions(Field::Image, false),
            "imageDicom": allowed_extensions(Field::Image, true),
            "guarantee_letter": allowed_extensions(Field::GuaranteeLetter, false),
        },
        "services": {
            "imaging_service": settings.form.services.records_and_images_review.name,
            "records_service": settings.form.services.records_review.name,
        },
        "timeZone": settings.deadlines.time_zone,
        "zoneLabel": zone,
        "messages": messages,
    });
    // `<` can never close the script element when written as an escape.
    config.to_string().replace('<', "\\u003c")
}

#[derive(Template)]
#[template(path = "form.html")]
pub(super) struct FormPage<'a> {
    page: Chrome,
    action: String,
    csrf_token: String,
    answers: &'a Answers,
    errors: Vec<FieldError>,
    offers: Vec<Offer>,
    max_file: String,
    max_images: usize,
    max_reports: usize,
    report_photo_types: &'static str,
    image_types: String,
    report_accept: String,
    image_accept: String,
    config_json: String,
    refused: bool,
    receipt: ReceiptView,
    contact: ContactSettings,
}

impl FormPage<'_> {
    fn value(&self, name: &str) -> &str {
        self.answers.fields.get(name).map_or("", String::as_str)
    }

    fn checked(&self, name: &str, value: &str, default: bool) -> bool {
        match self.answers.fields.get(name) {
            Some(v) => v.trim() == value,
            None => default,
        }
    }

    fn terms_checked(&self) -> bool {
        self.answers.fields.get("terms_accepted").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "yes" | "on"
            )
        })
    }

    fn error(&self, slot: &str) -> &str {
        self.errors
            .iter()
            .find(|e| e.slot == slot)
            .map_or("", |e| e.message.as_str())
    }

    fn has_error(&self, slot: &str) -> bool {
        self.errors.iter().any(|e| e.slot == slot)
    }

    /// The files a refused post held in `field`, to name them for choosing again.
    fn chosen_before(&self, field: &str) -> String {
        let names: Vec<&str> = self
            .answers
            .files
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, name)| name.as_str())
            .collect();
        names.join(", ")
    }
}

pub(super) fn render_form(
    services: &Services,
    token: String,
    answers: &Answers,
    errors: Vec<FieldError>,
) -> String {
    let settings = &services.settings;
    let i = &settings.intake;
    let refused = !errors.is_empty();
    let title = if refused {
        "Error: Ask for a second medical opinion"
    } else {
        "Ask for a second medical opinion"
    };
    let page = FormPage {
        page: Chrome::new(title),
        action: format!("/api/v1/requests?{TOKEN_QUERY}={token}"),
        csrf_token: token,
        answers,
        errors,
        offers: offers(settings),
        max_file: size_label(i.max_file_bytes),
        max_images: i.max_images,
        max_reports: i.max_reports,
        report_photo_types: "JPG, PNG, GIF, BMP, TIF or EPS",
        image_types: upper_list(
            &allowed_extensions(Field::Image, false)
                .iter()
                .copied()
                .filter(|e| *e != "zip" && *e != "jpeg")
                .collect::<Vec<_>>(),
        ),
        report_accept: accept_attribute(allowed_extensions(Field::Report, false)),
        image_accept: accept_attribute(allowed_extensions(Field::Image, true)),
        config_json: script_config(settings),
        refused,
        receipt: ReceiptView::placeholder(&settings.deadlines.time_zone),
        contact: settings.contact.clone(),
    };
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "form template");
        String::new()
    })
}

/// `GET /`: the request form, with a CSRF token for this browser.
pub async fn request_form(
    req: HttpRequest,
    services: web::Data<Services>,
    guard: web::Data<FormGuard>,
) -> HttpResponse {
    let issued = guard.issue(&req);
    let body = render_form(&services, issued.token, &Answers::default(), Vec::new());
    let mut response = html_response(StatusCode::OK, body);
    if let Some(cookie) = issued.cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}
