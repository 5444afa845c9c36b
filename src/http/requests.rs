//! `POST /api/v1/requests`: a patient's request, read as a stream of multipart parts. Files are
//! refused as early as possible: a fourth image before any of its bytes are read, an oversized file
//! as soon as it crosses the limit (nothing more of it is read or buffered), a body over the cap as
//! soon as it crosses it, a text field that is not the contract's at once, a body that stalls after
//! `intake.body_idle_timeout_seconds`. Memory is reserved from the upload budget as bytes arrive,
//! and one client address has at most `intake.max_uploads_per_client` uploads going at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix_multipart::{Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::{StreamExt, TryStreamExt};

use super::csrf::FormGuard;
use super::form::{self, Answers};
use super::middleware::prefers_html;
use super::pages;
use super::problem::ApiError;
use crate::domain::{DocumentCategory, patient};
use crate::intake::Field;
use crate::services::submit::{Receipt, Submission};
use crate::services::{ServiceError, Services};

/// Multipart framing and text fields, on top of the files.
const BODY_OVERHEAD_BYTES: u64 = 1024 * 1024;
/// The text fields of a patient's request (API.md); any other is refused.
pub const REQUEST_TEXT_FIELDS: &[&str] = &[
    "full_name",
    "email",
    "phone",
    "contact_preference",
    "service",
    "condition",
    "terms_accepted",
    "sponsor",
    "sponsor_reference",
];
/// The longest field name repeated back in a refusal.
const SHOWN_FIELD_NAME_CHARS: usize = 64;

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

/// Why the body stream ended early, when it was our doing.
#[derive(Default)]
struct BodyLimits {
    cap: u64,
    over_cap: AtomicBool,
    idle_seconds: u64,
    timed_out: AtomicBool,
}

fn multipart_error(e: &MultipartError, limits: &BodyLimits) -> ServiceError {
    if limits.over_cap.load(Ordering::Relaxed) {
        return ServiceError::RequestTooLarge {
            limit_bytes: limits.cap,
        };
    }
    if limits.timed_out.load(Ordering::Relaxed) {
        return ServiceError::RequestTimeout {
            idle_seconds: limits.idle_seconds,
        };
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
        (status = 403, description = "forbidden: a browser's post without the form's CSRF token, or from another site", body = super::problem::Problem),
        (status = 408, description = "request-timeout: nothing of the body arrived for intake.body_idle_timeout_seconds", body = super::problem::Problem),
        (status = 413, description = "file-too-large, request-too-large", body = super::problem::Problem),
        (status = 415, description = "extension-not-allowed, content-mismatch, unsupported-media-type", body = super::problem::Problem),
        (status = 422, description = "invalid-field, terms-not-accepted, too-many-images, too-many-files, images-required, archive-rejected, image-rejected", body = super::problem::Problem),
        (status = 429, description = "rate-limited (with Retry-After): submissions per address, or too many uploads from one address at once", body = super::problem::Problem),
        (status = 503, description = "unavailable", body = super::problem::Problem),
    )
)]
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
    guard: web::Data<FormGuard>,
) -> Result<HttpResponse, ApiError> {
    // A browser must have been sent by our form (CSRF); every client is rate-limited.
    let browser = match guard.check(&req) {
        Ok(browser) => browser,
        Err(refusal) => return Ok(refusal.response()),
    };
    guard.limit(&req)?;
    let mut submission = Submission::begin(
        services.clone().into_inner(),
        super::client_address(&req),
        services.upload_reservation(super::content_length(&req)),
    );
    let mut answers = Answers::default();
    let outcome = match receive_upload_into(
        &req,
        payload,
        &services,
        &mut submission,
        (request_fields, REQUEST_TEXT_FIELDS),
        &mut answers,
        browser,
    )
    .await
    {
        Ok(()) => submission.commit(&answers.fields).await,
        Err(e) => Err(e),
    };
    let receipt = match outcome {
        Ok(receipt) => receipt,
        Err(e) => {
            submission.abort().await;
            let answered = !answers.fields.is_empty() || !answers.files.is_empty();
            if browser && answered && prefers_html(req.headers()) {
                return Ok(refused_form(&req, &services, &guard, e, &answers));
            }
            return Err(e.into());
        }
    };
    tracing::info!(case_id = %receipt.case_id, documents = receipt.documents.len(), "request stored");
    // A browser can show its receipt again at /receipt (a reload, or a page closed by mistake).
    let kept =
        browser.then(|| super::receipt::cookie(&services, receipt.case_id, receipt.received_at));
    let mut response = if prefers_html(req.headers()) {
        let contact = answers.fields.get("contact_preference").map(String::as_str);
        let mut page = pages::receipt_page(&receipt, &services.settings, contact);
        if kept.is_some() {
            // Reloading then shows /receipt instead of posting the files again.
            page.headers_mut().insert(
                header::HeaderName::from_static("refresh"),
                header::HeaderValue::from_static("0; url=/receipt"),
            );
        }
        page
    } else {
        HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/api/v1/cases/{}", receipt.case_id),
            ))
            .json(receipt)
    };
    if let Some(cookie) = kept {
        let _ = response.add_cookie(&cookie);
    }
    Ok(response)
}

