//! Link tokens: `base64url(link id ‖ expiry ‖ key id) . base64url(HMAC-SHA-256)`.
//!
//! Layout of the signed part (do not change: issued links would stop verifying):
//! 16 bytes link id (UUID), 8 bytes expiry (big-endian Unix seconds), then the id of the KEK the
//! signing key was derived from (1–32 ASCII bytes). The MAC key is HKDF-derived from that KEK with
//! the label below, so links issued before a key rotation keep verifying while the old KEK is in the
//! ring. Verification is constant-time and happens before any database work.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::keyring::{KekId, KeyRing};

/// HKDF label of the signing key. Do not change.
const SIGNING_LABEL: &str = "consilium-link-token-v1";
/// Longest token accepted before any decoding (id 16 + expiry 8 + key id 32, base64url, + MAC).
const MAX_TOKEN_LEN: usize = 160;

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClaims {
    pub link_id: [u8; 16],
    pub expires_at: i64,
    pub kek_id: KekId,
}

fn signing_key(keys: &KeyRing, kek: &KekId) -> Option<hmac::Key> {
    keys.derive_subkey_from(kek, SIGNING_LABEL)
        .map(|bytes| hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// Signs a token for `link_id` valid until `expires_at`, under the active KEK.
pub fn sign_link_token(keys: &KeyRing, link_id: [u8; 16], expires_at: i64) -> String {
    let kek = keys.active_id();
    let mut payload = Vec::with_capacity(24 + kek.as_str().len());
    payload.extend_from_slice(&link_id);
    payload.extend_from_slice(&expires_at.to_be_bytes());
    payload.extend_from_slice(kek.as_str().as_bytes());
    let key = signing_key(keys, kek).expect("the active KEK is in the ring");
    let tag = hmac::sign(&key, &payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag.as_ref())
    )
}

/// The claims of a token whose MAC verifies; `None` for anything else (forged, edited, malformed,
/// signed under a KEK no longer in the ring). Expiry is the caller's to check.
pub fn verify_link_token(keys: &KeyRing, token: &str) -> Option<LinkClaims> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let (payload, tag) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    if payload.len() < 25 {
        return None;
    }
    let kek = KekId::parse(std::str::from_utf8(&payload[24..]).ok()?).ok()?;
    let key = signing_key(keys, &kek)?;
    hmac::verify(&key, &payload, &tag).ok()?;
    Some(LinkClaims {
        link_id: payload[..16].try_into().ok()?,
        expires_at: i64::from_be_bytes(payload[16..24].try_into().ok()?),
        kek_id: kek,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(active: &str, keys: &[(&str, u8)]) -> KeyRing {
        KeyRing::new(
            KekId::parse(active).unwrap(),
            keys.iter()
                .map(|(id, b)| (KekId::parse(id).unwrap(), [*b; 32]))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_signed_token_verifies_and_carries_its_claims() {
        let keys = ring("k1", &[("k1", 7)]);
        let token = sign_link_token(&keys, [9; 16], 1_900_000_000);
        let claims = verify_link_token(&keys, &token).unwrap();
        assert_eq!(claims.link_id, [9; 16]);
        assert_eq!(claims.expires_at, 1_900_000_000);
        assert_eq!(claims.kek_id.as_str(), "k1");
    }

    #[test]
    fn forged_edited_or_foreign_tokens_do_not_verify() {
        let keys = ring("k1", &[("k1", 7)]);
        let token = sign_link_token(&keys, [9; 16], 1_900_000_000);
        let (payload, tag) = token.split_once('.').unwrap();
        // An edited expiry with the old MAC.
        let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
        raw[23] ^= 1;
        let edited = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&raw));
        assert!(verify_link_token(&keys, &edited).is_none());
        // A forged MAC.
        let forged = format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        assert!(verify_link_token(&keys, &forged).is_none());
        // Signed under another ring.
        let other = ring("k1", &[("k1", 8)]);
        assert!(verify_link_token(&other, &token).is_none());
        for junk in ["", ".", "abc", "a.b", &"x".repeat(500)] {
            assert!(verify_link_token(&keys, junk).is_none());
        }
    }

    #[test]
    fn tokens_signed_before_a_rotation_still_verify() {
        let old = ring("k1", &[("k1", 7)]);
        let token = sign_link_token(&old, [1; 16], 1_900_000_000);
        let rotated = ring("k2", &[("k1", 7), ("k2", 8)]);
        assert!(verify_link_token(&rotated, &token).is_some());
        let retired = ring("k2", &[("k2", 8)]);
        assert!(verify_link_token(&retired, &token).is_none());
    }
}
