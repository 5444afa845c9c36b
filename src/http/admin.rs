//! Administrator routes. Each takes an `Admin`, so none can run without a valid bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::problem::ApiError;
use super::rate_limit::FailedAuth;
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, CaseStatus, DocumentId,
};
use crate::services::cases::{AuditTrail, CaseList, CaseView};
use crate::services::{ServiceError, Services, admin, audit, cases, documents};

/// An authenticated administrator (by token name).
pub struct Admin {
    pub name: String,
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let services = req.app_data::<web::Data<Services>>().cloned();
        let failures = req.app_data::<web::Data<FailedAuth>>().cloned();
        let client = super::client_address(req).unwrap_or_default();
        Box::pin(async move {
            let services = services.ok_or(ServiceError::Internal("no state".into()))?;
            if let Some(failures) = &failures {
                failures.admit(&client)?;
            }
            let authenticated = match token {
                Some(token) => admin::authenticate(services.repo.as_ref(), &token).await,
                None => Err(ServiceError::Unauthorized),
            };
            match authenticated {
                Ok(name) => Ok(Admin { name }),
                Err(e) => {
                    if let (ServiceError::Unauthorized, Some(failures)) = (&e, &failures) {
                        failures.failed(&client);
                    }
                    Err(e.into())
                }
            }
        })
    }
}

/// Records a refused attempt to reach a case's data (nothing for ids that do not exist; repeats
/// aggregated: `services::audit::record_denial`).
async fn audit_denied(
    services: &Services,
    req: &HttpRequest,
    case: Option<CaseId>,
    document: Option<DocumentId>,
) {
    let mut event = AuditEvent::new(
        AuditActor::System,
        AuditAction::AccessDenied,
        AuditOutcome::Denied,
    )
    .client(super::client_address(req));
    event.case_id = case;
    event.document_id = document;
    audit::record_denial(services, event).await;
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Only cases in this status.
    status: Option<String>,
    /// Page number, from 1.
    page: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/cases",
    tag = "admin",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cases, newest first", body = CaseList),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 429, description = "rate-limited: too many failed authentications from this client (Retry-After)", body = super::problem::Problem),
        (status = 422, description = "invalid-field: `status` is not a case status", body = super::problem::Problem),
    )
)]
pub async fn list_cases(
    _admin: Admin,
    query: web::Query<ListQuery>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            CaseStatus::parse(raw).ok_or_else(|| ServiceError::InvalidField {
                field: "status".into(),
                message: "not a case status".into(),
            })?,
        ),
    };
    let list = cases::list(&services, status, query.page.unwrap_or(1)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(
    get,
    path = "/api/v1/cases/{case_id}",
    tag = "admin",
    params(("case_id" = String, Path, description = "Case id")),
    security(("bearer" = []), ("partner_key" = [])),
    responses(
        (status = 200, description = "The case with decrypted fields (with a partner key: the partner's own case only, as `PartnerCaseView`)", body = CaseView),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 429, description = "rate-limited: too many failed authentications from this client (Retry-After)", body = super::problem::Problem),
        (status = 403, description = "forbidden: a partner key and another organisation's case", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
    )
)]
pub async fn get_case(
    req: HttpRequest,
    admin: Result<Admin, ApiError>,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id: Option<CaseId> = path.parse().ok();
    let admin = match admin {
        Ok(admin) => admin,
        Err(e) => {
            if matches!(e.0, ServiceError::Unauthorized) {
                audit_denied(&services, &req, id, None).await;
            }
            return Err(e);
        }
    };
    let id = id.ok_or(ServiceError::NotFound)?;
    let view = cases::get(&services, id).await?;
    // Reading a case's personal data is audited; no row, no data.
    let event = AuditEvent::new(
        AuditActor::Admin(admin.name),
        AuditAction::CaseViewed,
        AuditOutcome::Success,
    )
    .case(id)
    .client(super::client_address(&req));
    services
        .repo
        .append_audit(&event)
        .await
        .map_err(ServiceError::from)?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Events after this sequence number (the previous page's `next_after`); from the start by default.
    after: Option<i64>,
    /// Events per page: 1-1000, default 100.
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/cases/{case_id}/audit",
    tag = "admin",
    params(("case_id" = String, Path, description = "Case id"), AuditQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the case's audit events in order, whether the chain verifies, and `next_after` when more follow", body = AuditTrail),
        (status = 422, description = "invalid-field: `after` or `limit` out of range", body = super::problem::Problem),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 429, description = "rate-limited: too many failed authentications from this client (Retry-After)", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
    )
)]
pub async fn case_audit(
    _admin: Admin,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path.parse().map_err(|_| ServiceError::NotFound)?;
    let limit = query.limit.unwrap_or(cases::AUDIT_PAGE_DEFAULT);
    if !(1..=cases::AUDIT_PAGE_MAX).contains(&limit) {
        return Err(ServiceError::InvalidField {
            field: "limit".into(),
            message: format!("must be 1 to {}", cases::AUDIT_PAGE_MAX),
        }
        .into());
    }
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ServiceError::InvalidField {
            field: "after".into(),
            message: "must not be negative".into(),
        }
        .into());
    }
    Ok(HttpResponse::Ok().json(cases::audit_trail(&services, id, after, limit).await?))
}

/// `filename*` (RFC 6266/5987) with an ASCII fallback: a safe `Content-Disposition`.
pub fn attachment_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            encoded.push(char::from(*b));
        } else {
            encoded.push('%');
            encoded.push_str(&hex::encode_upper([*b]));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[utoipa::path(
    get,
    path = "/api/v1/documents/{document_id}/content",
    tag = "admin",
    params(("document_id" = String, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The original bytes, as an attachment", content_type = "application/octet-stream"),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 429, description = "rate-limited: too many failed authentications from this client (Retry-After)", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
        (status = 500, description = "integrity-error: the stored blob failed to verify; nothing was sent", body = super::problem::Problem),
    )
)]
pub async fn document_content(
    req: HttpRequest,
    admin: Result<Admin, ApiError>,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id: Option<DocumentId> = path.parse().ok();
    let admin = match admin {
        Ok(admin) => admin,
        Err(e) => {
            if matches!(e.0, ServiceError::Unauthorized) {
                audit_denied(&services, &req, None, id).await;
            }
            return Err(e);
        }
    };
    let id = id.ok_or(ServiceError::NotFound)?;
    let download = documents::download(
        services.into_inner(),
        id,
        AuditActor::Admin(admin.name),
        super::client_address(&req),
    )
    .await?;
    Ok(attachment_response(download))
}

/// A decrypted document as a download: always an attachment of an opaque type, so nothing a patient
/// uploaded (HTML, SVG, …) is ever rendered by a browser on our origin.
pub fn attachment_response(download: documents::Download) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .no_chunking(download.size)
        .insert_header((
            header::CONTENT_DISPOSITION,
            attachment_disposition(&download.filename),
        ))
        .streaming(download.body)
}
