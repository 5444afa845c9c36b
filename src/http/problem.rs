//! Every error as `application/problem+json` (RFC 9457), mapped from `ServiceError` in this one place.
//! The codes with their statuses and titles are `ErrorCode`'s. A response carries its problem as a
//! value ([`ProblemDocument`], in its extensions) for the metrics and the HTML pages, which never
//! parse the body back. 5xx bodies carry no internal detail; the cause goes to the log with the
//! request id.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::domain::ErrorCode;
use crate::services::ServiceError;

/// The problem document (for the OpenAPI description; responses are built from `ApiError`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
}

/// A problem document as a value: what the JSON body says, and what an HTML page renders.
#[derive(Clone, Debug)]
pub struct ProblemDocument {
    pub code: ErrorCode,
    pub detail: String,
    /// The extension members that help (`field`, `filename`, `reason`, `allowed`, …).
    pub members: Map<String, Value>,
}

impl ProblemDocument {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            members: Map::new(),
        }
    }

    /// The document with the extension member `name` set.
    #[must_use]
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.members.insert(name.to_owned(), value);
        self
    }

    /// An extension member.
    pub fn member(&self, name: &str) -> Option<&Value> {
        self.members.get(name)
    }

    /// An extension member that is a string.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.member(name).and_then(Value::as_str)
    }

    /// The problem+json body: `type`, `title`, `status`, `detail`, `code`, then the members.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.code.page()));
        body.insert("title".into(), json!(self.code.title()));
        body.insert("status".into(), json!(self.code.status()));
        body.insert("detail".into(), json!(self.detail));
        body.insert("code".into(), json!(self.code.as_str()));
        for (name, value) in &self.members {
            body.insert(name.clone(), value.clone());
        }
        Value::Object(body)
    }

    /// The response: the code's status, the problem+json body, `Retry-After` when given, and this
    /// document in the response's extensions.
    pub fn into_response(self, retry_after_seconds: Option<u64>) -> HttpResponse {
        let status = StatusCode::from_u16(self.code.status())
            .expect("every ErrorCode's status is a valid HTTP status");
        let mut response = HttpResponse::build(status)
            .content_type("application/problem+json")
            .body(self.to_json().to_string());
        if let Some(seconds) = retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// A `ServiceError` on its way to becoming a problem response.
///
/// Its `Debug` and `Display` are what middleware logs (`tracing-actix-web` logs every error
/// response's `Debug`): they carry the problem code only, never the file name, field value or
/// reason inside (`ServiceError` holds the patient's file names). The response body has those.
pub struct ApiError(pub ServiceError);

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ApiError").field(&self.code()).finish()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        Self(e)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code().as_str())
    }
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        self.0.code()
    }

    /// The problem document: the detail in words, and the extension members that help.
    pub fn document(&self) -> ProblemDocument {
        use ServiceError as E;
        let detail = match &self.0 {
            E::Internal(_) => "Something went wrong on our side. Please try again; quote the X-Request-Id header if you contact us.".to_owned(),
            E::Unavailable { .. } => "The service is busy or a backing store is unreachable. Please retry shortly.".to_owned(),
            E::Integrity => "A stored file failed its integrity check; no part of it was sent.".to_owned(),
            E::InvalidField { field, message } => format!("`{field}`: {message}"),
            E::InvalidChoice { field, allowed } => {
                format!("`{field}` must be one of: {}.", allowed.join(", "))
            }
            E::FileTooLarge { filename, limit_bytes } => format!("`{filename}` is larger than {limit_bytes} bytes."),
            E::RequestTooLarge { limit_bytes } => format!("The request is larger than {limit_bytes} bytes."),
            E::RequestTimeout { idle_seconds } => format!("Nothing of the request body arrived for {idle_seconds} seconds; nothing was stored."),
            E::ExtensionNotAllowed { filename, allowed } => format!("`{filename}`: accepted here are {}.", allowed.join(", ")),
            E::ContentMismatch { filename, detected } => format!("`{filename}` does not contain what its extension says (found: {detected})."),
            E::ArchiveRejected { filename, reason } | E::ImageRejected { filename, reason } => {
                format!("`{filename}`: {reason}.")
            }
            E::DicomNeedsImagingReview { filename, .. } => format!("`{filename}` holds DICOM, which is accepted only with the service `records_and_images_review`."),
            E::TooManyImages { limit } => format!("At most {limit} image uploads are accepted."),
            E::TooManyFiles { field, limit } => format!("At most {limit} files in `{field}`."),
            E::Malformed(why) => format!("The request body could not be parsed: {why}."),
            E::LinkRevoked { locked: true } => "This link was locked after too many wrong passcodes. Ask the sender for a new link.".to_owned(),
            E::LinkRevoked { locked: false } => "This link has been withdrawn by the sender. Ask them for a new link.".to_owned(),
            E::LinkExpired => "This link has expired. Ask the sender for a new link.".to_owned(),
            E::LinkUsedUp => "This link has been opened as many times as it allows. Ask the sender for a new link.".to_owned(),
            E::Forbidden => "You are not allowed to do this.".to_owned(),
            E::IdempotencyConflict { case_id: Some(_) } => "This Idempotency-Key created a case from a different request body (`case_id`); a partner corrects a case's contact details and sponsor reference with PATCH /api/v1/cases/{id}.".to_owned(),
            E::IdempotencyConflict { case_id: None } => "This Idempotency-Key was used before with a different request body.".to_owned(),
            E::InvalidTransition { status, .. } => format!("The case is `{status}`, which does not allow this."),
            E::Conflict { reason, .. } => format!("Conflict: {reason}."),
            E::ChecksumMismatch { filename, .. } => format!("`{filename}`: the bytes received do not match the declared X-Content-SHA256; nothing was stored."),
            other => other.to_string(),
        };
        let mut document = ProblemDocument::new(self.code(), detail);
        let mut ext = |k: &str, v: Value| {
            document.members.insert(k.into(), v);
        };
        match &self.0 {
            E::InvalidField { field, .. } => ext("field", json!(field)),
            E::InvalidChoice { field, allowed } => {
                ext("field", json!(field));
                ext("allowed", json!(allowed));
            }
            E::FileTooLarge {
                filename,
                limit_bytes,
            } => {
                ext("filename", json!(filename));
                ext("limit_bytes", json!(limit_bytes));
            }
            E::RequestTooLarge { limit_bytes } => ext("limit_bytes", json!(limit_bytes)),
            E::ExtensionNotAllowed { filename, allowed } => {
                ext("filename", json!(filename));
                ext("allowed", json!(allowed));
            }
            E::ContentMismatch { filename, detected } => {
                ext("filename", json!(filename));
                ext("detected", json!(detected));
            }
            E::ArchiveRejected { filename, reason } | E::ImageRejected { filename, reason } => {
                ext("filename", json!(filename));
                ext("reason", json!(reason));
            }
            E::DicomNeedsImagingReview {
                filename,
                in_archive,
                allowed,
            } => {
                ext("filename", json!(filename));
                if *in_archive {
                    ext(
                        "reason",
                        json!("DICOM needs the records_and_images_review service"),
                    );
                } else {
                    ext("allowed", json!(allowed));
                }
                ext("requires_service", json!("records_and_images_review"));
            }
            E::TooManyImages { limit } => ext("limit", json!(limit)),
            E::Conflict { reason, .. } => ext("reason", json!(reason)),
            E::ChecksumMismatch {
                filename,
                declared,
                actual,
            } => {
                ext("filename", json!(filename));
                ext("declared_sha256", json!(declared));
                ext("sha256", json!(actual));
            }
            E::NotPreviewable { reason } => ext("reason", json!(reason)),
            E::IdempotencyConflict {
                case_id: Some(case_id),
            } => ext("case_id", json!(case_id)),
            E::InvalidTransition { status, allowed } => {
                // `status` is RFC 9457's (the HTTP status); the case's is `case_status`.
                ext("case_status", json!(status));
                ext("allowed", json!(allowed));
            }
            E::TooManyFiles { field, limit } => {
                ext("field", json!(field));
                ext("limit", json!(limit));
            }
            _ => {}
        }
        document
    }

    /// `Retry-After`, for the errors that carry one.
    fn retry_after_seconds(&self) -> Option<u64> {
        match &self.0 {
            ServiceError::Unavailable {
                retry_after_seconds,
                ..
            }
            | ServiceError::RateLimited {
                retry_after_seconds,
            }
            | ServiceError::Conflict {
                retry_after_seconds: Some(retry_after_seconds),
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status())
            .expect("every ErrorCode's status is a valid HTTP status")
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            ServiceError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            ServiceError::Unavailable { reason, .. } => {
                tracing::warn!(reason = %reason, "unavailable");
            }
            other => tracing::info!(code = %self.code(), "request refused: {}", short(other)),
        }
        self.document().into_response(self.retry_after_seconds())
    }
}

