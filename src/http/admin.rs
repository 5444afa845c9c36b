//! Administrator routes. Each takes an `Admin`, so none can run without a valid bearer token.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use serde::Deserialize;
use utoipa::IntoParams;

use super::problem::ApiError;
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, CaseStatus, DocumentId,
};
use crate::services::cases::{AuditTrail, CaseList, CaseView};
use crate::services::{ServiceError, Services, admin, cases, documents};

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
        Box::pin(async move {
            let services = services.ok_or(ServiceError::Internal("no state".into()))?;
            let token = token.ok_or(ServiceError::Unauthorized)?;
            let name = admin::authenticate(services.repo.as_ref(), &token).await?;
            Ok(Admin { name })
        })
    }
}

/// Records a refused attempt to reach a case's data.
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
    if let Err(e) = services.repo.append_audit(&event).await {
        tracing::error!(error = %e, "could not audit a denied access");
    }
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
    if let Err(e) = admin {
        if matches!(e.0, ServiceError::Unauthorized) {
            audit_denied(&services, &req, id, None).await;
        }
        return Err(e);
    }
    let id = id.ok_or(ServiceError::NotFound)?;
    Ok(HttpResponse::Ok().json(cases::get(&services, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/cases/{case_id}/audit",
    tag = "admin",
    params(("case_id" = String, Path, description = "Case id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The case's audit events in order, and whether the chain verifies", body = AuditTrail),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
    )
)]
pub async fn case_audit(
    _admin: Admin,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id: CaseId = path.parse().map_err(|_| ServiceError::NotFound)?;
    Ok(HttpResponse::Ok().json(cases::audit_trail(&services, id).await?))
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
