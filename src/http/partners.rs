//! Partner routes (embassies, insurers), each behind a `Partner` API key: create a case with an
//! `Idempotency-Key`, put documents to the partner's own document ids (raw bodies, streamed within
//! the size limit and the upload budget), and read back their own cases. Rate-limited per key.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::guard::GuardContext;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use futures_util::StreamExt;

use super::json::{ClosedSets, Json};
use super::problem::ApiError;
use super::rate_limit::{FailedAuth, RateLimiter};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, ContactPreference, ServiceTier,
};
use crate::services::partners::{
    self, CaseCorrection, CorrectedCase, CreatedCase, DocumentUpload, KEY_PREFIX, NewCase,
    PartnerDocument, PartnerIdentity,
};
use crate::services::{ServiceError, Services, audit};

/// The bearer credential of a request, if any.
fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

/// Routes a request to the partner handler when it carries a partner key (`csk_…`), so that
/// `GET /api/v1/cases/{id}` serves administrators and partners alike.
pub fn has_partner_key(ctx: &GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim_start().starts_with(KEY_PREFIX))
}

/// An authenticated partner key: a handler that takes one cannot run without it.
pub struct Partner(pub PartnerIdentity);

impl FromRequest for Partner {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = bearer(req);
        let services = req.app_data::<web::Data<Services>>().cloned();
        let limits = req.app_data::<web::Data<PartnerLimits>>().cloned();
        let case = req
            .match_info()
            .get("case_id")
            .and_then(|c| c.parse::<CaseId>().ok());
        let client = super::client_address(req);
        let failures = req.app_data::<web::Data<FailedAuth>>().cloned();
        Box::pin(async move {
            let services = services.ok_or(ServiceError::Internal("no state".into()))?;
            let address = client.clone().unwrap_or_default();
            if let Some(failures) = &failures {
                failures.admit(&address)?;
            }
            let authenticated = match key {
                Some(key) => partners::authenticate(services.repo.as_ref(), &key).await,
                None => Err(ServiceError::Unauthorized),
            };
            let partner = match authenticated {
                Ok(partner) => partner,
                Err(e) => {
                    if matches!(e, ServiceError::Unauthorized) {
                        if let Some(failures) = &failures {
                            failures.failed(&address);
                        }
                        if case.is_some() {
                            let mut event = AuditEvent::new(
                                AuditActor::System,
                                AuditAction::AccessDenied,
                                AuditOutcome::Denied,
                            )
                            .client(client);
                            event.case_id = case;
                            audit::record_denial(&services, event).await;
                        }
                    }
                    return Err(e.into());
                }
            };
            if let Some(limits) = limits {
                limits.per_key.check(&partner.name)?;
            }
            Ok(Partner(partner))
        })
    }
}

/// Requests per partner key.
pub struct PartnerLimits {
    per_key: RateLimiter,
}

impl PartnerLimits {
    pub fn new(services: &Services) -> Self {
        let p = &services.settings.partners;
        Self {
            per_key: RateLimiter::new("partner-key", p.requests_burst, p.requests_per_minute),
        }
    }
}

impl ClosedSets for NewCase {
    fn allowed(field: &str) -> Option<&'static [&'static str]> {
        match field {
            "service" => Some(ServiceTier::NAMES),
            "contact_preference" => Some(ContactPreference::NAMES),
            "sponsor" => Some(&["embassy", "insurer"]),
            _ => None,
        }
    }
}

impl ClosedSets for CaseCorrection {
    fn allowed(field: &str) -> Option<&'static [&'static str]> {
        NewCase::allowed(field)
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/cases",
    tag = "partners",
    request_body = NewCase,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body returns the same case (200); a different body is `idempotency-conflict`")),
    security(("partner_key" = [])),
    responses(
        (status = 201, description = "Created", body = CreatedCase),
        (status = 200, description = "Created before with this Idempotency-Key and body", body = CreatedCase),
        (status = 400, description = "malformed-request: the body is not JSON (or not an object)", body = super::problem::Problem),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 413, description = "request-too-large", body = super::problem::Problem),
        (status = 415, description = "unsupported-media-type: not application/json", body = super::problem::Problem),
        (status = 409, description = "conflict: a create with this key is in progress (Retry-After)", body = super::problem::Problem),
        (status = 422, description = "invalid-field, idempotency-conflict (`case_id`: the case this key created; PATCH corrects its contact details)", body = super::problem::Problem),
        (status = 429, description = "rate-limited (Retry-After): requests per key or cases per day", body = super::problem::Problem),
    )
)]
pub async fn create_case(
    req: HttpRequest,
    partner: Partner,
    body: Json<NewCase>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| ServiceError::InvalidField {
                    field: "Idempotency-Key".into(),
                    message: "1-255 visible ASCII characters".into(),
                })
        })
        .transpose()?;
    let (created, new) = partners::create_case(
        &services,
        &partner.0,
        &body,
        key.as_deref(),
        super::client_address(&req),
    )
    .await?;
    let mut response = if new {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((
            header::LOCATION,
            format!("/api/v1/cases/{}", created.case_id),
        ))
        .json(created))
}

