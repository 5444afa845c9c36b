//! Opening a link: a use taken atomically, the passcode checked (attempts counted first), and the
//! session that follows, found again by its cookie.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};

use super::{LiveLink, has_uses_left, passcode_matches, random_bytes, sha256_hex};
use crate::db::{LinkRecord, PasscodeAttempt};
use crate::domain::{AuditAction, AuditOutcome, LinkId};
use crate::services::{ServiceError, Services};

/// A started session: the cookie value (shown once) and how long it lasts.
pub struct Session {
    pub cookie_value: String,
    pub max_age_seconds: i64,
}

/// `POST /l/{token}/open`: checks the passcode, takes one use atomically, starts a session.
///
/// A passcode attempt is counted before the passcode is checked (one conditional `UPDATE`, so
/// parallel guesses never take more than `links.max_passcode_attempts`) and given back when it was
/// right. Once no attempt is left, every attempt gets the lock's answer, right or wrong; a link
/// without uses left answers `link-used-up` before any passcode is looked at. Neither answer
/// depends on the passcode, so none tells a guesser that a guess was right.
pub async fn open(
    services: &Services,
    live: &LiveLink,
    passcode: Option<&str>,
    client: Option<String>,
) -> Result<Session, ServiceError> {
    let link = &live.link;
    let now = services.clock.now();
    let denied = |outcome| live.event(AuditAction::LinkDenied, outcome, client.clone());
    if !has_uses_left(link) {
        services
            .repo
            .append_audit(&denied(AuditOutcome::UsedUp))
            .await?;
        return Err(ServiceError::LinkUsedUp);
    }
    if let Some(hash) = &link.passcode_hash {
        let attempts = i64::from(services.settings.links.max_passcode_attempts);
        let locks = match services
            .repo
            .claim_passcode_attempt(link.id, attempts, now)
            .await?
        {
            PasscodeAttempt::Taken { locks } => locks,
            PasscodeAttempt::Refused => {
                services
                    .repo
                    .append_audit(&denied(AuditOutcome::Locked))
                    .await?;
                return Err(ServiceError::LinkRevoked { locked: true });
            }
        };
        let given: String = passcode
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let right = match passcode_matches(hash.clone(), given).await {
            Ok(right) => right,
            Err(e) => {
                // Not the guesser's fault: the attempt goes back.
                services
                    .repo
                    .refund_passcode_attempt(link.id, attempts)
                    .await?;
                return Err(e);
            }
        };
        if !right {
            let outcome = if locks {
                AuditOutcome::Locked
            } else {
                AuditOutcome::WrongPasscode
            };
            services.repo.append_audit(&denied(outcome)).await?;
            return Err(if locks {
                ServiceError::LinkRevoked { locked: true }
            } else {
                ServiceError::InvalidField {
                    field: "passcode".into(),
                    message: "the passcode is not right".into(),
                }
            });
        }
        if services
            .repo
            .consume_link_use_with_passcode(link.id, attempts, now)
            .await?
        {
            return start_session(services, live, now, client).await;
        }
        // Revoked, expired or out of uses since the link was read: the attempt goes back.
        services
            .repo
            .refund_passcode_attempt(link.id, attempts)
            .await?;
        services
            .repo
            .append_audit(&denied(AuditOutcome::UsedUp))
            .await?;
        return Err(ServiceError::LinkUsedUp);
    }
    if !services.repo.consume_link_use(link.id, now).await? {
        services
            .repo
            .append_audit(&denied(AuditOutcome::UsedUp))
            .await?;
        return Err(ServiceError::LinkUsedUp);
    }
    start_session(services, live, now, client).await
}

/// Starts a session for a link whose use was just taken, and audits the opening.
async fn start_session(
    services: &Services,
    live: &LiveLink,
    now: DateTime<Utc>,
    client: Option<String>,
) -> Result<Session, ServiceError> {
    let link = &live.link;
    let cookie_value = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let session_cap = now
        + Duration::seconds(
            i64::try_from(services.settings.links.session_max_seconds).unwrap_or(i64::MAX / 2),
        );
    let expires_at = session_cap.min(link.expires_at);
    services
        .repo
        .create_link_session(&sha256_hex(&cookie_value), link.id, now, expires_at)
        .await?;
    services
        .repo
        .append_audit(&live.event(AuditAction::LinkOpened, AuditOutcome::Success, client))
        .await?;
    Ok(Session {
        cookie_value,
        max_age_seconds: (expires_at - now).num_seconds().max(1),
    })
}

/// The session `cookie` names, when it is a live session of `link`: its id (the hash of the
/// cookie, which is all the database holds, and the key of the session's own rate limit) and the
/// link's row, in one query.
pub async fn session_link(
    services: &Services,
    link: LinkId,
    cookie: Option<&str>,
) -> Result<Option<(String, LinkRecord)>, ServiceError> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 64) else {
        return Ok(None);
    };
    let hash = sha256_hex(cookie);
    let row = services
        .repo
        .link_of_session(&hash, link, services.clock.now())
        .await?;
    Ok(row.map(|link| (hash, link)))
}