/// A refusal of a form posted without script: the form again, answers kept, the refusal beside
/// the field or file it concerns (same status and headers as the problem).
fn refused_form(
    req: &HttpRequest,
    services: &Services,
    guard: &FormGuard,
    error: ServiceError,
    answers: &Answers,
) -> HttpResponse {
    let error = ApiError(error);
    services.metrics.rejection(error.code());
    let response = error.error_response();
    let problem = error.document();
    form::refused_page(
        req,
        services,
        guard,
        response.status(),
        response.headers(),
        &problem,
        answers,
    )
}

/// Reads a multipart upload of files only (documents added through a link) within the body cap
/// and the upload budget, feeding its files to `submission`.
pub async fn receive_upload(
    req: &HttpRequest,
    payload: web::Payload,
    services: &Services,
    submission: &mut Submission,
    upload_fields: UploadFields,
) -> Result<(), ServiceError> {
    let mut answers = Answers::default();
    receive_upload_into(
        req,
        payload,
        services,
        submission,
        (upload_fields, &[]),
        &mut answers,
        false,
    )
    .await
}

/// `receive_upload`, with the text fields `form.1` allowed (kept in `answers` with the names of
/// the files, even when it fails). With `drain` (a browser), a refused body is read to its end
/// (within the cap, discarding files): a browser shows the answer only once it has sent
/// everything, and the rest of the answers come back.
async fn receive_upload_into(
    req: &HttpRequest,
    payload: web::Payload,
    services: &Services,
    submission: &mut Submission,
    form: (UploadFields, &[&str]),
    answers: &mut Answers,
    drain: bool,
) -> Result<(), ServiceError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type
        .trim()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(ServiceError::UnsupportedMediaType);
    }
    if !multipart_boundary_ok(content_type) {
        return Err(ServiceError::Malformed(
            "the multipart boundary must be 4 to 70 characters".into(),
        ));
    }
    let intake = &services.settings.intake;
    let limits = Arc::new(BodyLimits {
        cap: body_cap(services),
        idle_seconds: intake.body_idle_timeout_seconds,
        ..BodyLimits::default()
    });
    let declared = super::content_length(req);
    if declared.is_some_and(|len| len > limits.cap) {
        return Err(ServiceError::RequestTooLarge {
            limit_bytes: limits.cap,
        });
    }
    let _slot = match super::client_address(req) {
        Some(client) => Some(services.client_uploads.enter(&client).ok_or(
            ServiceError::RateLimited {
                retry_after_seconds: 10,
            },
        )?),
        None => None,
    };

    let seen = Arc::new(AtomicU64::new(0));
    let counted = {
        let limits = Arc::clone(&limits);
        idle_limited(payload, Arc::clone(&limits)).map(move |chunk| {
            let chunk = chunk?;
            if seen.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64
                > limits.cap
            {
                limits.over_cap.store(true, Ordering::Relaxed);
                return Err(PayloadError::Overflow);
            }
            Ok(chunk)
        })
    };
    let mut multipart = Multipart::new(req.headers(), counted);
    let received = receive(&mut multipart, submission, form, services, &limits, answers).await;
    if received.is_err() && drain && !limits.timed_out.load(Ordering::Relaxed) {
        drain_answers(&mut multipart, form, intake.max_text_bytes, answers).await;
    }
    received
}

/// Whether a `multipart/form-data` content type names a boundary of 4 to 70 characters. RFC 2046
/// allows 1 to 70; actix-multipart 0.7 panics on some bodies with a boundary under 4 characters
/// (found by the `multipart` fuzz target), and no client sends one that short.
pub fn multipart_boundary_ok(content_type: &str) -> bool {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"'))
        .is_some_and(|boundary| (4..=70).contains(&boundary.len()))
}

