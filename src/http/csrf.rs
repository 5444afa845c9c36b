//! Protection of `POST /api/v1/requests` when a browser sends it: a CSRF token bound to a cookie,
//! a same-origin check, and a rate limit per client address for every submission.
//!
//! - `GET /` gives each browser a random secret in a `SameSite=Strict`, `HttpOnly` cookie, and puts
//!   `token = base64url(HMAC-SHA-256(key, "consilium-csrf-v1" ‖ secret))` in the form (the form's
//!   `action` query `csrf_token`, and `data-csrf-token` for the script, which sends it as
//!   `X-CSRF-Token`). The key is derived from the key ring (`derive_subkey("csrf")`); the token is
//!   checked in constant time.
//! - A request that comes from a browser (it carries `Origin`, `Sec-Fetch-Site` or the cookie) must
//!   carry a valid token for its cookie, `Sec-Fetch-Site` (when sent) must be
//!   `same-origin`, and `Origin` (when sent and not `null`) must be `server.public_url`'s origin
//!   (never the `Host` it was sent to: see [`same_origin`], the check the link routes use too).
//!   (Pages send `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` even
//!   for same-origin posts.) Else 403 `forbidden`.
//! - A request with none of those (curl, scripts, partner tools) is not a browser being steered by
//!   another site, and the API contract stands for it unchanged. (`Sec-Fetch-Mode` alone is no sign:
//!   Node's `fetch` sends it.)
//! - Every submission, browser or not, takes a token from a per-address bucket
//!   (`form.submission_burst`, `form.submissions_per_minute`): beyond it, 429 `rate-limited`.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use super::problem::ProblemDocument;
use super::rate_limit::RateLimiter;
use crate::domain::ErrorCode;
use crate::services::{ServiceError, Services};

/// Header the form's script sends the token in.
pub const TOKEN_HEADER: &str = "x-csrf-token";
/// Query parameter of the form's `action` (a form post without script).
pub const TOKEN_QUERY: &str = "csrf_token";
/// Domain separation for the token MAC. Changing it invalidates every open form.
const TOKEN_CONTEXT: &[u8] = b"consilium-csrf-v1\0";
/// Bytes of randomness in a cookie secret.
const SECRET_BYTES: usize = 32;
/// How long a browser keeps its secret (a form left open overnight still sends).
const COOKIE_DAYS: i64 = 7;

/// The form's guard: CSRF key, the origin pages are served from, and the submission rate limit.
pub struct FormGuard {
    key: hmac::Key,
    public_origin: String,
    secure: bool,
    limiter: RateLimiter,
}

/// A token for a page, and the cookie to set when the browser had no (valid) secret yet.
pub struct Issued {
    pub token: String,
    pub cookie: Option<Cookie<'static>>,
}

/// Why a browser's submission was refused (for the log and the problem's `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No cookie secret, or no token.
    Missing,
    /// A token that is not the MAC of the cookie's secret.
    Invalid,
    /// `Sec-Fetch-Site` or `Origin` names another site.
    CrossSite,
}

impl Refusal {
    fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "csrf-token-missing",
            Refusal::Invalid => "csrf-token-invalid",
            Refusal::CrossSite => "cross-site",
        }
    }

    /// 403 `forbidden` as a problem document; the middleware turns it into a page for browsers.
    pub fn response(self) -> HttpResponse {
        tracing::info!(reason = self.reason(), "form submission refused");
        let detail = match self {
            Refusal::CrossSite => "This request came from another website, so it was not accepted.",
            Refusal::Missing | Refusal::Invalid => {
                "The form could not be verified (it may have been open for a long time, or cookies are blocked for this site). Please reload the form and send it again."
            }
        };
        ProblemDocument::new(ErrorCode::Forbidden, detail)
            .with("reason", json!(self.reason()))
            .into_response(None)
    }
}

/// `scheme://host[:port]` of a URL, lower-cased, without a default port.
fn origin_of(url: &str) -> String {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url.as_str()));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = match (scheme, authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host,
        _ => authority,
    };
    format!("{scheme}://{authority}")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Whether a browser sent this request from the service's own pages: `Sec-Fetch-Site` (when