fn text_header(req: &HttpRequest, name: &str) -> Result<Option<String>, ServiceError> {
    req.headers()
        .get(name)
        .map(|v| {
            v.to_str()
                .map(|s| s.trim().to_owned())
                .map_err(|_| ServiceError::InvalidField {
                    field: name.to_owned(),
                    message: "not visible ASCII (percent-encode the file name)".into(),
                })
        })
        .transpose()
}

/// `X-Filename` is percent-encoded UTF-8 (plain ASCII names need no encoding).
fn percent_decode(raw: &str) -> Result<String, ServiceError> {
    let bad = || ServiceError::InvalidField {
        field: "X-Filename".into(),
        message: "not valid percent-encoded UTF-8".into(),
    };
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or_else(bad)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[utoipa::path(
    put,
    path = "/api/v1/cases/{case_id}/documents/{client_document_id}",
    tag = "partners",
    params(
        ("case_id" = String, Path, description = "The case id, or its reference (`SMO-…`)"),
        ("client_document_id" = String, Path, description = "The partner's own id for the document: 1-128 of letters, digits, . _ - :"),
        ("X-Filename" = String, Header, description = "The file name (percent-encoded UTF-8); its extension decides the rules"),
        ("X-Category" = String, Header, description = "report, image or guarantee_letter"),
        ("X-Content-SHA256" = Option<String>, Header, description = "Hex SHA-256 of the body; a mismatch is checksum-mismatch and nothing is stored"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    security(("partner_key" = [])),
    responses(
        (status = 201, description = "Stored", body = PartnerDocument),
        (status = 200, description = "The same bytes were already stored under this id", body = PartnerDocument),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 403, description = "forbidden: another organisation's case", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
        (status = 409, description = "conflict: different bytes under this id, or an upload to it in progress (Retry-After)", body = super::problem::Problem),
        (status = 413, description = "file-too-large", body = super::problem::Problem),
        (status = 415, description = "extension-not-allowed, content-mismatch, unsupported-media-type", body = super::problem::Problem),
        (status = 422, description = "invalid-field, checksum-mismatch, archive-rejected, image-rejected, too-many-images, too-many-files", body = super::problem::Problem),
        (status = 429, description = "rate-limited", body = super::problem::Problem),
        (status = 408, description = "request-timeout: nothing of the body arrived for intake.body_idle_timeout_seconds", body = super::problem::Problem),
        (status = 503, description = "unavailable: upload budget full (Retry-After)", body = super::problem::Problem),
    )
)]
pub async fn put_document(
    req: HttpRequest,
    partner: Partner,
    path: web::Path<(String, String)>,
    mut payload: web::Payload,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let (case_raw, client_document_id) = path.into_inner();
    let case = partners::resolve_case(&services, &case_raw).await?;
    let client = super::client_address(&req);
    // Another organisation's case is refused before anything else is looked at.
    partners::authorize_case(&services, &partner.0, case, client.clone()).await?;
    // A raw body: a multipart form here is a client's mistake (its framing would be stored).
    let content_type = text_header(&req, "content-type")?.unwrap_or_default();
    let lowered = content_type.to_ascii_lowercase();
    if lowered.starts_with("multipart/") {
        return Err(ServiceError::UnsupportedMediaType.into());
    }
    let filename = percent_decode(&text_header(&req, "x-filename")?.ok_or_else(|| {
        ServiceError::InvalidField {
            field: "X-Filename".into(),
            message: "required".into(),
        }
    })?)?;
    let category = text_header(&req, "x-category")?.ok_or_else(|| ServiceError::InvalidField {
        field: "X-Category".into(),
        message: "required".into(),
    })?;
    let declared = text_header(&req, "x-content-sha256")?.filter(|s| !s.is_empty());
    partners::check_upload_headers(
        &client_document_id,
        &filename,
        &category,
        declared.as_deref(),
    )?;

    let limit = partners::quotas(&services, &partner.0.organisation).max_file_bytes;
    let declared_length = super::content_length(&req);
    if declared_length.is_some_and(|len| len > limit) {
        return Err(ServiceError::FileTooLarge {
            filename,
            limit_bytes: limit,
        }
        .into());
    }
    // The body is held as it arrives (the upload budget reserved byte by byte, as for a patient's
    // upload: a slow body holds only what it has sent), and ends with 408 when it stalls.
    let budget_full = || ServiceError::Unavailable {
        reason: "upload budget full".into(),
        retry_after_seconds: 10,
    };
    let idle_seconds = services.settings.intake.body_idle_timeout_seconds;
    let mut held = services.upload_reservation(declared_length);
    let mut bytes = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(idle_seconds), payload.next())
            .await
            .map_err(|_| ServiceError::RequestTimeout { idle_seconds })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ServiceError::Malformed(e.to_string()))?;
        let len = (bytes.len() + chunk.len()) as u64;
        if len > limit {
            return Err(ServiceError::FileTooLarge {
                filename,
                limit_bytes: limit,
            }
            .into());
        }
        if !held.ensure(len).await {
            return Err(budget_full().into());
        }
        bytes.extend_from_slice(&chunk);
    }
    let upload = DocumentUpload {
        client_document_id,
        filename,
        category,
        declared_sha256: declared,
        bytes,
        held,
    };
    let (document, new) =
        partners::put_document(services.into_inner(), &partner.0, case, upload, client).await?;
    Ok(if new {
        HttpResponse::Created().json(document)
    } else {
        HttpResponse::Ok().json(document)
    })
}

