//! The HTTP surface: actix routes, role extractors, problem+json mapping, security headers, pages.

mod admin;
mod assets;
pub mod client;
mod csrf;
mod extract;
mod form;
mod json;
mod link_pages;
mod links;
mod middleware;
mod openapi;
mod ops;
mod pages;
mod partners;
mod preview_query;
pub mod problem;
pub mod rate_limit;
mod receipt;
mod requests;

pub use requests::multipart_boundary_ok;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::services::{ServiceError, Services};
use problem::ApiError;

/// A bound, configured server: `build` binds and reports the port; `run_until_stopped` serves.
/// `/metrics` is served by a second server on `server.metrics_bind`, never on the public listener.
pub struct Application {
    port: u16,
    server: Server,
    metrics: Option<(u16, Server)>,
    services: Arc<Services>,
}

impl Application {
    /// Binds `settings.server.bind` (port 0 picks a free port).
    pub fn build(services: Arc<Services>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(services.settings.server.bind.as_str())?;
        Self::with_listener(services, listener)
    }

    /// Serves the public routes on `listener`, and `/metrics` on `server.metrics_bind` (bound here).
    pub fn with_listener(services: Arc<Services>, listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let workers = services.settings.server.workers;
        let metrics = match services
            .settings
            .metrics_addr()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?
        {
            Some(addr) => Some(metrics_server(&services, TcpListener::bind(addr)?)?),
            None => None,
        };
        let trusted = web::Data::new(client::TrustedProxies(
            services.settings.trusted_proxies().map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
            })?,
        ));
        let failed_auth = web::Data::new(rate_limit::FailedAuth::new(
            services.settings.server.failed_auth_burst,
            services.settings.server.failed_auth_per_minute,
        ));
        let link_limits = web::Data::new(links::LinkLimits::new(&services));
        let partner_limits = web::Data::new(partners::PartnerLimits::new(&services));
        let form_guard = web::Data::new(csrf::FormGuard::new(&services));
        spawn_denial_flusher(&services);
        let data = web::Data::from(Arc::clone(&services));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(trusted.clone())
                .app_data(failed_auth.clone())
                .app_data(form_guard.clone())
                .app_data(link_limits.clone())
                .app_data(partner_limits.clone())
                .app_data(
                    web::FormConfig::default()
                        .limit(64 * 1024)
                        .error_handler(|_, _| {
                            // Not the deserialiser's text: it quotes the client's values.
                            ApiError(ServiceError::Malformed(
                                "the form body could not be read".into(),
                            ))
                            .into()
                        }),
                )
                .app_data(
                    web::JsonConfig::default()
                        .limit(json::LIMIT_BYTES)
                        .error_handler(|e, _| ApiError(json::payload_error(&e)).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|_, _| ApiError(ServiceError::NotFound).into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|_, _| {
                    // Not the deserialiser's text: it quotes the client's values.
                    ApiError(ServiceError::InvalidField {
                        field: "query".into(),
                        message: "the query string is not valid for this address".into(),
                    })
                    .into()
                }))
                .wrap(actix_web::middleware::from_fn(
                    middleware::negotiate_and_measure,
                ))
                .wrap(TracingLogger::<middleware::RedactedRootSpan>::new())
                .configure(routes)
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .shutdown_timeout(30);
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            metrics,
            services,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on, when metrics are on.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.into_server().await
    }

    /// Stops the public server (the metrics server follows it).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Both servers as one future: it ends when the public server stops, after stopping the metrics
    /// server and writing the audit rows of refusals still being counted.
    pub fn into_server(self) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        let Self {
            server,
            metrics,
            services,
            ..
        } = self;
        async move {
            let metrics = metrics.map(|(_, metrics)| {
                let handle = metrics.handle();
                (handle, tokio::spawn(metrics))
            });
            let result = server.await;
            if let Some((handle, task)) = metrics {
                handle.stop(true).await;
                if let Ok(Err(e)) = task.await {
                    tracing::warn!(error = %e, "the metrics server ended with an error");
                }
            }
            crate::services::audit::flush_denials(&services, true).await;
            result
        }
    }
}

/// `/metrics` (and `/healthz`) alone, on their own listener: one worker, no signal handling of its
/// own (it stops with the public server).
fn metrics_server(
    services: &Arc<Services>,
    listener: TcpListener,
) -> std::io::Result<(u16, Server)> {
    let port = listener.local_addr()?.port();
    let data = web::Data::from(Arc::clone(services));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(ops::metrics))
            .route("/healthz", web::get().to(ops::healthz))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok((port, server))
}

/// Writes the audit rows of refusal windows as they close, while the service lives.
fn spawn_denial_flusher(services: &Arc<Services>) {
    let services = Arc::downgrade(services);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(services) = services.upgrade() else {
                break;
            };
            crate::services::audit::flush_denials(&services, false).await;
        }
    });
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(form::request_form))
        .route("/terms", web::get().to(pages::terms_page))
        .route("/receipt", web::get().to(receipt::receipt))
        .route("/static/{name}", web::get().to(assets::serve))
        .route("/problems/{code}", web::get().to(pages::problem_page))
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/api/openapi.json", web::get().to(openapi::document))
        .route("/api/v1/requests", web::post().to(requests::submit))
        // Partners: before the administrators' routes on the same paths (a `csk_` key picks them).
        .route("/api/v1/cases", web::post().to(partners::create_case))
        .route(
            "/api/v1/cases/{case_id}",
            web::get()
                .guard(actix_web::guard::fn_guard(partners::has_partner_key))
                .to(partners::get_case),
        )
        .route(
            "/api/v1/cases/{case_id}/documents/{client_document_id}",
            web::put().to(partners::put_document),
        )
        .route(
            "/api/v1/cases/{case_id}",
            web::patch().to(partners::correct_case),
        )
        .route("/api/v1/cases", web::get().to(admin::list_cases))
        .route("/api/v1/cases/{case_id}", web::get().to(admin::get_case))
        .route(
            "/api/v1/cases/{case_id}/audit",
            web::get().to(admin::case_audit),
        )
        .route(
            "/api/v1/documents/{document_id}/content",
            web::get().to(admin::document_content),
        )
        .route(
            "/api/v1/cases/{case_id}/links",
            web::post().to(links::create),
        )
        .route("/api/v1/cases/{case_id}/links", web::get().to(links::list))
        .route("/api/v1/links/{link_id}", web::delete().to(links::revoke))
        .route("/l/{token}", web::get().to(links::landing))
        .route("/l/{token}/open", web::post().to(links::open))
        .route("/l/{token}/case", web::get().to(links::case))
        .route("/l/{token}/documents", web::post().to(links::add_documents))
        .route(
            "/l/{token}/documents/{document_id}",
            web::get().to(links::download),
        )
        .route(
            "/l/{token}/documents/{document_id}/preview",
            web::get().to(links::preview),
        )
        .route("/l/{token}/opinion", web::post().to(links::opinion));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError(ServiceError::NotFound))
}

/// The client's address: the peer's, or behind a trusted proxy the one it forwards (`client`).
pub(crate) fn client_address(req: &HttpRequest) -> Option<String> {
    client::address(req).map(|ip| ip.to_string())
}

/// The body's declared `Content-Length`, when it is given and a number.
pub(crate) fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
