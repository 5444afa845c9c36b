//! `POST /api/v1/requests`: a patient's request, read as a stream of multipart parts. Files are
//! refused as early as possible: a fourth image before any of its bytes are read, an oversized file
//! as soon as it crosses the limit (nothing more of it is read or buffered), a body over the cap as
//! soon as it crosses it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix_multipart::{Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt, TryStreamExt};

use super::middleware::prefers_html;
use super::pages;
use super::problem::ApiError;
use crate::domain::DocumentCategory;
use crate::intake::Field;
use crate::services::submit::{Receipt, Submission};
use crate::services::{ServiceError, Services};

/// Text fields are short; anything longer is refused rather than buffered.
const MAX_TEXT_FIELD_BYTES: usize = 64 * 1024;
/// Multipart framing and text fields, on top of the files.
const BODY_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// Which multipart parts are files, and what they become.
pub type UploadFields = fn(&str) -> Option<(Field, DocumentCategory)>;

/// The file fields of a patient's request (and of documents added through a link).
pub fn request_fields(name: &str) -> Option<(Field, DocumentCategory)> {
    match name {
        "report" => Some((Field::Report, DocumentCategory::Report)),
        "image" => Some((Field::Image, DocumentCategory::Image)),
        "guarantee_letter" => Some((Field::GuaranteeLetter, DocumentCategory::GuaranteeLetter)),
        _ => None,
    }
}

/// The most a whole request body may be: every allowed file at the limit, plus framing.
pub fn body_cap(services: &Services) -> u64 {
    let i = &services.settings.intake;
    let files = (i.max_images + i.max_reports + 1) as u64;
    files * i.max_file_bytes + BODY_OVERHEAD_BYTES
}

fn multipart_error(e: &MultipartError, over_cap: &AtomicBool, cap: u64) -> ServiceError {
    if over_cap.load(Ordering::Relaxed) {
        return ServiceError::RequestTooLarge { limit_bytes: cap };
    }
    match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => ServiceError::UnsupportedMediaType,
        other => ServiceError::Malformed(other.to_string()),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "patients",
    request_body(content_type = "multipart/form-data", description = "full_name, email, phone, contact_preference, service, condition, terms_accepted, sponsor, sponsor_reference; files: report (repeatable), image (repeatable), guarantee_letter"),
    responses(
        (status = 201, description = "Stored", body = Receipt),
        (status = 400, description = "malformed-request", body = super::problem::Problem),
        (status = 413, description = "file-too-large, request-too-large", body = super::problem::Problem),
        (status = 415, description = "extension-not-allowed, content-mismatch, unsupported-media-type", body = super::problem::Problem),
        (status = 422, description = "invalid-field, terms-not-accepted, too-many-images, too-many-files, images-required, archive-rejected, image-rejected", body = super::problem::Problem),
        (status = 503, description = "unavailable", body = super::problem::Problem),
    )
)]
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let mut submission =
        Submission::begin(services.clone().into_inner(), super::client_address(&req));
    let outcome =
        match receive_upload(&req, payload, &services, &mut submission, request_fields).await {
            Ok(fields) => submission.commit(&fields).await,
            Err(e) => Err(e),
        };
    let receipt = match outcome {
        Ok(receipt) => receipt,
        Err(e) => {
            submission.abort().await;
            return Err(e.into());
        }
    };
    tracing::info!(case_id = %receipt.case_id, documents = receipt.documents.len(), "request stored");
    if prefers_html(req.headers()) {
        return Ok(pages::receipt_page(&receipt));
    }
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/cases/{}", receipt.case_id),
        ))
        .json(receipt))
}

