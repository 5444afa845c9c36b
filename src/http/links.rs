//! Link routes: administrators issue, list and revoke links; recipients land, open (with a
//! passcode where one was set), read the case, download, and send documents or their opinion back.
//! Tokens appear only in paths; logs and metrics carry the route pattern (`/l/{token}`), never them.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::admin::{Admin, attachment_response};
use super::csrf;
use super::extract::{
    AnyScope, DownloadScope, LinkSession, OpinionScope, RequiredScope, UploadScope, ViewScope,
};
use super::json::{ClosedSets, Json};
use super::link_pages;
use super::middleware::prefers_html;
use super::preview_query::PreviewQuery;
use super::problem::ApiError;
use super::rate_limit::RateLimiter;
use super::requests::{receive_upload, request_fields};
use crate::domain::{CaseId, DocumentCategory, DocumentId, LinkId, LinkRole, LinkScope};
use crate::intake::Field;
use crate::services::cases::document_view;
use crate::services::links::{self, LinkRequest, LiveLink};
use crate::services::submit::Submission;
use crate::services::{ServiceError, Services, documents, previews};

pub const SESSION_COOKIE: &str = "consilium_link";

/// Rate limits on link routes. What can be done without a session (the landing page, opening,
/// passcode attempts, and any request without a live session) is limited tightly, per client
/// address and per link; an open session has its own, generous, budget (a radiologist scrolling a
/// 500-slice CT with prefetch must not meet it).
pub struct LinkLimits {
    client: RateLimiter,
    link: RateLimiter,
    session: RateLimiter,
}

impl LinkLimits {
    /// A request of an open session: one from the session's own budget.
    pub(super) fn session_check(&self, session: &str) -> Result<(), ServiceError> {
        self.session.check(session)
    }

    pub fn new(services: &Services) -> Self {
        let s = &services.settings.links;
        Self {
            client: RateLimiter::new("link-client", s.per_client_burst, s.per_client_per_minute),
            link: RateLimiter::new("link", s.per_link_burst, s.per_link_per_minute),
            session: RateLimiter::new("link-session", s.session_burst, s.session_per_minute),
        }
    }

    /// A request without a session: one from the client's bucket and one from the link's (when
    /// the token verified and so names one).
    pub(super) fn without_session(
        &self,
        req: &HttpRequest,
        link: Option<LinkId>,
    ) -> Result<(), ServiceError> {
        let client = super::client_address(req).unwrap_or_default();
        self.client.check(&client)?;
        match link {
            Some(link) => self.link.check(&link.to_string()),
            None => Ok(()),
        }
    }
}

