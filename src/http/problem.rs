//! Every error as `application/problem+json` (RFC 9457), mapped from `ServiceError` in this one place.
//! The stable `code` strings of API.md live here. 5xx bodies carry no internal detail; the cause
//! goes to the log with the request id.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::services::ServiceError;

/// A problem code with its status, title and the plain words a patient reads on its page.
pub struct ProblemKind {
    pub code: &'static str,
    pub status: u16,
    pub title: &'static str,
    pub explanation: &'static str,
}

/// Every problem code of API.md.
pub const PROBLEMS: &[ProblemKind] = &[
    ProblemKind {
        code: "malformed-request",
        status: 400,
        title: "The request could not be read",
        explanation: "What was sent could not be understood. Please try again; if it keeps happening, contact us.",
    },
    ProblemKind {
        code: "unauthorized",
        status: 401,
        title: "Sign-in required",
        explanation: "The key or token was missing or not recognised.",
    },
    ProblemKind {
        code: "forbidden",
        status: 403,
        title: "Not allowed",
        explanation: "You are signed in, but this action is not allowed for you.",
    },
    ProblemKind {
        code: "not-found",
        status: 404,
        title: "Not found",
        explanation: "There is nothing here. Check the address or link you were given.",
    },
    ProblemKind {
        code: "link-expired",
        status: 410,
        title: "This link has expired",
        explanation: "Ask the person who sent it for a new link.",
    },
    ProblemKind {
        code: "link-revoked",
        status: 410,
        title: "This link has been withdrawn",
        explanation: "Ask the person who sent it for a new link.",
    },
    ProblemKind {
        code: "link-used-up",
        status: 410,
        title: "This link has been used up",
        explanation: "Ask the person who sent it for a new link.",
    },
    ProblemKind {
        code: "idempotency-conflict",
        status: 422,
        title: "Idempotency key reused",
        explanation: "This Idempotency-Key was already used with a different request body.",
    },
    ProblemKind {
        code: "conflict",
        status: 409,
        title: "Conflict",
        explanation: "The same request is still in progress, or the document already holds different content.",
    },
    ProblemKind {
        code: "file-too-large",
        status: 413,
        title: "A file is too large",
        explanation: "Each file must be under 8 MB. Please make the file smaller (for example, a lower-resolution photo or a PDF split in two) and try again.",
    },
    ProblemKind {
        code: "request-timeout",
        status: 408,
        title: "The upload stalled",
        explanation: "Nothing arrived for a while, so the upload was stopped and nothing was kept. Please check your connection and send it again.",
    },
    ProblemKind {
        code: "request-too-large",
        status: 413,
        title: "The request is too large",
        explanation: "Together the files are more than we can accept at once. Please send fewer files.",
    },
    ProblemKind {
        code: "extension-not-allowed",
        status: 415,
        title: "This kind of file is not accepted here",
        explanation: "Reports may be PDF, Word, PowerPoint, OpenDocument, text, RTF, HTML, images or zip; images may be JPEG, PNG, GIF or zip (and DICOM for the images review).",
    },
    ProblemKind {
        code: "content-mismatch",
        status: 415,
        title: "A file is not what its name says",
        explanation: "The file's contents do not match its type (for example, a file named .pdf that is not a PDF), or it is an Office file containing macros. Please save it again as a plain document and retry.",
    },
    ProblemKind {
        code: "unsupported-media-type",
        status: 415,
        title: "Unsupported request type",
        explanation: "This address does not accept that kind of request body.",
    },
    ProblemKind {
        code: "invalid-field",
        status: 422,
        title: "Please check your answers",
        explanation: "One of the answers is missing or not valid.",
    },
    ProblemKind {
        code: "terms-not-accepted",
        status: 422,
        title: "Please accept the terms",
        explanation: "We can only accept your request once you have read and accepted the terms.",
    },
    ProblemKind {
        code: "too-many-images",
        status: 422,
        title: "Too many images",
        explanation: "Please send at most three image uploads. Several images can go in one zip file.",
    },
    ProblemKind {
        code: "too-many-files",
        status: 422,
        title: "Too many files",
        explanation: "Please send fewer files, or put several in one zip file.",
    },
    ProblemKind {
        code: "images-required",
        status: 422,
        title: "Images are needed for this service",
        explanation: "The Records and Images Review needs at least one image or image archive.",
    },
    ProblemKind {
        code: "archive-rejected",
        status: 422,
        title: "A zip file could not be accepted",
        explanation: "The zip file breaks one of our safety rules (for example, it contains a kind of file we do not accept, is encrypted, or is far larger unpacked than packed).",
    },
    ProblemKind {
        code: "image-rejected",
        status: 422,
        title: "An image could not be accepted",
        explanation: "The image could not be read, or it is larger than we can process.",
    },
    ProblemKind {
        code: "checksum-mismatch",
        status: 422,
        title: "Checksum mismatch",
        explanation: "The file's bytes do not match the SHA-256 that was declared for them.",
    },
    ProblemKind {
        code: "not-previewable",
        status: 422,
        title: "No preview available",
        explanation: "This document has no image that can be shown as a preview.",
    },
    ProblemKind {
        code: "rate-limited",
        status: 429,
        title: "Too many requests",
        explanation: "Please wait a moment and try again.",
    },
    ProblemKind {
        code: "integrity-error",
        status: 500,
        title: "A stored file could not be verified",
        explanation: "The file failed its integrity check and was not sent. The incident has been recorded; please contact us.",
    },
    ProblemKind {
        code: "internal-error",
        status: 500,
        title: "Something went wrong",
        explanation: "Something went wrong on our side. Nothing you sent was kept; please try again later.",
    },
    ProblemKind {
        code: "unavailable",
        status: 503,
        title: "Temporarily unavailable",
        explanation: "The service is busy or briefly unavailable. Please try again in a few moments.",
    },
    ProblemKind {
        code: "invalid-transition",
        status: 409,
        title: "Not possible at this stage",
        explanation: "The case has moved past the stage where this can be done.",
    },
];

