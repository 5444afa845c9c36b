//! Operations endpoints: liveness, readiness, metrics (on its own listener: `server.metrics_bind`).

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::problem::ApiError;
use crate::services::{ServiceError, Services};

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Database and storage answer"),
        (status = 503, description = "unavailable: database or storage unreachable", body = super::problem::Problem),
    )
)]
pub async fn readyz(services: web::Data<Services>) -> Result<HttpResponse, ApiError> {
    let (db, storage) = tokio::join!(services.repo.ping(), services.blobs.check());
    if let Err(e) = db {
        return Err(ServiceError::Unavailable {
            reason: format!("database: {e}"),
            retry_after_seconds: 5,
        }
        .into());
    }
    if let Err(e) = storage {
        return Err(ServiceError::Unavailable {
            reason: format!("storage ({}): {e}", services.blobs.backend_name()),
            retry_after_seconds: 5,
        }
        .into());
    }
    Ok(HttpResponse::Ok().json(json!({
        "status": "ready",
        "database": "ok",
        "storage": services.blobs.backend_name(),
    })))
}

/// Prometheus text exposition. Served only on `server.metrics_bind`, so not in the public OpenAPI
/// document.
pub async fn metrics(services: web::Data<Services>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(services.metrics.render())
}