/// sent) is `same-origin` (or `none`, a navigation the user started), and `Origin` (when sent and
/// not `null`) is `server.public_url`'s origin. Only the configured URL counts: `Host` and
/// `X-Forwarded-Host` are whatever the client (or a DNS-rebinding page) says they are. Pages are
/// sent with `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` even for
/// same-origin posts, so a `null` origin alone proves nothing either way. The one origin check of
/// the service (the form and the link routes).
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    origin_is(headers, &origin_of(public_url))
}

fn origin_is(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = header_str(headers, "sec-fetch-site")
        && !site.eq_ignore_ascii_case("same-origin")
        && !site.eq_ignore_ascii_case("none")
    {
        return false;
    }
    match header_str(headers, header::ORIGIN.as_str()) {
        None | Some("null") => true,
        Some(origin) => origin_of(origin) == public_origin,
    }
}

impl FormGuard {
    pub fn new(services: &Services) -> Self {
        let form = &services.settings.form;
        let public_url = &services.settings.server.public_url;
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &services.keys.derive_subkey("csrf")),
            public_origin: origin_of(public_url),
            secure: public_url.starts_with("https://"),
            limiter: RateLimiter::new(
                "submissions",
                form.submission_burst,
                form.submissions_per_minute,
            ),
        }
    }

    /// `__Host-` (bound to this host, https only) when the service is served over https.
    fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-consilium-csrf"
        } else {
            "consilium-csrf"
        }
    }

    /// The browser's secret, when its cookie holds a well-formed one.
    fn secret(&self, req: &HttpRequest) -> Option<String> {
        let cookie = req.cookie(self.cookie_name())?;
        let value = cookie.value();
        let valid = URL_SAFE_NO_PAD
            .decode(value)
            .is_ok_and(|bytes| bytes.len() == SECRET_BYTES);
        valid.then(|| value.to_owned())
    }

    fn mac(&self, secret: &str) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(TOKEN_CONTEXT);
        ctx.update(secret.as_bytes());
        ctx.sign()
    }

    /// The token for a page: from the browser's secret, or a new secret with its cookie.
    pub fn issue(&self, req: &HttpRequest) -> Issued {
        if let Some(secret) = self.secret(req) {
            return Issued {
                token: URL_SAFE_NO_PAD.encode(self.mac(&secret)),
                cookie: None,
            };
        }
        let mut bytes = [0_u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system random source works");
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let cookie = Cookie::build(self.cookie_name(), secret.clone())
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Strict)
            .max_age(Duration::days(COOKIE_DAYS))
            .finish();
        Issued {
            token: URL_SAFE_NO_PAD.encode(self.mac(&secret)),
            cookie: Some(cookie),
        }
    }

    /// Whether the request shows the marks of a browser (which must then prove it came from the form).
    pub fn is_from_browser(&self, req: &HttpRequest) -> bool {
        let h = req.headers();
        h.contains_key(header::ORIGIN)
            || h.contains_key("sec-fetch-site")
            || req.cookie(self.cookie_name()).is_some()
    }

    fn token(req: &HttpRequest) -> Option<String> {
        if let Some(token) = header_str(req.headers(), TOKEN_HEADER) {
            return Some(token.to_owned());
        }
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()?
            .get(TOKEN_QUERY)
            .cloned()
    }

    /// Checks a submission. `Ok(true)`: a browser that passed; `Ok(false)`: not a browser.
    pub fn check(&self, req: &HttpRequest) -> Result<bool, Refusal> {
        if !self.is_from_browser(req) {
            return Ok(false);
        }
        if !origin_is(req.headers(), &self.public_origin) {
            return Err(Refusal::CrossSite);
        }
        let (Some(secret), Some(token)) = (self.secret(req), Self::token(req)) else {
            return Err(Refusal::Missing);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(token.as_bytes())
            .map_err(|_| Refusal::Invalid)?;
        let mut message = TOKEN_CONTEXT.to_vec();
        message.extend_from_slice(secret.as_bytes());
        hmac::verify(&self.key, &message, &tag).map_err(|_| Refusal::Invalid)?;
        Ok(true)
    }

    /// Takes one submission from the client address's bucket.
    pub fn limit(&self, req: &HttpRequest) -> Result<(), ServiceError> {
        let address = super::client_address(req).unwrap_or_else(|| "unknown".to_owned());
        self.limiter.check(&address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_compared_without_default_ports_or_paths() {
        assert_eq!(
            origin_of("https://Example.org:443/x"),
            "https://example.org"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("http://a.test:80"), "http://a.test");
    }
}
