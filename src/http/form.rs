//! The request form at `/`: its page, the plain-words messages (shared with the page's script, so the
//! checks before upload and the server's refusals read the same), and the form shown again with the
//! server's refusal next to the field or file it concerns when a browser posts it without script.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::{Value, json};

use super::csrf::{FormGuard, TOKEN_QUERY};
use super::pages::{Chrome, ReceiptView, html_response};
use super::problem::ProblemDocument;
use crate::config::{ContactSettings, Settings};
use crate::domain::ErrorCode;
use crate::intake::{Field, allowed_extensions};
use crate::services::Services;

/// What a browser sent before its request was refused: text answers, and (field, file name) of
/// each file part (browsers cannot be given the files back, but the page can name them).
#[derive(Debug, Default)]
pub struct Answers {
    pub fields: HashMap<String, String>,
    pub files: Vec<(String, String)>,
}

/// The messages a patient reads, by key. `{filename}`, `{limit}`, `{allowed}`, `{size}`,
/// `{retry}`, `{reason}` and the services' names `{imaging_service}` and `{records_service}` are
/// filled in (here, and by `static/form.js` from the same table).
const MESSAGES: &[(&str, &str)] = &[
    ("required.full_name", "Enter the patient's full name."),
    (
        "invalid.full_name",
        "Enter the name in 200 characters or fewer, using letters, spaces and punctuation.",
    ),
    ("required.email", "Enter your email address."),
    (
        "invalid.email",
        "Enter an email address in the right form, like name@example.com.",
    ),
    (
        "required.phone",
        "Enter a telephone number, so that we can call you as you asked.",
    ),
    (
        "invalid.phone",
        "Enter a telephone number with 6 to 20 digits, like +44 20 7946 0958.",
    ),
    (
        "invalid.contact_preference",
        "Choose how you would like us to contact you.",
    ),
    ("invalid.service", "Choose the service you would like."),
    (
        "required.condition",
        "Tell us about the condition and what you would like from the opinion.",
    ),
    (
        "invalid.condition",
        "Shorten this to 5,000 characters or fewer. You can add more detail in a document.",
    ),
    ("invalid.sponsor", "Choose who is paying for the opinion."),
    (
        "required.sponsor_reference",
        "Enter the reference on the embassy's letter of guarantee, or the insurer's authorisation code.",
    ),
    (
        "invalid.sponsor_reference",
        "Enter the reference in 200 characters or fewer.",
    ),
    (
        "invalid.file",
        "“{filename}” has a name we cannot accept. Rename the file and choose it again.",
    ),
    (
        "terms-not-accepted",
        "Tick the box to confirm that you accept the terms of service.",
    ),
    (
        "file-extension",
        "“{filename}” is a kind of file we cannot accept here. You can send: {allowed}.",
    ),
    (
        "file-dicom",
        "“{filename}” contains DICOM scans. DICOM scans need the {imaging_service}: choose it above.",
    ),
    (
        "file-dicom.report",
        "“{filename}” contains DICOM scans. Add it under Scans and images instead: DICOM scans need the {imaging_service}.",
    ),
    (
        "file-duplicate",
        "“{filename}” was already chosen, so it is listed once.",
    ),
    (
        "file-size",
        "“{filename}” is {size}, which is too large: each file must be under {limit}. Try a smaller photo, or split the document into parts.",
    ),
    (
        "file-empty",
        "“{filename}” is empty. Choose the file again, or another copy of it.",
    ),
    (
        "file-count.image",
        "“{filename}” cannot be sent: you can send up to {limit} images. Remove this one or another, or put several images in one zip file.",
    ),
    (
        "file-count.report",
        "“{filename}” cannot be sent: you can send up to {limit} reports. Remove this one or another, or put several in one zip file.",
    ),
    (
        "file-count.guarantee_letter",
        "“{filename}” cannot be sent: you can send one letter of guarantee. Remove this one or the other.",
    ),
    (
        "file-too-large",
        "“{filename}” is too large: each file must be under {limit}. Try a smaller photo, or split the document into parts.",
    ),
    (
        "extension-not-allowed",
        "“{filename}” is a kind of file we cannot accept here. You can send: {allowed}.",
    ),
    (
        "content-mismatch",
        "“{filename}” does not contain what its name says, so we cannot accept it. Choose the original file, or save the document again as a PDF. (Office files that contain macros are not accepted either.)",
    ),
    (
        "archive-rejected",
        "“{filename}”: this zip file cannot be accepted ({reason}). Make a new zip file with only the images or documents in it.",
    ),
    (
        "image-rejected",
        "“{filename}”: this image cannot be read or is too large to process ({reason}). Try another copy of it.",
    ),
    (
        "too-many-images",
        "You can send up to {limit} images. Remove one, or put several images in one zip file.",
    ),
    (
        "too-many-files",
        "You can send up to {limit} files here. Remove some, or put several in one zip file.",
    ),
    (
        "images-required",
        "The {imaging_service} needs at least one image. Add an image, or choose the {records_service}.",
    ),
    (
        "request-too-large",
        "Together your files are more than we can receive at once. Send fewer or smaller files.",
    ),
    (
        "request-timeout",
        "Your upload stopped part-way, and nothing was saved. Check your connection and send it again: your answers are still here.",
    ),
    (
        "rate-limited",
        "You have sent several requests in a short time. Wait {retry} and send it again: your answers are still here.",
    ),
    (
        "unavailable",
        "The service is very busy just now, and nothing was saved. Please send your request again in a minute.",
    ),
    (
        "forbidden",
        "This page has expired or cookies are blocked for this site, so your request could not be sent. Reload the page and send it again.",
    ),
    (
        "other",
        "Something went wrong on our side and nothing was saved. Please send your request again; if it happens again, contact us and quote the time.",
    ),
];

