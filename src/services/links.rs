//! Links: issued by an administrator for one case, opened by a recipient with no account.
//!
//! The token proves which link (HMAC, checked before any database work); the link row decides
//! everything else on every request (revoked, locked, expired, uses), so a revocation takes effect
//! at once on every replica. Opening is a deliberate POST that takes one use atomically and starts a
//! session (a random cookie whose hash is stored); landing pages consume nothing, so mail scanners
//! that fetch links do no harm.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ServiceError, Services};
use crate::crypto::{CaseKey, decrypt_field, encrypt_field, sign_link_token, verify_link_token};
use crate::db::{CaseRecord, DocumentRecord, LinkRecord, PasscodeAttempt};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, DocumentId, LinkId, LinkRole,
    LinkScope,
};

/// What an administrator asks for.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Who the link is for, as shown on its landing page (e.g. "Dr A Khan").
    pub recipient: String,
    pub role: LinkRole,
    pub scopes: Vec<LinkScope>,
    pub expires_in_seconds: u64,
    pub max_uses: Option<u32>,
    /// Generate a passcode (shown once, to be given by phone).
    #[serde(default)]
    pub passcode: bool,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IssuedLink {
    pub id: LinkId,
    pub url: String,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<LinkScope>,
    /// The generated passcode; shown only in this response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passcode: Option<String>,
}

/// A link as an administrator sees it later (no token, no passcode).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LinkView {
    pub id: LinkId,
    pub recipient: String,
    pub role: LinkRole,
    pub scopes: Vec<LinkScope>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub passcode: bool,
    pub failed_passcode_attempts: i64,
    pub locked_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A case's links, as `GET /api/v1/cases/{case_id}/links` answers them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LinkList {
    pub links: Vec<LinkView>,
}

fn recipient_context(link: LinkId) -> String {
    format!("link/{link}/recipient")
}

fn invalid(field: &str, message: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source failed");
    bytes
}

/// Eight random digits (uniform: bytes over the largest multiple of 10 are drawn again).
fn generate_passcode() -> String {
    let mut digits = String::with_capacity(8);
    while digits.len() < 8 {
        for b in random_bytes::<16>() {
            if b < 250 && digits.len() < 8 {
                digits.push(char::from(b'0' + b % 10));
            }
        }
    }
    digits
}

fn sha256_hex(text: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, text.as_bytes()))
}

/// `POST /api/v1/cases/{id}/links`.
pub async fn issue(
    services: &Services,
    case_id: CaseId,
    admin: &str,
    request: LinkRequest,
    client: Option<String>,
) -> Result<IssuedLink, ServiceError> {
    let recipient = request.recipient.trim().to_owned();
    if recipient.is_empty()
        || recipient.chars().count() > 200
        || recipient.chars().any(char::is_control)
    {
        return Err(invalid("recipient", "1-200 characters"));
    }
    let mut scopes = request.scopes.clone();
    scopes.sort_by_key(|s| s.as_str());
    scopes.dedup();
    if scopes.is_empty() {
        return Err(invalid(
            "scopes",
            "at least one of view, download, upload, opinion",
        ));
    }
    let max_ttl = services.settings.links.max_ttl_seconds;
    if request.expires_in_seconds < 60 || request.expires_in_seconds > max_ttl {
        return Err(invalid(
            "expires_in_seconds",
            &format!("between 60 and {max_ttl} (links.max_ttl_seconds)"),
        ));
    }
    if request.max_uses == Some(0) {
        return Err(invalid("max_uses", "at least 1, or absent for no limit"));
    }
    let case = services
        .repo
        .get_case(case_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = services.case_key(case.id, &case.kek_id, &case.wrapped_key)?;

    let id = LinkId::new();
    let now = services.clock.now_stored();
    let ttl = i64::try_from(request.expires_in_seconds)
        .map_err(|_| invalid("expires_in_seconds", "too large"))?;
    let expires_at = now + Duration::seconds(ttl);
    let passcode = request.passcode.then(generate_passcode);
    let passcode_hash = match &passcode {
        Some(code) => Some(hash_passcode(code.clone()).await?),
        None => None,
    };
    let record = LinkRecord {
        id,
        case_id,
        recipient_enc: encrypt_field(&key, &recipient_context(id), recipient.as_bytes()),
        role: request.role,
        scopes: scopes.clone(),
        created_by: admin.to_owned(),
        created_at: now,
        expires_at,
        max_uses: request.max_uses.map(i64::from),
        uses: 0,
        passcode_hash,
        failed_attempts: 0,
        locked_at: None,
        revoked_at: None,
    };
    let event = AuditEvent::new(
        AuditActor::Admin(admin.to_owned()),
        AuditAction::LinkCreated,
        AuditOutcome::Success,
    )
    .case(case_id)
    .link(id)
    .client(client);
    services.repo.create_link(&record, &event).await?;
    let token = sign_link_token(
        &services.keys,
        *id.as_uuid().as_bytes(),
        expires_at.timestamp(),
    );
    Ok(IssuedLink {
        id,
        url: format!(
            "{}/l/{token}",
            services.settings.server.public_url.trim_end_matches('/')
        ),
        expires_at,
        scopes,
        passcode,
    })
}

async fn hash_passcode(code: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
        Argon2::default()
            .hash_password(code.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("passcode task: {e}")))?
    .map_err(|e| ServiceError::Internal(format!("passcode hash: {e}")))
}

