//! Encryption at rest for Consilium.
//!
//! * [`keyring`]: key-encryption keys (KEKs) and per-case keys wrapped under them.
//! * [`blob`]: streaming, chunked envelope encryption of stored documents.
//! * [`field`]: encryption of individual personal-data values stored in SQL.
//! * [`link_token`]: signed, verifiable link tokens.
//!
//! All authenticated encryption is AES-256-GCM from `ring`.

pub mod blob;
pub mod field;
pub mod keyring;
pub mod link_token;

pub use blob::{BlobOpener, CHUNK_SIZE, open_blob, seal_blob, sealed_len};
pub use field::{decrypt_field, encrypt_field};
pub use keyring::{
    CaseKey, KekId, KeyRing, WrappedCaseKey, decode_kek_base64, encode_kek_base64, generate_kek,
};
pub use link_token::{LinkClaims, sign_link_token, verify_link_token};

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Errors of the crypto module. Authentication failures of any kind are reported
/// uniformly as [`CryptoError::Verify`] so that callers cannot (and need not) tell
/// a wrong key from tampering or truncation.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("unknown key-encryption key id {0}")]
    UnknownKek(String),
    /// Any authentication failure, truncation, or wrong key.
    #[error("encrypted data failed to verify")]
    Verify,
    #[error("malformed encrypted data: {0}")]
    Format(&'static str),
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

/// Length of an AES-256-GCM key in bytes.
pub(crate) const KEY_LEN: usize = 32;
/// Length of an AES-256-GCM nonce in bytes.
pub(crate) const NONCE_LEN: usize = 12;
/// Length of an AES-256-GCM tag in bytes.
pub(crate) const TAG_LEN: usize = 16;

/// Fills an array from the operating system's CSPRNG.
///
/// # Panics
/// If the system random number generator fails (not recoverable; encrypting with
/// a predictable key or nonce would be worse than stopping).
pub(crate) fn random_array<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("system random number generator failed");
    out
}

/// Builds an AES-256-GCM key from 32 raw bytes.
pub(crate) fn aead_key(bytes: &[u8; KEY_LEN]) -> LessSafeKey {
    // Cannot fail: the length is fixed by the type.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 key length is 32"))
}

/// Appends `data` to `out`, prefixed by its length as a big-endian u64, so that
/// concatenated fields in associated data are unambiguous.
pub(crate) fn push_len_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u64).to_be_bytes());
    out.extend_from_slice(data);
}