fn message(key: &str) -> &'static str {
    MESSAGES
        .iter()
        .find(|(k, _)| *k == key)
        .or_else(|| MESSAGES.iter().find(|(k, _)| *k == "other"))
        .map_or("", |(_, m)| m)
}

/// Fills `{name}` placeholders from `values`.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A size in the units the form uses ("under 8 MB"): binary megabytes and kilobytes.
#[allow(clippy::cast_precision_loss)]
pub fn size_label(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        let mb = bytes as f64 / MB as f64;
        if bytes.is_multiple_of(MB) {
            format!("{} MB", bytes / MB)
        } else {
            format!("{mb:.1} MB")
        }
    } else if bytes >= 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} bytes")
    }
}

fn upper_list(extensions: &[&str]) -> String {
    extensions
        .iter()
        .map(|e| e.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

fn accept_attribute(extensions: &[&str]) -> String {
    let mut accept: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
    // Phones offer their photo library (and convert HEIC photos) when image types are named.
    for (ext, media) in [
        ("jpg", "image/jpeg"),
        ("png", "image/png"),
        ("gif", "image/gif"),
    ] {
        if extensions.contains(&ext) {
            accept.push(media.to_owned());
        }
    }
    accept.join(",")
}

/// A service as the form offers it.
pub struct Offer {
    pub value: &'static str,
    pub name: String,
    pub description: String,
    pub price: String,
}

fn offers(settings: &Settings) -> Vec<Offer> {
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

/// An error shown beside a field (`slot`) and in the summary, linking to `anchor`.
pub struct FieldError {
    pub slot: String,
    pub anchor: String,
    pub message: String,
}

/// The element a field's error links to.
fn anchor_of(slot: &str) -> String {
    match slot {
        "contact_preference" => "contact_preference-email".into(),
        "service" => "service-records_review".into(),
        "sponsor" => "sponsor-self".into(),
        "documents" => "report".into(),
        "general" => "request-form".into(),
        other => other.into(),
    }
}

/// The limits and messages the page's script checks with, as JSON safe inside `<script>`.
fn script_config(settings: &Settings) -> String {
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

/// "UK time" for London; otherwise the zone's name.
pub fn zone_label(zone: &str) -> String {
    if zone == "Europe/London" {
        "UK time".to_owned()
    } else {
        zone.replace('_', " ")
    }
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage<'a> {
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

fn render_form(
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

/// The refusal in plain words, placed at the field or file it concerns.
pub fn place_refusal(
    problem: &ProblemDocument,
    answers: &Answers,
    retry_after: Option<u64>,
    settings: &Settings,
) -> FieldError {
    use ErrorCode as C;
    let code = problem.code;
    let text = |k: &str| problem.text(k).map(str::to_owned);
    let filename = text("filename");
    let limit = problem
        .member("limit")
        .or_else(|| problem.member("limit_bytes"))
        .and_then(Value::as_u64);
    let limit_label = match (code, limit) {
        (C::FileTooLarge, Some(bytes)) => size_label(bytes),
        (_, Some(n)) => n.to_string(),
        (_, None) => String::new(),
    };
    let allowed = problem
        .member("allowed")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let retry = match retry_after {
        Some(s) if s > 90 => format!("{} minutes", s.div_ceil(60)),
        Some(s) if s > 1 => format!("{s} seconds"),
        _ => "a moment".to_owned(),
    };
    let values = [
        ("filename", filename.clone().unwrap_or_default()),
        ("limit", limit_label),
        ("allowed", allowed),
        ("reason", text("reason").unwrap_or_default()),
        ("retry", retry),
        (
            "imaging_service",
            settings
                .form
                .services
                .records_and_images_review
                .name
                .clone(),
        ),
        (
            "records_service",
            settings.form.services.records_review.name.clone(),
        ),
    ];
    let field = text("field");
    let file_field = filename.as_ref().and_then(|name| {
        answers
            .files
            .iter()
            .rev()
            .find(|(_, n)| n == name)
            .map(|(f, _)| f.clone())
    });
    // DICOM sent with the records review: the answer is the other service, chosen above.
    if problem.text("requires_service") == Some("records_and_images_review") {
        return FieldError {
            slot: file_field.unwrap_or_else(|| "image".into()),
            anchor: "service-records_and_images_review".into(),
            message: fill(message("file-dicom"), &values),
        };
    }
    let key = code.as_str().to_owned();
    let (slot, key) = match code {
        C::InvalidField => {
            let field = field.unwrap_or_default();
            if matches!(field.as_str(), "report" | "image" | "guarantee_letter") {
                (field, "invalid.file".to_owned())
            } else if problem.detail.contains(": required") {
                let key = format!("required.{field}");
                (field, key)
            } else {
                let key = format!("invalid.{field}");
                (field, key)
            }
        }
        C::TermsNotAccepted => ("terms_accepted".to_owned(), key),
        C::TooManyImages | C::ImagesRequired => ("image".to_owned(), key),
        C::TooManyFiles => (field.unwrap_or_else(|| "report".into()), key),
        C::RequestTooLarge => ("documents".to_owned(), key),
        C::FileTooLarge
        | C::ExtensionNotAllowed
        | C::ContentMismatch
        | C::ArchiveRejected
        | C::ImageRejected => (file_field.unwrap_or_else(|| "documents".into()), key),
        C::RateLimited | C::Unavailable | C::Forbidden | C::RequestTimeout => {
            ("general".to_owned(), key)
        }
        _ => ("general".to_owned(), "other".to_owned()),
    };
    let template = if MESSAGES.iter().any(|(k, _)| *k == key) {
        message(&key)
    } else {
        message("other")
    };
    FieldError {
        anchor: anchor_of(&slot),
        slot,
        message: fill(template, &values),
    }
}

/// The form again after the server refused a post sent without script: the same status and headers
/// as the problem (`Retry-After` included), the answers kept, the refusal beside its field or file.
pub fn refused_page(
    req: &HttpRequest,
    services: &Services,
    guard: &FormGuard,
    status: StatusCode,
    problem_headers: &HeaderMap,
    problem: &ProblemDocument,
    answers: &Answers,
) -> HttpResponse {
    let retry_after = problem_headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let error = place_refusal(problem, answers, retry_after, &services.settings);
    let issued = guard.issue(req);
    let body = render_form(services, issued.token, answers, vec![error]);
    let mut response = html_response(status, body);
    for (name, value) in problem_headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if let Some(cookie) = issued.cookie {
        let _ = response.add_cookie(&cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::problem::ApiError;
    use crate::services::ServiceError;

    #[test]
    fn sizes_read_as_the_form_says_them() {
        assert_eq!(size_label(8_388_608), "8 MB");
        assert_eq!(size_label(9_437_184), "9 MB");
        assert_eq!(size_label(1_572_864), "1.5 MB");
        assert_eq!(size_label(269_564), "264 KB");
        assert_eq!(size_label(12), "12 bytes");
    }

    /// The problem document the service answers `error` with.
    fn document(error: ServiceError) -> ProblemDocument {
        ApiError(error).document()
    }

    fn settings() -> Settings {
        let dir = tempfile::tempdir().unwrap();
        Settings::load_from(
            dir.path(),
            None,
            crate::config::environment_from(Some(HashMap::new())),
        )
        .unwrap()
    }

    #[test]
    fn dicom_sent_with_the_records_review_is_told_to_choose_the_images_review() {
        let settings = settings();
        let answers = Answers {
            fields: HashMap::new(),
            files: vec![("image".into(), "ct.zip".into())],
        };
        let problem = document(ServiceError::DicomNeedsImagingReview {
            filename: "ct.zip".into(),
            in_archive: true,
            allowed: Vec::new(),
        });
        let placed = place_refusal(&problem, &answers, None, &settings);
        assert_eq!(placed.slot, "image");
        assert_eq!(placed.anchor, "service-records_and_images_review");
        assert_eq!(
            placed.message,
            "“ct.zip” contains DICOM scans. DICOM scans need the Medical Records and Images Review: choose it above."
        );
    }

    #[test]
    fn a_refused_file_is_placed_at_the_field_it_was_sent_in() {
        let settings = settings();
        let answers = Answers {
            fields: HashMap::new(),
            files: vec![
                ("report".into(), "letter.pdf".into()),
                ("image".into(), "scan.jpg".into()),
            ],
        };
        let problem = document(ServiceError::ContentMismatch {
            filename: "scan.jpg".into(),
            detected: "exe".into(),
        });
        let placed = place_refusal(&problem, &answers, None, &settings);
        assert_eq!(placed.slot, "image");
        assert_eq!(placed.anchor, "image");
        assert!(
            placed.message.starts_with("“scan.jpg” does not contain"),
            "{}",
            placed.message
        );

        let problem = document(ServiceError::InvalidField {
            field: "phone".into(),
            message: "required when contact by phone is chosen".into(),
        });
        let placed = place_refusal(&problem, &answers, None, &settings);
        assert_eq!(placed.slot, "phone");
        assert_eq!(placed.message, message("required.phone"));

        let problem = document(ServiceError::FileTooLarge {
            filename: "letter.pdf".into(),
            limit_bytes: 8_388_608,
        });
        let placed = place_refusal(&problem, &answers, None, &settings);
        assert_eq!(placed.slot, "report");
        assert!(placed.message.contains("under 8 MB"), "{}", placed.message);

        let problem = document(ServiceError::RateLimited {
            retry_after_seconds: 10,
        });
        let placed = place_refusal(&problem, &answers, Some(10), &settings);
        assert_eq!(placed.slot, "general");
        assert!(
            placed.message.contains("Wait 10 seconds"),
            "{}",
            placed.message
        );
    }

    #[test]
    fn every_message_key_is_unique() {
        for (i, (k, _)) in MESSAGES.iter().enumerate() {
            assert!(MESSAGES[i + 1..].iter().all(|(other, _)| other != k), "{k}");
        }
    }
}
