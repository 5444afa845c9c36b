//! The HTTP surface: actix routes, role extractors, problem+json mapping, security headers, pages.

mod admin;
mod assets;
mod csrf;
mod form;
mod json;
mod link_pages;
mod links;
mod middleware;
mod openapi;
mod ops;
mod pages;
mod partners;
pub mod problem;
pub mod rate_limit;
mod receipt;
mod requests;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::services::{ServiceError, Services};
use problem::ApiError;

/// A bound, configured server: `build` binds and reports the port; `run_until_stopped` serves.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `settings.server.bind` (port 0 picks a free port).
    pub fn build(services: Arc<Services>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(services.settings.server.bind.as_str())?;
        Self::with_listener(services, listener)
    }

    pub fn with_listener(services: Arc<Services>, listener: TcpListener) -> std::io::Result<Self> {
        let port = listener.local_addr()?.port();
        let workers = services.settings.server.workers;
        let link_limits = web::Data::new(links::LinkLimits::new(&services));
        let partner_limits = web::Data::new(partners::PartnerLimits::new(&services));
        let form_guard = web::Data::new(csrf::FormGuard::new(&services));
        let data = web::Data::from(services);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
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
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn into_server(self) -> Server {
        self.server
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(form::request_form))
        .route("/terms", web::get().to(pages::terms_page))
        .route("/receipt", web::get().to(receipt::receipt))
        .route("/static/{name}", web::get().to(assets::serve))
        .route("/problems/{code}", web::get().to(pages::problem_page))
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
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

/// The client's address as the socket sees it (proxies' headers are not trusted).
pub(crate) fn client_address(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}
