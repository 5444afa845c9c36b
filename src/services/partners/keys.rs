//! Partner API keys: creating, revoking and authenticating them.

use chrono::{SubsecRound, Utc};

use crate::db::{DbError, PartnerKeyRecord, Repository};
use crate::domain::{AuditActor, Sponsor};
use crate::services::ServiceError;

use super::{invalid, random_token, sha256_hex};

pub const KEY_PREFIX: &str = "csk_";

/// An authenticated partner key.
#[derive(Clone, Debug)]
pub struct PartnerIdentity {
    pub name: String,
    pub organisation: String,
    pub kind: Sponsor,
}

impl PartnerIdentity {
    pub fn actor(&self) -> AuditActor {
        AuditActor::Partner(self.name.clone())
    }
}

// ---- keys -------------------------------------------------------------------------------------

/// The stored form of a key. Keys carry 256 random bits, so a plain hash is safe to look up by.
pub fn key_hash(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// A partner organisation id: lowercase letters, digits, `-` and `_` (it names config overrides).
pub fn valid_organisation(org: &str) -> bool {
    (1..=64).contains(&org.len())
        && org
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

/// Creates a key named `name` for `organisation` and returns it (the only time it is shown).
pub async fn create_key(
    repo: &dyn Repository,
    name: &str,
    organisation: &str,
    kind: Sponsor,
) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(invalid(
            "name",
            "1-64 characters of letters, digits, - _ . @",
        ));
    }
    if !valid_organisation(organisation) {
        return Err(invalid(
            "org",
            "1-64 characters of lowercase letters, digits, - and _",
        ));
    }
    if kind == Sponsor::SelfFunded {
        return Err(invalid("kind", "must be embassy or insurer"));
    }
    let key = format!("{KEY_PREFIX}{}", random_token()?);
    let record = PartnerKeyRecord {
        name: name.to_owned(),
        organisation: organisation.to_owned(),
        kind,
        created_at: Utc::now().trunc_subsecs(6),
        revoked_at: None,
    };
    match repo.create_partner_key(&record, &key_hash(&key)).await {
        Ok(()) => Ok(key),
        Err(DbError::Duplicate) => Err(invalid("name", format!("a key named `{name}` exists"))),
        Err(e) => Err(e.into()),
    }
}

/// Revokes the key named `name` at once; `false` when there is none.
pub async fn revoke_key(repo: &dyn Repository, name: &str) -> Result<bool, ServiceError> {
    Ok(repo.revoke_partner_key(name.trim(), Utc::now()).await?)
}

/// The partner holding `key`; `unauthorized` for an unknown or revoked key.
pub async fn authenticate(
    repo: &dyn Repository,
    key: &str,
) -> Result<PartnerIdentity, ServiceError> {
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Err(ServiceError::Unauthorized);
    }
    match repo.partner_key_by_hash(&key_hash(key)).await? {
        Some(record) if record.revoked_at.is_none() => Ok(PartnerIdentity {
            name: record.name,
            organisation: record.organisation,
            kind: record.kind,
        }),
        _ => Err(ServiceError::Unauthorized),
    }
}
