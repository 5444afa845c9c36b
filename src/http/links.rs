//! Link routes: administrators issue, list and revoke links; recipients land, open (with a
//! passcode where one was set), read the case, download, and send documents or their opinion back.
//! Tokens appear only in paths; logs and metrics carry the route pattern (`/l/{token}`), never them.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::admin::{Admin, attachment_response};
use super::link_pages;
use super::middleware::prefers_html;
use super::problem::ApiError;
use super::rate_limit::RateLimiter;
use super::requests::{receive_upload, request_fields};
use crate::domain::{CaseId, DocumentCategory, DocumentId, LinkId, LinkScope};
use crate::imaging::{self, OutputFormat, Preset, RenderRequest};
use crate::intake::Field;
use crate::services::cases::document_view;
use crate::services::links::{self, LinkRequest, LiveLink};
use crate::services::submit::Submission;
use crate::services::{ServiceError, Services, documents, previews};

pub const SESSION_COOKIE: &str = "consilium_link";

/// Rate limits on link routes, per client address and per link.
pub struct LinkLimits {
    per_client: RateLimiter,
    per_link: RateLimiter,
}

impl LinkLimits {
    pub fn new(services: &Services) -> Self {
        let s = &services.settings.links;
        Self {
            per_client: RateLimiter::new(
                "link-client",
                s.per_client_burst,
                s.per_client_per_minute,
            ),
            per_link: RateLimiter::new("link", s.per_link_burst, s.per_link_per_minute),
        }
    }

    fn check(&self, req: &HttpRequest, token: &str) -> Result<(), ServiceError> {
        let client = super::client_address(req).unwrap_or_default();
        self.per_client.check(&client)?;
        // The signed part names the link; no need to verify it to count against it.
        self.per_link
            .check(token.split('.').next().unwrap_or(token))
    }
}

/// Refuses a state-changing request that a browser sent from another site. Pages are sent with
/// `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` even for same-origin
/// posts, so `Sec-Fetch-Site` decides when present and a `null` origin alone proves nothing.
fn same_origin(req: &HttpRequest, services: &Services) -> Result<(), ServiceError> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| !matches!(site, "same-origin" | "none")) {
        return Err(ServiceError::Forbidden);
    }
    let Some(origin) = header("origin").filter(|o| *o != "null") else {
        return Ok(());
    };
    let public = services.settings.server.public_url.trim_end_matches('/');
    let host = req.connection_info().host().to_owned();
    let ours = origin == public
        || origin == format!("http://{host}")
        || origin == format!("https://{host}");
    if ours {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

// ---- administrators -------------------------------------------------------------------------

#[utoipa::path(
    post,
    path = "/api/v1/cases/{case_id}/links",
    tag = "admin",
    params(("case_id" = String, Path, description = "Case id")),
    request_body = LinkRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Issued; a generated passcode is shown only here", body = links::IssuedLink),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
        (status = 422, description = "invalid-field (e.g. lifetime over links.max_ttl_seconds)", body = super::problem::Problem),
    )
)]
pub async fn create(
    req: HttpRequest,
    admin: Admin,
    path: web::Path<String>,
    body: web::Json<LinkRequest>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path.parse().map_err(|_| ServiceError::NotFound)?;
    let issued = links::issue(
        &services,
        case,
        &admin.name,
        body.into_inner(),
        super::client_address(&req),
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/cases/{case}/links")))
        .json(issued))
}

#[utoipa::path(
    get,
    path = "/api/v1/cases/{case_id}/links",
    tag = "admin",
    params(("case_id" = String, Path, description = "Case id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The case's links with uses, lock-out and revocation", body = [links::LinkView]))
)]
pub async fn list(
    _admin: Admin,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path.parse().map_err(|_| ServiceError::NotFound)?;
    Ok(HttpResponse::Ok().json(json!({ "links": links::list(&services, case).await? })))
}

