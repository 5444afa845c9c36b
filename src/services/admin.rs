//! Administrator bearer tokens: shown once, stored as a SHA-256 hash.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

use super::ServiceError;
use crate::db::{DbError, Repository};

const TOKEN_PREFIX: &str = "cat_";

/// The stored form of a token. Tokens carry 256 random bits, so a plain hash is safe to look up by.
pub fn token_hash(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Creates a token named `name` and returns it (the only time it is shown).
pub async fn create_token(repo: &dyn Repository, name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(ServiceError::InvalidField {
            field: "name".into(),
            message: "1-64 characters of letters, digits, - _ . @".into(),
        });
    }
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| ServiceError::Internal("random source failed".into()))?;
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
    match repo.create_admin_token(name, &token_hash(&token)).await {
        Ok(()) => Ok(token),
        Err(DbError::Duplicate) => Err(ServiceError::InvalidField {
            field: "name".into(),
            message: format!("a token named `{name}` exists"),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The name of the administrator holding `token`.
pub async fn authenticate(repo: &dyn Repository, token: &str) -> Result<String, ServiceError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Err(ServiceError::Unauthorized);
    }
    repo.admin_token_name(&token_hash(token))
        .await?
        .ok_or(ServiceError::Unauthorized)
}