/// `GET /api/v1/cases/{case_id}` with a partner key: the partner's own case, its status and its
/// documents by client document id (`PartnerCaseView`). Routed here by `has_partner_key`.
/// `{case_id}` is the case id or its reference.
pub async fn get_case(
    req: HttpRequest,
    partner: Partner,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id = partners::resolve_case(&services, &path).await?;
    let view = partners::get_case(&services, &partner.0, id, super::client_address(&req)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[utoipa::path(
    patch,
    path = "/api/v1/cases/{case_id}",
    tag = "partners",
    params(("case_id" = String, Path, description = "The case id, or its reference (`SMO-…`)")),
    request_body(content = CaseCorrection, content_type = "application/json", description = "A JSON merge patch (RFC 7396) of the details a partner may correct: `email`, `phone`, `contact_preference`, `sponsor_reference` (absent: unchanged; `null`: removed, or the default). The other fields of a new case may be sent only with the case's own values. The rules are those of a new case."),
    security(("partner_key" = [])),
    responses(
        (status = 200, description = "Corrected (`changed` names the fields changed; empty when nothing differed)", body = CorrectedCase),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 403, description = "forbidden: another organisation's case", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
        (status = 409, description = "invalid-transition: the case is past correction (`case_status`: its status; `allowed`: the statuses in which a correction is accepted)", body = super::problem::Problem),
        (status = 413, description = "request-too-large: a body over 1 MiB", body = super::problem::Problem),
        (status = 415, description = "unsupported-media-type: not application/json", body = super::problem::Problem),
        (status = 422, description = "invalid-field (`field`)", body = super::problem::Problem),
        (status = 429, description = "rate-limited", body = super::problem::Problem),
    )
)]
pub async fn correct_case(
    req: HttpRequest,
    partner: Partner,
    path: web::Path<String>,
    body: Json<CaseCorrection>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id = partners::resolve_case(&services, &path).await?;
    let corrected = partners::correct_case(
        &services,
        &partner.0,
        id,
        &body,
        super::client_address(&req),
    )
    .await?;
    Ok(HttpResponse::Ok().json(corrected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b.pdf").unwrap(), "a b.pdf");
        assert_eq!(percent_decode("%C3%A9.pdf").unwrap(), "é.pdf");
        assert!(percent_decode("%zz.pdf").is_err());
        assert!(percent_decode("%C3.pdf").is_err());
    }
}
