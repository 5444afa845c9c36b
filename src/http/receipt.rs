//! The receipt kept across a reload: `GET /receipt` shows the receipt of the request this browser
//! sent, for `RECEIPT_HOURS` after sending, from a cookie set when the request was stored.
//!
//! The cookie holds no personal data: the case id, an expiry and
//! `HMAC-SHA-256(derive_subkey("receipt"), "consilium-receipt-v1" ‖ case id ‖ expiry)`, so it cannot
//! be forged or moved to another case; it is `HttpOnly`, `SameSite=Strict`, `__Host-` and `Secure`
//! over https, and ends with the browser session. The page shows what the receipt shows (the
//! reference, the dates, the names and sizes of the files sent) and nothing more. It works without
//! script: a form post without script is answered with the receipt and `Refresh: 0; url=/receipt`,
//! so reloading reloads this page rather than posting the files again; with script the page
//! replaces its address with `/receipt` once the receipt is shown.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ring::hmac;

use super::pages::{Chrome, html_response, receipt_page_with_status};
use crate::config::ContactSettings;
use crate::domain::CaseId;
use crate::services::{ServiceError, Services, cases};

/// How long after sending the receipt can be shown again in the same browser.
pub const RECEIPT_HOURS: i64 = 24;
/// Domain separation for the cookie's MAC.
const CONTEXT: &[u8] = b"consilium-receipt-v1\0";

fn cookie_name(services: &Services) -> &'static str {
    if secure(services) {
        "__Host-consilium-receipt"
    } else {
        "consilium-receipt"
    }
}

fn secure(services: &Services) -> bool {
    services.settings.server.public_url.starts_with("https://")
}

fn key(services: &Services) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, &services.keys.derive_subkey("receipt"))
}

fn message(case: CaseId, expires: i64) -> Vec<u8> {
    let mut m = CONTEXT.to_vec();
    m.extend_from_slice(case.to_string().as_bytes());
    m.push(0);
    m.extend_from_slice(expires.to_string().as_bytes());
    m
}

/// The cookie that lets this browser see the receipt of `case` again.
pub fn cookie(services: &Services, case: CaseId, now: DateTime<Utc>) -> Cookie<'static> {
    let expires = (now + Duration::hours(RECEIPT_HOURS)).timestamp();
    let tag = hmac::sign(&key(services), &message(case, expires));
    let value = format!("{case}.{expires}.{}", URL_SAFE_NO_PAD.encode(tag));
    Cookie::build(cookie_name(services), value)
        .path("/")
        .http_only(true)
        .secure(secure(services))
        .same_site(SameSite::Strict)
        .finish()
}

/// The case whose receipt this browser may see: a well-formed cookie, a MAC that verifies (in
/// constant time), and an expiry still ahead.
fn case_of(req: &HttpRequest, services: &Services, now: DateTime<Utc>) -> Option<CaseId> {
    let cookie = req.cookie(cookie_name(services))?;
    let mut parts = cookie.value().splitn(3, '.');
    let case: CaseId = parts.next()?.parse().ok()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let tag = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    hmac::verify(&key(services), &message(case, expires), &tag).ok()?;
    (now.timestamp() < expires).then_some(case)
}

#[derive(Template)]
#[template(path = "receipt_missing.html")]
struct MissingPage {
    page: Chrome,
    hours: i64,
    contact: ContactSettings,
}

/// `GET /receipt`: the receipt of the request this browser sent, or a page saying how to reach us.
pub async fn receipt(req: HttpRequest, services: web::Data<Services>) -> HttpResponse {
    let now = services.clock.now();
    if let Some(case) = case_of(&req, &services, now) {
        match cases::receipt(&services, case).await {
            Ok((receipt, preference)) => {
                return receipt_page_with_status(
                    StatusCode::OK,
                    &receipt,
                    &services.settings,
                    Some(preference.as_str()),
                );
            }
            // A case deleted since: as if there were no receipt.
            Err(ServiceError::NotFound) => {}
            Err(e) => {
                return actix_web::ResponseError::error_response(&super::problem::ApiError(e));
            }
        }
    }
    let page = MissingPage {
        page: Chrome::new("No receipt to show"),
        hours: RECEIPT_HOURS,
        contact: services.settings.contact.clone(),
    };
    let body = page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "receipt template");
        String::new()
    });
    html_response(StatusCode::NOT_FOUND, body)
}
