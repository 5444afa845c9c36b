//! A refused post sent without script: the refusal placed beside its field or file, and the form
//! shown again with the answers kept.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use crate::domain::ErrorCode;
use crate::http::problem::ProblemDocument;

use super::Answers;
use super::messages::{MESSAGES, fill, message, size_label};
use super::page::render_form;
use crate::config::Settings;
use crate::http::csrf::FormGuard;
use crate::http::pages::html_response;
use crate::services::Services;

/// An error shown beside a field (`slot`) and in the summary, linking to `anchor`.
pub struct FieldError {
    pub slot: String,
    pub anchor: String,
    pub message: String,
}

/// The element a field's error links to.
pub(super) fn anchor_of(slot: &str) -> String {
    match slot {
        "contact_preference" => "contact_preference-email".into(),
        "service" => "service-records_review".into(),
        "sponsor" => "sponsor-self".into(),
        "documents" => "report".into(),
        "general" => "request-form".into(),
        other => other.into(),
    }
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