/// The body, ended with an error (and `limits.timed_out` set) when nothing of it arrives for
/// `limits.idle_seconds`.
fn idle_limited(
    payload: web::Payload,
    limits: Arc<BodyLimits>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, PayloadError>> {
    let idle = Duration::from_secs(limits.idle_seconds);
    futures_util::stream::unfold(Some(payload), move |payload| {
        let limits = Arc::clone(&limits);
        async move {
            let mut payload = payload?;
            match tokio::time::timeout(idle, payload.next()).await {
                Ok(Some(item)) => Some((item, Some(payload))),
                Ok(None) => None,
                Err(_) => {
                    limits.timed_out.store(true, Ordering::Relaxed);
                    let stalled = std::io::Error::new(std::io::ErrorKind::TimedOut, "body idle");
                    Some((Err(PayloadError::Io(stalled)), None))
                }
            }
        }
    })
    // Multipart may poll again after the end: a fused stream keeps answering "ended".
    .fuse()
}

/// A field name as it may be repeated back: printable, and short.
fn shown_field_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(SHOWN_FIELD_NAME_CHARS)
        .collect()
}

/// Reads every part: files are checked, sealed and stored as they arrive (the request's memory
/// reservation growing with each file's bytes); text fields (and the names of the files) go to
/// `answers`. Only the fields `form` names are accepted, each text field once, all text fields
/// together within `intake.max_text_bytes`.
async fn receive(
    multipart: &mut Multipart,
    submission: &mut Submission,
    (upload_fields, text_fields): (UploadFields, &[&str]),
    services: &Services,
    limits: &BodyLimits,
    answers: &mut Answers,
) -> Result<(), ServiceError> {
    let max_file = services.settings.intake.max_file_bytes;
    let max_text = services.settings.intake.max_text_bytes;
    let mut text_bytes: u64 = 0;
    while let Some(mut part) = multipart
        .try_next()
        .await
        .map_err(|e| multipart_error(&e, limits))?
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
                        .map_err(|e| multipart_error(&e, limits))?
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
                answers.files.push((name.clone(), filename.clone()));
                submission.claim_slot(field)?;
                while let Some(chunk) = part
                    .try_next()
                    .await
                    .map_err(|e| multipart_error(&e, limits))?
                {
                    let held = (bytes.len() + chunk.len()) as u64;
                    if held > max_file {
                        return Err(ServiceError::FileTooLarge {
                            filename,
                            limit_bytes: max_file,
                        });
                    }
                    submission.hold(held).await?;
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
            (None, _) if !text_fields.contains(&name.as_str()) => {
                return Err(ServiceError::InvalidField {
                    field: shown_field_name(&name),
                    message: "not a field of this form".into(),
                });
            }
            (None, _) if answers.fields.contains_key(&name) => {
                return Err(ServiceError::InvalidField {
                    field: name,
                    message: "given more than once".into(),
                });
            }
            (None, _) => {
                let mut value = Vec::new();
                while let Some(chunk) = part
                    .try_next()
                    .await
                    .map_err(|e| multipart_error(&e, limits))?
                {
                    text_bytes += chunk.len() as u64;
                    if text_bytes > max_text {
                        return Err(ServiceError::InvalidField {
                            field: name,
                            message: format!(
                                "the answers together are longer than {max_text} bytes"
                            ),
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
                // Kept first, so that a refused form shows the answer as it was typed.
                let checked = patient::check_field(&name, &value);
                answers.fields.insert(name, value);
                checked?;
            }
        }
    }
    Ok(())
}

/// The rest of a refused body: the form's text answers kept (within `max_text` bytes), files
/// skipped (their names noted).
async fn drain_answers(
    multipart: &mut Multipart,
    (upload_fields, text_fields): (UploadFields, &[&str]),
    max_text: u64,
    answers: &mut Answers,
) {
    let mut text_bytes: u64 = answers.fields.values().map(|v| v.len() as u64).sum();
    while let Ok(Some(mut part)) = multipart.try_next().await {
        let name = part.name().unwrap_or_default().to_owned();
        let filename = part
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let keep_text = upload_fields(&name).is_none()
            && filename.is_none()
            && text_fields.contains(&name.as_str());
        if let Some(filename) = filename.filter(|f| !f.is_empty()) {
            answers.files.push((name.clone(), filename));
        }
        let mut value = Vec::new();
        while let Ok(Some(chunk)) = part.try_next().await {
            if keep_text && text_bytes + (value.len() + chunk.len()) as u64 <= max_text {
                value.extend_from_slice(&chunk);
            }
        }
        if keep_text && let Ok(value) = String::from_utf8(value) {
            text_bytes += value.len() as u64;
            answers.fields.entry(name).or_insert(value);
        }
    }
}