/// Refuses a state-changing request that a browser sent from another site (the one origin check
/// of the service, shared with the form: `server.public_url`'s origin only).
pub(super) fn same_origin(req: &HttpRequest, services: &Services) -> Result<(), ServiceError> {
    if csrf::same_origin(req.headers(), &services.settings.server.public_url) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

impl ClosedSets for LinkRequest {
    fn allowed(field: &str) -> Option<&'static [&'static str]> {
        match field {
            "role" => Some(LinkRole::NAMES),
            "scopes" => Some(LinkScope::NAMES),
            _ => None,
        }
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
        (status = 400, description = "malformed-request: the body is not JSON (or not an object)", body = super::problem::Problem),
        (status = 401, description = "unauthorized", body = super::problem::Problem),
        (status = 404, description = "not-found", body = super::problem::Problem),
        (status = 413, description = "request-too-large", body = super::problem::Problem),
        (status = 415, description = "unsupported-media-type: not application/json", body = super::problem::Problem),
        (status = 422, description = "invalid-field with `field` (and `allowed` for `role` and `scopes`): a wrong value, a missing or unknown field, a lifetime over links.max_ttl_seconds", body = super::problem::Problem),
    )
)]
pub async fn create(
    req: HttpRequest,
    admin: Admin,
    path: web::Path<String>,
    body: Json<LinkRequest>,
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
    responses(
        (status = 200, description = "The case's links with uses, lock-out and revocation (audited as `links.listed`)", body = links::LinkList),
        (status = 404, description = "not-found", body = super::problem::Problem),
    )
)]
pub async fn list(
    req: HttpRequest,
    admin: Admin,
    path: web::Path<String>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path.parse().map_err(|_| ServiceError::NotFound)?;
    let links = links::list(&services, case, &admin.name, super::client_address(&req)).await?;
    Ok(HttpResponse::Ok().json(links::LinkList { links }))
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

/// The link of the path's token with its case, after the rate limits, for the landing page and
/// opening (which need no session). The token's MAC and any session (read with its link in one
/// query) are checked before the limits, so that a session spends its own budget (when
/// `counts_as_session`) and everything else the tight one.
async fn gate(
    req: &HttpRequest,
    services: &Services,
    limits: &LinkLimits,
    counts_as_session: bool,
) -> Result<LiveLink, ServiceError> {
    let token = req.match_info().get("token").unwrap_or_default();
    let Some(token) = links::verify_token(services, token) else {
        limits.without_session(req, None)?;
        return Err(ServiceError::NotFound);
    };
    let cookie = req.cookie(SESSION_COOKIE);
    let session =
        links::session_link(services, token.link(), cookie.as_ref().map(Cookie::value)).await?;
    let client = super::client_address(req);
    let Some((id, link)) = session else {
        limits.without_session(req, Some(token.link()))?;
        return links::resolve(services, &token, client).await;
    };
    if counts_as_session {
        limits.session.check(&id)?;
    } else {
        limits.without_session(req, Some(token.link()))?;
    }
    links::check_usable(services, &token, &link, client).await?;
    links::open_case(services, &token, link).await
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
    let live = gate(&req, &services, &limits, true).await?;
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
    // Opening (and every passcode attempt) spends the tight budget, session or not.
    let live = gate(&req, &services, &limits, false).await?;
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

/// `GET /l/{token}/case`: the case page, or its JSON summary, for every live session: the
/// documents (and the imaging viewer) with scope `view`; a link for sending documents or an
/// opinion back sees its own page without them (a page it is meant to see: nothing is denied, so
/// nothing is audited as denied). Each view is audited as `case.viewed` with the link as actor.
pub async fn case(
    req: HttpRequest,
    session: LinkSession<AnyScope>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let client = session.client.clone();
    let live = session.open_case(&services).await?;
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
    live.viewed(&services, client).await?;
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
    session: LinkSession<DownloadScope>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let document = path_document(&req)?;
    session.document(&services, document).await?;
    let download = documents::download(
        services.into_inner(),
        document,
        session.actor(),
        session.client,
    )
    .await?;
    Ok(attachment_response(download))
}

fn opinion_field(name: &str) -> Option<(Field, DocumentCategory)> {
    (name == "opinion").then_some((Field::Report, DocumentCategory::Opinion))
}

async fn upload<S: RequiredScope>(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
    session: LinkSession<S>,
) -> Result<HttpResponse, ApiError> {
    let client = session.client.clone();
    let live = session.open_case(&services).await?;
    let mut submission = Submission::for_case(
        services.clone().into_inner(),
        live.case.id,
        live.case_key.clone(),
        Some(live.case.service),
        live.actor(),
        client,
        services.upload_reservation(super::content_length(&req)),
    );
    let fields = if S::SCOPE == Some(LinkScope::Opinion) {
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
    session: LinkSession<UploadScope>,
) -> Result<HttpResponse, ApiError> {
    upload(req, payload, services, session).await
}

/// `POST /l/{token}/opinion`: the consultant's written opinion (scope `opinion`; report types).
pub async fn opinion(
    req: HttpRequest,
    payload: web::Payload,
    services: web::Data<Services>,
    session: LinkSession<OpinionScope>,
) -> Result<HttpResponse, ApiError> {
    upload(req, payload, services, session).await
}

/// `GET /l/{token}/documents/{document_id}/preview`: a rendered image (scope `view`).
///
/// A cached preview (`If-None-Match` naming its entity tag) costs two queries, the session with
/// its link and the document, and no key unwrap: the tag is the document's hash and the variant.
pub async fn preview(
    req: HttpRequest,
    session: LinkSession<ViewScope>,
    query: web::Query<PreviewQuery>,
    services: web::Data<Services>,
) -> Result<HttpResponse, ApiError> {
    let request = query.render_request()?;
    let document = path_document(&req)?;
    let doc = session.document(&services, document).await?;
    let watermarked_for = services
        .settings
        .previews
        .watermark
        .then_some(session.link.id);
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
    let client = session.client.clone();
    let live = session.open_case(&services).await?;
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