async fn passcode_matches(hash: String, code: String) -> Result<bool, ServiceError> {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).map(|parsed| {
            Argon2::default()
                .verify_password(code.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("passcode task: {e}")))?
    .map_err(|e| ServiceError::Internal(format!("stored passcode hash: {e}")))
}

/// `GET /api/v1/cases/{id}/links`: the recipients are personal data, so the read is audited
/// (`links.listed`, the administrator as actor).
pub async fn list(
    services: &Services,
    case_id: CaseId,
    admin: &str,
    client: Option<String>,
) -> Result<Vec<LinkView>, ServiceError> {
    let case = services
        .repo
        .get_case(case_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = services.case_key(case.id, &case.kek_id, &case.wrapped_key)?;
    let links = services.repo.case_links(case_id).await?;
    let event = AuditEvent::new(
        AuditActor::Admin(admin.to_owned()),
        AuditAction::LinksListed,
        AuditOutcome::Success,
    )
    .case(case_id)
    .client(client);
    services.repo.append_audit(&event).await?;
    links
        .into_iter()
        .map(|link| {
            Ok(LinkView {
                recipient: open_recipient(&key, &link)?,
                id: link.id,
                role: link.role,
                scopes: link.scopes,
                created_by: link.created_by,
                created_at: link.created_at,
                expires_at: link.expires_at,
                max_uses: link.max_uses,
                uses: link.uses,
                passcode: link.passcode_hash.is_some(),
                failed_passcode_attempts: link.failed_attempts,
                locked_at: link.locked_at,
                revoked_at: link.revoked_at,
            })
        })
        .collect()
}

fn open_recipient(key: &CaseKey, link: &LinkRecord) -> Result<String, ServiceError> {
    decrypt_field(key, &recipient_context(link.id), &link.recipient_enc)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(ServiceError::Integrity)
}

/// `DELETE /api/v1/links/{id}`: at once, and ends the link's sessions.
pub async fn revoke(
    services: &Services,
    link_id: LinkId,
    admin: &str,
    client: Option<String>,
) -> Result<(), ServiceError> {
    let link = services
        .repo
        .get_link(link_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let event = AuditEvent::new(
        AuditActor::Admin(admin.to_owned()),
        AuditAction::LinkRevoked,
        AuditOutcome::Success,
    )
    .case(link.case_id)
    .link(link_id)
    .client(client);
    if services
        .repo
        .revoke_link(link_id, services.clock.now(), &event)
        .await?
    {
        Ok(())
    } else {
        Err(ServiceError::NotFound)
    }
}

/// A link whose token verified and whose row allows it to be used now.
pub struct LiveLink {
    pub token: String,
    pub link: LinkRecord,
    pub case: CaseRecord,
    pub case_key: CaseKey,
    pub recipient: String,
}

/// An audit event of `link` acting on its case.
fn link_event(
    link: &LinkRecord,
    action: AuditAction,
    outcome: AuditOutcome,
    client: Option<String>,
) -> AuditEvent {
    AuditEvent::new(AuditActor::Link(link.id.to_string()), action, outcome)
        .case(link.case_id)
        .link(link.id)
        .client(client)
}

/// Audits and returns `forbidden` when `link` lacks `scope`.
pub async fn require_scope(
    services: &Services,
    link: &LinkRecord,
    scope: LinkScope,
    client: Option<String>,
) -> Result<(), ServiceError> {
    if link.scopes.contains(&scope) {
        return Ok(());
    }
    services
        .repo
        .append_audit(&link_event(
            link,
            AuditAction::LinkDenied,
            AuditOutcome::Forbidden,
            client,
        ))
        .await?;
    Err(ServiceError::Forbidden)
}

/// The document `document` of `link`'s case; `not-found` for a document of another case.
pub async fn link_document(
    services: &Services,
    link: &LinkRecord,
    document: DocumentId,
) -> Result<DocumentRecord, ServiceError> {
    services
        .repo
        .get_document(document)
        .await?
        .filter(|d| d.case_id == link.case_id)
        .ok_or(ServiceError::NotFound)
}

impl LiveLink {
    pub fn allows(&self, scope: LinkScope) -> bool {
        self.link.scopes.contains(&scope)
    }

    pub fn actor(&self) -> AuditActor {
        AuditActor::Link(self.link.id.to_string())
    }

    fn event(
        &self,
        action: AuditAction,
        outcome: AuditOutcome,
        client: Option<String>,
    ) -> AuditEvent {
        link_event(&self.link, action, outcome, client)
    }

    /// The patient's name and question, for the roles that need them.
    pub fn clinical_details(&self) -> Result<Option<(String, String)>, ServiceError> {
        if !matches!(self.link.role, LinkRole::Consultant | LinkRole::Radiologist) {
            return Ok(None);
        }
        let open = |column: &str, sealed: &[u8]| {
            decrypt_field(
                &self.case_key,
                &super::submit::field_context(self.case.id, column),
                sealed,
            )
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(ServiceError::Integrity)
        };
        Ok(Some((
            open("full_name", &self.case.full_name_enc)?,
            open("condition", &self.case.condition_enc)?,
        )))
    }

    /// The document `document` of this link's case; `not-found` for a document of another case.
    pub async fn document(
        &self,
        services: &Services,
        document: DocumentId,
    ) -> Result<DocumentRecord, ServiceError> {
        link_document(services, &self.link, document).await
    }

    /// Audits a read of the case page (`case.viewed`, the link as actor).
    pub async fn viewed(
        &self,
        services: &Services,
        client: Option<String>,
    ) -> Result<(), ServiceError> {
        services
            .repo
            .append_audit(&self.event(AuditAction::CaseViewed, AuditOutcome::Success, client))
            .await?;
        Ok(())
    }

    /// Audits and returns `forbidden` when the link lacks `scope`.
    pub async fn require(
        &self,
        services: &Services,
        scope: LinkScope,
        client: Option<String>,
    ) -> Result<(), ServiceError> {
        require_scope(services, &self.link, scope, client).await
    }
}

/// A token whose MAC verified: the link it names, before anything is read.
pub struct VerifiedToken {
    token: String,
    link: LinkId,
    expires_at: i64,
}

impl VerifiedToken {
    pub fn link(&self) -> LinkId {
        self.link
    }
}

/// Checks the token's MAC (constant time, no database work); `None` for a token that does not
/// verify.
pub fn verify_token(services: &Services, token: &str) -> Option<VerifiedToken> {
    let claims = verify_link_token(&services.keys, token)?;
    Some(VerifiedToken {
        token: token.to_owned(),
        link: LinkId::from(uuid::Uuid::from_bytes(claims.link_id)),
        expires_at: claims.expires_at,
    })
}

/// Reads the link row of a verified token: `not-found` for a link that does not exist; 410s for
/// expired, revoked or locked links (audited). Uses are not checked here: an open session outlives
/// the last use.
pub async fn resolve(
    services: &Services,
    token: &VerifiedToken,
    client: Option<String>,
) -> Result<LiveLink, ServiceError> {
    let link = services
        .repo
        .get_link(token.link)
        .await?
        .ok_or(ServiceError::NotFound)?;
    check_usable(services, token, &link, client).await?;
    open_case(services, token, link).await
}

/// Refuses a link that cannot be used now: `link-revoked` (withdrawn, or locked after wrong
/// passcodes) or `link-expired`, each audited as `link.denied`.
pub async fn check_usable(
    services: &Services,
    token: &VerifiedToken,
    link: &LinkRecord,
    client: Option<String>,
) -> Result<(), ServiceError> {
    let now = services.clock.now();
    let refusal = if link.revoked_at.is_some() {
        Some((
            ServiceError::LinkRevoked { locked: false },
            AuditOutcome::Revoked,
        ))
    } else if link.locked_at.is_some() {
        Some((
            ServiceError::LinkRevoked { locked: true },
            AuditOutcome::Locked,
        ))
    } else if now >= link.expires_at || now.timestamp() >= token.expires_at {
        Some((ServiceError::LinkExpired, AuditOutcome::Expired))
    } else {
        None
    };
    let Some((error, outcome)) = refusal else {
        return Ok(());
    };
    let event = AuditEvent::new(
        AuditActor::Link(link.id.to_string()),
        AuditAction::LinkDenied,
        outcome,
    )
    .case(link.case_id)
    .link(link.id)
    .client(client);
    services.repo.append_audit(&event).await?;
    Err(error)
}

/// The case behind a usable link, its key unwrapped and the recipient's name opened.
pub async fn open_case(
    services: &Services,
    token: &VerifiedToken,
    link: LinkRecord,
) -> Result<LiveLink, ServiceError> {
    let case = services
        .repo
        .get_case(link.case_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let case_key = services.case_key(case.id, &case.kek_id, &case.wrapped_key)?;
    let recipient = open_recipient(&case_key, &link)?;
    Ok(LiveLink {
        token: token.token.clone(),
        link,
        case,
        case_key,
        recipient,
    })
}

/// Whether a landing page should still offer to open the link (uses left).
pub fn has_uses_left(link: &LinkRecord) -> bool {
    link.max_uses.is_none_or(|max| link.uses < max)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passcodes_are_eight_digits() {
        for _ in 0..100 {
            let code = generate_passcode();
            assert_eq!(code.len(), 8);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[tokio::test]
    async fn passcode_hashes_are_argon2id_and_verify() {
        let hash = hash_passcode("12345678".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passcode_matches(hash.clone(), "12345678".into())
                .await
                .unwrap()
        );
        assert!(!passcode_matches(hash, "12345679".into()).await.unwrap());
    }
}