/// Reads a multipart upload within the body cap and the upload budget, feeding its files to
/// `submission`; returns the text fields. Shared by patient requests and link uploads.
pub async fn receive_upload(
    req: &HttpRequest,
    payload: web::Payload,
    services: &Services,
    submission: &mut Submission,
    upload_fields: UploadFields,
) -> Result<HashMap<String, String>, ServiceError> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return Err(ServiceError::UnsupportedMediaType);
    }
    let cap = body_cap(services);
    let declared: Option<u64> = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|len| len > cap) {
        return Err(ServiceError::RequestTooLarge { limit_bytes: cap });
    }

    // Room for one file and its sealed copy: files are stored one at a time.
    let max_file = services.settings.intake.max_file_bytes;
    let holds = declared.unwrap_or(max_file).min(max_file) * 2 + 64 * 1024;
    let Some(_reservation) = services.budget.reserve(holds).await else {
        return Err(ServiceError::Unavailable {
            reason: "upload budget full".into(),
            retry_after_seconds: 10,
        });
    };

    let over_cap = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(AtomicU64::new(0));
    let counted = {
        let over_cap = Arc::clone(&over_cap);
        payload.map(move |chunk| {
            let chunk = chunk?;
            if seen.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64 > cap {
                over_cap.store(true, Ordering::Relaxed);
                return Err(PayloadError::Overflow);
            }
            Ok(chunk)
        })
    };
    let multipart = Multipart::new(req.headers(), counted);
    receive(
        multipart,
        submission,
        upload_fields,
        services,
        &over_cap,
        cap,
    )
    .await
}

/// Reads every part: files are checked, sealed and stored as they arrive; text fields are returned.
async fn receive(
    mut multipart: Multipart,
    submission: &mut Submission,
    upload_fields: UploadFields,
    services: &Services,
    over_cap: &AtomicBool,
    cap: u64,
) -> Result<HashMap<String, String>, ServiceError> {
    let max_file = services.settings.intake.max_file_bytes;
    let mut fields: HashMap<String, String> = HashMap::new();
    while let Some(mut part) = multipart
        .try_next()
        .await
        .map_err(|e| multipart_error(&e, over_cap, cap))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        let filename = part
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        match (upload_fields(&name), filename) {
            (Some((field, category)), Some(filename)) => {
                let mut bytes = Vec::new();
                if filename.is_empty() {
                    // A file input left empty: browsers send the part with no name and no bytes.
                    while let Some(chunk) = part
                        .try_next()
                        .await
                        .map_err(|e| multipart_error(&e, over_cap, cap))?
                    {
                        if !chunk.is_empty() {
                            return Err(ServiceError::InvalidField {
                                field: name,
                                message: "a file needs a name".into(),
                            });
                        }
                    }
                    continue;
                }
                submission.claim_slot(field)?;
                while let Some(chunk) = part
                    .try_next()
                    .await
                    .map_err(|e| multipart_error(&e, over_cap, cap))?
                {
                    if (bytes.len() + chunk.len()) as u64 > max_file {
                        return Err(ServiceError::FileTooLarge {
                            filename,
                            limit_bytes: max_file,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                submission
                    .add_file(field, category, &filename, bytes)
                    .await?;
            }
            (Some(_), None) => {
                return Err(ServiceError::InvalidField {
                    field: name,
                    message: "must be a file".into(),
                });
            }
            (None, _) => {
                let mut value = Vec::new();
                while let Some(chunk) = part
                    .try_next()
                    .await
                    .map_err(|e| multipart_error(&e, over_cap, cap))?
                {
                    if value.len() + chunk.len() > MAX_TEXT_FIELD_BYTES {
                        return Err(ServiceError::InvalidField {
                            field: name,
                            message: "too long".into(),
                        });
                    }
                    value.extend_from_slice(&chunk);
                }
                let value = String::from_utf8(value).map_err(|_| ServiceError::InvalidField {
                    field: name.clone(),
                    message: "not valid UTF-8 text".into(),
                })?;
                if name == "service" {
                    submission.set_service_hint(&value);
                }
                fields.entry(name).or_insert(value);
            }
        }
    }
    Ok(fields)
}