#[utoipa::path(
    delete,
    path = "/api/v1/links/{link_id}",
    tag = "admin",
    params(("link_id" = String, Path, description = "Link id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked, at once; open sessions end"),
        (status = 404, description = "not-found", body = super::problem::Problem),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    admin: Admin,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let id: LinkId = path.parse().map_err(|_| ServiceError::NotFound)?;
    links::revoke(&services, id, &admin.name, super::client_address(&req)).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- recipients -----------------------------------------------------------------------------

/// Resolves the token in the path (after the rate limits).
async fn live_link(
    req: &HttpRequest,
    services: &Services,
    limits: &LinkLimits,
) -> Result<LiveLink, ServiceError> {
    let token = req.match_info().get("token").unwrap_or_default().to_owned();
    limits.check(req, &token)?;
    links::resolve(services, &token, super::client_address(req)).await
}

/// A live link with a session: the recipient opened it. Without a session, browsers are sent to
/// the landing page and API clients get `unauthorized`.
async fn session(
    req: &HttpRequest,
    services: &Services,
    limits: &LinkLimits,
) -> Result<Result<LiveLink, HttpResponse>, ServiceError> {
    let live = live_link(req, services, limits).await?;
    let cookie = req.cookie(SESSION_COOKIE);
    if links::session_valid(services, &live, cookie.as_ref().map(Cookie::value)).await? {
        return Ok(Ok(live));
    }
    if prefers_html(req.headers()) {
        return Ok(Err(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/l/{}", live.token)))
            .finish()));
    }
    Err(ServiceError::Unauthorized)
}

/// The `{document_id}` of the path; one that does not parse is as absent as one that does not exist.
fn path_document(req: &HttpRequest) -> Result<DocumentId, ServiceError> {
    req.match_info()
        .get("document_id")
        .and_then(|d| d.parse().ok())
        .ok_or(ServiceError::NotFound)
}

/// `GET /l/{token}`: who sent it, for whom, until when. Consumes nothing.
pub async fn landing(
    req: HttpRequest,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    let live = live_link(&req, &services, &limits).await?;
    if !links::has_uses_left(&live.link) {
        return Err(ServiceError::LinkUsedUp.into());
    }
    Ok(link_pages::landing(&live, None))
}

#[derive(Debug, Deserialize)]
pub struct OpenForm {
    passcode: Option<String>,
}

/// `POST /l/{token}/open`: takes one use, starts the session, goes to the case page.
pub async fn open(
    req: HttpRequest,
    form: web::Form<OpenForm>,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    same_origin(&req, &services)?;
    let live = live_link(&req, &services, &limits).await?;
    let session = match links::open(
        &services,
        &live,
        form.passcode.as_deref(),
        super::client_address(&req),
    )
    .await
    {
        Ok(session) => session,
        Err(ServiceError::InvalidField { .. }) if prefers_html(req.headers()) => {
            return Ok(link_pages::landing(
                &live,
                Some("That passcode is not right. Please check it and try again."),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let cookie = Cookie::build(SESSION_COOKIE, session.cookie_value)
        .path(format!("/l/{}", live.token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(services.settings.server.public_url.starts_with("https://"))
        .max_age(actix_web::cookie::time::Duration::seconds(
            session.max_age_seconds,
        ))
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, format!("/l/{}/case", live.token)))
        .finish())
}

/// `GET /l/{token}/case`: the case page, or its JSON summary.
pub async fn case(
    req: HttpRequest,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    let live = match session(&req, &services, &limits).await? {
        Ok(live) => live,
        Err(redirect) => return Ok(redirect),
    };
    live.require(&services, LinkScope::View, super::client_address(&req))
        .await
        .or_else(|e| {
            // A link for sending documents back only still sees its own page, without the documents.
            if live.allows(LinkScope::Upload) || live.allows(LinkScope::Opinion) {
                Ok(())
            } else {
                Err(e)
            }
        })?;
    let details = live.clinical_details()?;
    let (documents, studies) = if live.allows(LinkScope::View) {
        let records = services
            .repo
            .case_documents(live.case.id)
            .await
            .map_err(ServiceError::from)?;
        let documents = records
            .iter()
            .map(|d| document_view(&live.case_key, d))
            .collect::<Result<Vec<_>, _>>()?;
        let names = documents
            .iter()
            .map(|d| (d.id, d.filename.clone()))
            .collect();
        let studies = previews::studies(&live.case_key, &records, &names, details.is_some());
        (documents, studies)
    } else {
        (Vec::new(), Vec::new())
    };
    if prefers_html(req.headers()) {
        return Ok(link_pages::case(
            &live,
            details.as_ref(),
            &documents,
            &studies,
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "reference": live.case.reference.as_str(),
        "service": live.case.service,
        "status": live.case.status,
        "received_at": live.case.received_at,
        "recipient": live.recipient,
        "role": live.link.role,
        "scopes": live.link.scopes,
        "expires_at": live.link.expires_at,
        "patient": details.as_ref().map(|(name, condition)| json!({"full_name": name, "condition": condition})),
        "documents": documents,
        "studies": studies,
    })))
}

/// `GET /l/{token}/documents/{document_id}`: the original, as an attachment (scope `download`).
pub async fn download(
    req: HttpRequest,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    let live = match session(&req, &services, &limits).await? {
        Ok(live) => live,
        Err(redirect) => return Ok(redirect),
    };
    let client = super::client_address(&req);
    live.require(&services, LinkScope::Download, client.clone())
        .await?;
    let document = path_document(&req)?;
    live.document(&services, document).await?;
    let download =
        documents::download(services.into_inner(), document, live.actor(), client).await?;
    Ok(attachment_response(download))
}

fn opinion_field(name: &str) -> Option<(Field, DocumentCategory)> {
    (name == "opinion").then_some((Field::Report, DocumentCategory::Opinion))
}

async fn upload(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
    scope: LinkScope,
) -> Result<HttpResponse, ApiError> {
    same_origin(&req, &services)?;
    let live = match session(&req, &services, &limits).await? {
        Ok(live) => live,
        Err(redirect) => return Ok(redirect),
    };
    let client = super::client_address(&req);
    live.require(&services, scope, client.clone()).await?;
    let mut submission = Submission::for_case(
        services.clone().into_inner(),
        live.case.id,
        live.case_key.clone(),
        live.case.service,
        live.actor(),
        client,
    );
    let fields = if scope == LinkScope::Opinion {
        opinion_field
    } else {
        request_fields
    };
    let outcome = match receive_upload(&req, payload, &services, &mut submission, fields).await {
        Ok(()) => submission.commit_additions().await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(stored) => {
            if prefers_html(req.headers()) {
                return Ok(HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("/l/{}/case", live.token)))
                    .finish());
            }
            Ok(HttpResponse::Created().json(json!({ "documents": stored })))
        }
        Err(e) => {
            submission.abort().await;
            Err(e.into())
        }
    }
}

/// `POST /l/{token}/documents`: the patient or a partner adds documents (scope `upload`).
pub async fn add_documents(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    upload(req, payload, services, limits, LinkScope::Upload).await
}

/// `POST /l/{token}/opinion`: the consultant's written opinion (scope `opinion`; report types).
pub async fn opinion(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    upload(req, payload, services, limits, LinkScope::Opinion).await
}

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    size: Option<u32>,
    frame: Option<u32>,
    preset: Option<String>,
    wc: Option<f64>,
    ww: Option<f64>,
    format: Option<String>,
}

