//! Links: issued by an administrator for one case, opened by a recipient with no account.
//!
//! The token proves which link (HMAC, checked before any database work); the link row decides
//! everything else on every request (revoked, locked, expired, uses), so a revocation takes effect
//! at once on every replica. Opening is a deliberate POST that takes one use atomically and starts a
//! session (a random cookie whose hash is stored); landing pages consume nothing, so mail scanners
//! that fetch links do no harm.

mod access;
mod session;

pub use access::{
    LiveLink, VerifiedToken, check_usable, has_uses_left, link_document, open_case, require_scope,
    resolve, verify_token,
};
pub use session::{Session, open, session_link};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ServiceError, Services};
use crate::crypto::{CaseKey, decrypt_field, encrypt_field, sign_link_token};
use crate::db::LinkRecord;
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, LinkId, LinkRole, LinkScope,
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