/// The error without the file names or field values it may carry (for logs).
fn short(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::InvalidField { .. } | ServiceError::InvalidChoice { .. } => {
            "a field is invalid"
        }
        ServiceError::FileTooLarge { .. } => "a file is too large",
        ServiceError::ExtensionNotAllowed { .. } => "an extension is not allowed",
        ServiceError::ContentMismatch { .. } => "content does not match",
        ServiceError::ArchiveRejected { .. } => "an archive was rejected",
        ServiceError::ImageRejected { .. } => "an image was rejected",
        ServiceError::DicomNeedsImagingReview { .. } => "DICOM sent without the imaging tier",
        ServiceError::ChecksumMismatch { .. } => "a checksum did not match",
        _ => "see code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_error_has_a_documented_code() {
        let errors = [
            ServiceError::TermsNotAccepted,
            ServiceError::ImagesRequired,
            ServiceError::NotFound,
            ServiceError::Unauthorized,
            ServiceError::Integrity,
            ServiceError::UnsupportedMediaType,
            ServiceError::Malformed("x".into()),
            ServiceError::RequestTooLarge { limit_bytes: 1 },
            ServiceError::RequestTimeout { idle_seconds: 1 },
        ];
        for e in errors {
            let api = ApiError(e);
            assert_eq!(api.status_code().as_u16(), api.code().status());
        }
    }

    #[test]
    fn what_reaches_the_logs_names_the_code_and_no_file() {
        let marker = "Jane_Doe_HIV_positive_result.exe";
        for e in [
            ServiceError::ExtensionNotAllowed {
                filename: marker.into(),
                allowed: vec![".pdf".into()],
            },
            ServiceError::ArchiveRejected {
                filename: "x.zip".into(),
                reason: format!("member `{marker}` is not allowed"),
            },
            ServiceError::InvalidField {
                field: "X-Filename".into(),
                message: marker.into(),
            },
            ServiceError::Malformed(marker.into()),
        ] {
            let api = ApiError(e);
            let logged = format!("{api:?} {api}");
            assert!(!logged.contains("Jane_Doe"), "{logged}");
            assert!(logged.contains(api.code().as_str()), "{logged}");
        }
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let api = ApiError(ServiceError::Internal("secret path /data/x".into()));
        let body = api.document().to_json().to_string();
        assert!(!body.contains("secret"), "{body}");
        assert_eq!(api.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