fn invalid(field: &str, message: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

impl PreviewQuery {
    fn render_request(&self) -> Result<RenderRequest, ServiceError> {
        let size = self.size.unwrap_or(512);
        if !(imaging::MIN_SIZE..=imaging::MAX_SIZE).contains(&size) {
            return Err(invalid("size", "between 64 and 2048"));
        }
        let preset = match self.preset.as_deref() {
            None => Preset::Auto,
            Some(p) => Preset::parse(p).ok_or_else(|| {
                invalid("preset", "auto, soft-tissue, lung, bone, brain or abdomen")
            })?,
        };
        let window = match (self.wc, self.ww) {
            (None, None) => None,
            (Some(c), Some(w)) if c.is_finite() && w.is_finite() && w >= 1.0 => Some((c, w)),
            _ => return Err(invalid("ww", "wc and ww go together; ww at least 1")),
        };
        let format = match self.format.as_deref() {
            None => OutputFormat::Png,
            Some(f) => OutputFormat::parse(f).ok_or_else(|| invalid("format", "png or jpeg"))?,
        };
        Ok(RenderRequest {
            size,
            frame: self.frame.unwrap_or(0),
            preset,
            window,
            format,
        })
    }
}

/// `GET /l/{token}/documents/{document_id}/preview`: a rendered image (scope `view`).
pub async fn preview(
    req: HttpRequest,
    query: web::Query<PreviewQuery>,
    services: web::Data<Services>,
    limits: web::Data<LinkLimits>,
) -> Result<HttpResponse, ApiError> {
    let live = match session(&req, &services, &limits).await? {
        Ok(live) => live,
        Err(redirect) => return Ok(redirect),
    };
    let client = super::client_address(&req);
    live.require(&services, LinkScope::View, client.clone())
        .await?;
    let request = query.render_request()?;
    let document = path_document(&req)?;
    let doc = live.document(&services, document).await?;
    let watermarked_for = services.settings.previews.watermark.then_some(live.link.id);
    let etag = previews::etag(&doc, &request, watermarked_for);
    let cache = "private, max-age=86400";
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish());
    }
    let preview = previews::preview(
        &services,
        &live.case,
        &live.case_key,
        &doc,
        request,
        previews::Viewer {
            actor: live.actor(),
            recipient: &live.recipient,
            client,
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(preview.media_type)
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .body(preview.bytes))
}