pub fn kind(code: &str) -> Option<&'static ProblemKind> {
    PROBLEMS.iter().find(|p| p.code == code)
}

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

/// Marks a response with the problem code it carries (read by the metrics middleware).
#[derive(Clone, Copy, Debug)]
pub struct ProblemCode(pub &'static str);

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
        f.write_str(self.code())
    }
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        use ServiceError as E;
        match &self.0 {
            E::InvalidField { .. } | E::InvalidChoice { .. } => "invalid-field",
            E::TermsNotAccepted => "terms-not-accepted",
            E::TooManyImages { .. } => "too-many-images",
            E::TooManyFiles { .. } => "too-many-files",
            E::ImagesRequired => "images-required",
            E::FileTooLarge { .. } => "file-too-large",
            E::RequestTooLarge { .. } => "request-too-large",
            E::RequestTimeout { .. } => "request-timeout",
            // DICOM sent with a service that does not take it keeps the code of what was sent.
            E::ExtensionNotAllowed { .. }
            | E::DicomNeedsImagingReview {
                in_archive: false, ..
            } => "extension-not-allowed",
            E::ContentMismatch { .. } => "content-mismatch",
            E::ArchiveRejected { .. }
            | E::DicomNeedsImagingReview {
                in_archive: true, ..
            } => "archive-rejected",
            E::ImageRejected { .. } => "image-rejected",
            E::Malformed(_) => "malformed-request",
            E::UnsupportedMediaType => "unsupported-media-type",
            E::NotFound => "not-found",
            E::Unauthorized => "unauthorized",
            E::Integrity => "integrity-error",
            E::Unavailable { .. } => "unavailable",
            E::RateLimited { .. } => "rate-limited",
            E::Forbidden => "forbidden",
            E::NotPreviewable { .. } => "not-previewable",
            E::LinkExpired => "link-expired",
            E::LinkRevoked { .. } => "link-revoked",
            E::LinkUsedUp => "link-used-up",
            E::IdempotencyConflict { .. } => "idempotency-conflict",
            E::InvalidTransition { .. } => "invalid-transition",
            E::Conflict { .. } => "conflict",
            E::ChecksumMismatch { .. } => "checksum-mismatch",
            E::Internal(_) => "internal-error",
        }
    }

    /// The body: `type`, `title`, `status`, `detail`, `code` and the extension members that help.
    fn body(&self) -> Value {
        use ServiceError as E;
        let code = self.code();
        let (status, title) =
            kind(code).map_or((500, "Something went wrong"), |k| (k.status, k.title));
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
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("/problems/{code}")));
        body.insert("title".into(), json!(title));
        body.insert("status".into(), json!(status));
        body.insert("detail".into(), json!(detail));
        body.insert("code".into(), json!(code));
        let mut ext = |k: &str, v: Value| {
            body.insert(k.into(), v);
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
        Value::Object(body)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        kind(self.code())
            .and_then(|k| StatusCode::from_u16(k.status).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            ServiceError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            ServiceError::Unavailable { reason, .. } => {
                tracing::warn!(reason = %reason, "unavailable");
            }
            other => tracing::info!(code = self.code(), "request refused: {}", short(other)),
        }
        let mut response = HttpResponse::build(self.status_code())
            .content_type("application/problem+json")
            .body(self.body().to_string());
        if let ServiceError::Unavailable {
            retry_after_seconds,
            ..
        }
        | ServiceError::RateLimited {
            retry_after_seconds,
        }
        | ServiceError::Conflict {
            retry_after_seconds: Some(retry_after_seconds),
            ..
        } = &self.0
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        response.extensions_mut().insert(ProblemCode(self.code()));
        response
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
            assert!(kind(api.code()).is_some(), "{}", api.code());
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
            assert!(logged.contains(api.code()), "{logged}");
        }
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let api = ApiError(ServiceError::Internal("secret path /data/x".into()));
        let body = api.body().to_string();
        assert!(!body.contains("secret"), "{body}");
        assert_eq!(api.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
