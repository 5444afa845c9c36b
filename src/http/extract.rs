//! Extractors that load what a handler needs once per request: `LinkSession<Scope>` verifies the
//! link token, reads the session with its link (one query), applies the link rate limits, refuses
//! a link that cannot be used now and checks the scope, so that a `/l/…` handler is this extractor
//! plus one service call. The case, its key and the recipient are read only when the handler asks
//! ([`LinkSession::open_case`]): a cached preview (`304`) never unwraps a key.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};

use super::links::{LinkLimits, SESSION_COOKIE};
use super::middleware::prefers_html;
use super::problem::ApiError;
use crate::db::LinkRecord;
use crate::domain::{AuditActor, DocumentId, LinkScope};
use crate::services::links::{self, LiveLink, VerifiedToken};
use crate::services::{ServiceError, Services};

/// The scope a route needs (a type, so that a handler cannot run without its check).
pub trait RequiredScope {
    /// `None`: any live session (the case page shows each scope what it may see).
    const SCOPE: Option<LinkScope>;
}

/// Any live session.
pub struct AnyScope;
/// Scope `view`: documents and previews.
pub struct ViewScope;
/// Scope `download`: originals.
pub struct DownloadScope;
/// Scope `upload`: documents sent back.
pub struct UploadScope;
/// Scope `opinion`: the written opinion sent back.
pub struct OpinionScope;

impl RequiredScope for AnyScope {
    const SCOPE: Option<LinkScope> = None;
}
impl RequiredScope for ViewScope {
    const SCOPE: Option<LinkScope> = Some(LinkScope::View);
}
impl RequiredScope for DownloadScope {
    const SCOPE: Option<LinkScope> = Some(LinkScope::Download);
}
impl RequiredScope for UploadScope {
    const SCOPE: Option<LinkScope> = Some(LinkScope::Upload);
}
impl RequiredScope for OpinionScope {
    const SCOPE: Option<LinkScope> = Some(LinkScope::Opinion);
}

/// A live session of a usable link that has scope `S`.
pub struct LinkSession<S> {
    token: VerifiedToken,
    pub link: LinkRecord,
    pub client: Option<String>,
    scope: PhantomData<S>,
}

impl<S> LinkSession<S> {
    pub fn actor(&self) -> AuditActor {
        AuditActor::Link(self.link.id.to_string())
    }

    /// The document `document` of this link's case (`not-found` for another case's).
    pub async fn document(
        &self,
        services: &Services,
        document: DocumentId,
    ) -> Result<crate::db::DocumentRecord, ServiceError> {
        links::link_document(services, &self.link, document).await
    }

    /// The case behind the link, its key unwrapped and the recipient's name opened.
    pub async fn open_case(self, services: &Services) -> Result<LiveLink, ServiceError> {
        links::open_case(services, &self.token, self.link).await
    }
}

/// Why a `/l/…` request with a session did not get one: a problem, or (a browser without a
/// session) the way to the link's landing page.
#[derive(Debug)]
pub enum LinkRefusal {
    Problem(ApiError),
    Landing(String),
}

impl std::fmt::Display for LinkRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Problem(e) => e.fmt(f),
            Self::Landing(_) => f.write_str("no session: to the landing page"),
        }
    }
}

impl ResponseError for LinkRefusal {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Self::Problem(e) => e.status_code(),
            Self::Landing(_) => actix_web::http::StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Problem(e) => e.error_response(),
            Self::Landing(token) => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/l/{token}")))
                .finish(),
        }
    }
}

impl From<ServiceError> for LinkRefusal {
    fn from(e: ServiceError) -> Self {
        Self::Problem(ApiError(e))
    }
}

impl<S: RequiredScope + 'static> FromRequest for LinkSession<S> {
    type Error = LinkRefusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self, LinkRefusal>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (Some(services), Some(limits)) = (
                req.app_data::<web::Data<Services>>().cloned(),
                req.app_data::<web::Data<LinkLimits>>().cloned(),
            ) else {
                return Err(
                    ServiceError::Internal("link routes without their state".into()).into(),
                );
            };
            session::<S>(&req, &services, &limits).await
        })
    }
}

async fn session<S: RequiredScope>(
    req: &HttpRequest,
    services: &Services,
    limits: &LinkLimits,
) -> Result<LinkSession<S>, LinkRefusal> {
    // A state-changing request from another site is refused before anything is read.
    if req.method() != actix_web::http::Method::GET {
        super::links::same_origin(req, services)?;
    }
    let raw = req.match_info().get("token").unwrap_or_default();
    let Some(token) = links::verify_token(services, raw) else {
        limits.without_session(req, None)?;
        return Err(ServiceError::NotFound.into());
    };
    let client = super::client_address(req);
    let cookie = req.cookie(SESSION_COOKIE);
    let session = links::session_link(
        services,
        token.link(),
        cookie.as_ref().map(actix_web::cookie::Cookie::value),
    )
    .await?;
    let Some((session_id, link)) = session else {
        // No session: a link that cannot be used says so (410, audited); one that can sends a
        // browser to its landing page and tells an API client to open it first.
        limits.without_session(req, Some(token.link()))?;
        let link = services
            .repo
            .get_link(token.link())
            .await
            .map_err(ServiceError::from)?
            .ok_or(ServiceError::NotFound)?;
        links::check_usable(services, &token, &link, client).await?;
        return Err(if prefers_html(req.headers()) {
            LinkRefusal::Landing(raw.to_owned())
        } else {
            ServiceError::Unauthorized.into()
        });
    };
    limits.session_check(&session_id)?;
    links::check_usable(services, &token, &link, client.clone()).await?;
    if let Some(scope) = S::SCOPE {
        links::require_scope(services, &link, scope, client.clone()).await?;
    }
    Ok(LinkSession {
        token,
        link,
        client,
        scope: PhantomData,
    })
}
