//! Key-encryption keys (KEKs), per-case keys, and wrapping of case keys.
//!
//! Each case has its own random 256-bit [`CaseKey`]. It is stored only wrapped
//! ([`WrappedCaseKey`]) under a KEK from the [`KeyRing`], together with that
//! KEK's id. Deleting the wrapped case key makes every blob and field of the
//! case unreadable.
//!
//! Wrapped case key format (do not change; it is stored): `bytes` =
//! 12-byte random nonce ‖ 32-byte AES-256-GCM ciphertext ‖ 16-byte tag, under
//! the KEK named by `kek_id`, with associated data
//! [`CASE_KEY_AAD_DOMAIN`] ‖ u64be(len kek id) ‖ kek id ‖ u64be(len case id) ‖ case id.
//!
//! Rotation: add a new KEK to the configuration, make it active, and rewrap
//! every case key ([`KeyRing::rewrap`]); old wrapped keys keep unwrapping as
//! long as their KEK stays in the ring.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, Nonce};
use ring::hkdf;
use zeroize::Zeroizing;

use super::{CryptoError, KEY_LEN, NONCE_LEN, TAG_LEN, aead_key, push_len_prefixed, random_array};

/// Associated-data domain of case-key wrapping. Do not change.
pub const CASE_KEY_AAD_DOMAIN: &[u8] = b"consilium-case-key-v1\0";
/// HKDF-SHA256 salt used by [`KeyRing::derive_subkey`]. Do not change.
pub const SUBKEY_HKDF_SALT: &[u8] = b"consilium-kek-subkey-v1";
/// Length of [`WrappedCaseKey::bytes`].
pub const WRAPPED_CASE_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
/// Maximum length of a [`KekId`].
pub const KEK_ID_MAX_LEN: usize = 32;

/// Identifier of a key-encryption key: 1..=32 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct KekId(String);

impl KekId {
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if s.is_empty() || s.len() > KEK_ID_MAX_LEN || !s.bytes().all(valid_char) {
            return Err(CryptoError::InvalidKey(format!(
                "key-encryption key id must be 1..={KEK_ID_MAX_LEN} characters of [A-Za-z0-9_-], got {s:?}"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KekId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KekId {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for KekId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A case's 256-bit data-encryption key. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct CaseKey(Zeroizing<[u8; KEY_LEN]>);

impl CaseKey {
    /// A fresh random case key.
    #[must_use]
    pub fn generate() -> Self {
        Self(Zeroizing::new(random_array()))
    }

    /// A case key from raw bytes (tests, tooling). Prefer [`CaseKey::generate`].
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for CaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaseKey(***)")
    }
}

/// A case key wrapped under a KEK. `bytes` = nonce ‖ ciphertext ‖ tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedCaseKey {
    pub kek_id: KekId,
    pub bytes: Vec<u8>,
}

/// The configured key-encryption keys and which one is active.
pub struct KeyRing {
    active: KekId,
    keks: HashMap<KekId, Zeroizing<[u8; KEY_LEN]>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.keks.keys().map(KekId::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("KeyRing")
            .field("active", &self.active.as_str())
            .field("kek_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Builds a key ring. Errors if `active` is not among `keks`, if an id is
    /// repeated, or if a KEK is all zero bytes (an unfilled configuration value).
    pub fn new(active: KekId, keks: Vec<(KekId, [u8; 32])>) -> Result<Self, CryptoError> {
        let mut map = HashMap::with_capacity(keks.len());
        for (id, key) in keks {
            let key = Zeroizing::new(key);
            if key.iter().all(|&b| b == 0) {
                return Err(CryptoError::InvalidKey(format!(
                    "key-encryption key {id} is all zero bytes"
                )));
            }
            if map.contains_key(&id) {
                return Err(CryptoError::InvalidKey(format!(
                    "duplicate key-encryption key id {id}"
                )));
            }
            map.insert(id, key);
        }
        if !map.contains_key(&active) {
            return Err(CryptoError::InvalidKey(format!(
                "active key-encryption key {active} is not in the key ring"
            )));
        }
        Ok(Self { active, keks: map })
    }

    /// Like [`KeyRing::new`] from configuration strings: KEK ids and base64 (standard alphabet) keys.
    pub fn from_base64_config(active: &str, keks: &[(&str, &str)]) -> Result<Self, CryptoError> {
        let active = KekId::parse(active)?;
        let keks = keks
            .iter()
            .map(|(id, b64)| Ok((KekId::parse(id)?, *decode_kek_base64(b64)?)))
            .collect::<Result<Vec<_>, CryptoError>>()?;
        Self::new(active, keks)
    }

    #[must_use]
    pub fn active_id(&self) -> &KekId {
        &self.active
    }

    #[must_use]
    pub fn contains(&self, id: &KekId) -> bool {
        self.keks.contains_key(id)
    }

    /// Wraps `key` under the active KEK; the associated data binds `case_id` and the KEK id.
    #[must_use]
    pub fn wrap(&self, case_id: &str, key: &CaseKey) -> WrappedCaseKey {
        let kek = aead_key(&self.keks[&self.active]);
        let nonce_bytes: [u8; NONCE_LEN] = random_array();
        let aad = case_key_aad(&self.active, case_id);
        let mut bytes = Vec::with_capacity(WRAPPED_CASE_KEY_LEN);
        bytes.extend_from_slice(&nonce_bytes);
        bytes.extend_from_slice(key.as_bytes());
        let tag = kek
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(&aad),
                &mut bytes[NONCE_LEN..],
            )
            .expect("sealing 32 bytes cannot exceed AES-GCM limits");
        bytes.extend_from_slice(tag.as_ref());
        WrappedCaseKey {
            kek_id: self.active.clone(),
            bytes,
        }
    }

    /// Unwraps with whichever KEK of the ring `wrapped.kek_id` names.
    pub fn unwrap(&self, case_id: &str, wrapped: &WrappedCaseKey) -> Result<CaseKey, CryptoError> {
        let kek = self
            .keks
            .get(&wrapped.kek_id)
            .ok_or_else(|| CryptoError::UnknownKek(wrapped.kek_id.to_string()))?;
        if wrapped.bytes.len() != WRAPPED_CASE_KEY_LEN {
            return Err(CryptoError::Format("wrapped case key has the wrong length"));
        }
        let (nonce_bytes, sealed) = wrapped.bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce_bytes)
            .map_err(|_| CryptoError::Format("wrapped case key nonce"))?;
        let aad = case_key_aad(&wrapped.kek_id, case_id);
        let mut buf = Zeroizing::new([0u8; KEY_LEN + TAG_LEN]);
        buf.copy_from_slice(sealed);
        let plain = aead_key(kek)
            .open_in_place(nonce, Aad::from(&aad), &mut buf[..])
            .map_err(|_| CryptoError::Verify)?;
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(plain);
        Ok(CaseKey::from_bytes(key))
    }

    /// Unwraps `wrapped` and wraps it again under the active KEK (key rotation).
    pub fn rewrap(
        &self,
        case_id: &str,
        wrapped: &WrappedCaseKey,
    ) -> Result<WrappedCaseKey, CryptoError> {
        Ok(self.wrap(case_id, &self.unwrap(case_id, wrapped)?))
    }

    /// HKDF-SHA256 from the active KEK (salt [`SUBKEY_HKDF_SALT`], info = `label`).
    /// Changes when the active KEK changes.
    #[must_use]
    pub fn derive_subkey(&self, label: &str) -> [u8; 32] {
        self.derive_subkey_from(&self.active, label)
            .expect("the active KEK is in the ring")
    }

    /// The same derivation from a named KEK (to verify what an older active key signed).
    pub fn derive_subkey_from(&self, id: &KekId, label: &str) -> Option<[u8; 32]> {
        struct Len32;
        impl hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, SUBKEY_HKDF_SALT).extract(&self.keks.get(id)?[..]);
        let info = [label.as_bytes()];
        let mut out = [0u8; 32];
        prk.expand(&info, Len32)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32 bytes is within HKDF-SHA256 output limits");
        Some(out)
    }
}

fn case_key_aad(kek_id: &KekId, case_id: &str) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(CASE_KEY_AAD_DOMAIN.len() + 16 + kek_id.as_str().len() + case_id.len());
    aad.extend_from_slice(CASE_KEY_AAD_DOMAIN);
    push_len_prefixed(&mut aad, kek_id.as_str().as_bytes());
    push_len_prefixed(&mut aad, case_id.as_bytes());
    aad
}

/// A fresh random 256-bit key-encryption key.
#[must_use]
pub fn generate_kek() -> [u8; 32] {
    random_array()
}

/// Standard base64 (with padding) of a KEK, as written in configuration.
#[must_use]
pub fn encode_kek_base64(kek: &[u8; 32]) -> String {
    STANDARD.encode(kek)
}

/// Decodes a configured KEK: standard base64 of exactly 32 bytes (surrounding whitespace ignored).
pub fn decode_kek_base64(s: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let decoded =
        Zeroizing::new(STANDARD.decode(s.trim()).map_err(|_| {
            CryptoError::InvalidKey("key-encryption key is not valid base64".into())
        })?);
    let mut key = Zeroizing::new([0u8; 32]);
    if decoded.len() != key.len() {
        return Err(CryptoError::InvalidKey(format!(
            "key-encryption key must be 32 bytes, got {}",
            decoded.len()
        )));
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> KekId {
        KekId::parse(s).unwrap()
    }

    fn ring_with(active: &str, keks: &[(&str, [u8; 32])]) -> KeyRing {
        KeyRing::new(id(active), keks.iter().map(|(i, k)| (id(i), *k)).collect()).unwrap()
    }

    #[test]
    fn kek_id_accepts_valid_and_rejects_invalid() {
        assert_eq!(id("kek-2025_01").as_str(), "kek-2025_01");
        assert_eq!(id(&"a".repeat(32)).to_string().len(), 32);
        for bad in ["", "a b", "é", "a/b", "a.b", &"a".repeat(33)] {
            assert!(
                matches!(KekId::parse(bad), Err(CryptoError::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let ring = ring_with("k1", &[("k1", generate_kek())]);
        let key = CaseKey::generate();
        let wrapped = ring.wrap("case-1", &key);
        assert_eq!(wrapped.kek_id, id("k1"));
        assert_eq!(wrapped.bytes.len(), WRAPPED_CASE_KEY_LEN);
        let back = ring.unwrap("case-1", &wrapped).unwrap();
        assert_eq!(back.as_bytes(), key.as_bytes());
    }

    #[test]
    fn wrapping_twice_gives_different_bytes() {
        let ring = ring_with("k1", &[("k1", generate_kek())]);
        let key = CaseKey::generate();
        assert_ne!(ring.wrap("c", &key).bytes, ring.wrap("c", &key).bytes);
    }

    #[test]
    fn unwrap_with_other_case_id_fails() {
        let ring = ring_with("k1", &[("k1", generate_kek())]);
        let wrapped = ring.wrap("case-1", &CaseKey::generate());
        assert!(matches!(
            ring.unwrap("case-2", &wrapped),
            Err(CryptoError::Verify)
        ));
    }

    #[test]
    fn unwrap_with_unknown_kek_id_errors() {
        let ring = ring_with("k1", &[("k1", generate_kek())]);
        let mut wrapped = ring.wrap("case-1", &CaseKey::generate());
        wrapped.kek_id = id("k9");
        match ring.unwrap("case-1", &wrapped) {
            Err(CryptoError::UnknownKek(s)) => assert_eq!(s, "k9"),
            other => panic!("expected UnknownKek, got {other:?}"),
        }
    }

    #[test]
    fn unwrap_with_relabelled_kek_id_fails() {
        // Same key material under two ids: the id is bound in the AAD.
        let k = generate_kek();
        let ring = ring_with("a", &[("a", k), ("b", k)]);
        let mut wrapped = ring.wrap("c", &CaseKey::generate());
        wrapped.kek_id = id("b");
        assert!(matches!(
            ring.unwrap("c", &wrapped),
            Err(CryptoError::Verify)
        ));
    }

    #[test]
    fn unwrap_with_wrong_kek_or_tampered_bytes_fails() {
        let ring = ring_with("k1", &[("k1", generate_kek())]);
        let other = ring_with("k1", &[("k1", generate_kek())]);
        let wrapped = ring.wrap("c", &CaseKey::generate());
        assert!(matches!(
            other.unwrap("c", &wrapped),
            Err(CryptoError::Verify)
        ));
        for i in 0..wrapped.bytes.len() {
            let mut t = wrapped.clone();
            t.bytes[i] ^= 0x01;
            assert!(matches!(ring.unwrap("c", &t), Err(CryptoError::Verify)));
        }
        let mut short = wrapped;
        short.bytes.pop();
        assert!(matches!(
            ring.unwrap("c", &short),
            Err(CryptoError::Format(_))
        ));
    }

    #[test]
    fn rotation_old_wrapped_key_still_unwraps_and_rewraps_under_new_active() {
        let old = generate_kek();
        let new = generate_kek();
        let ring1 = ring_with("old", &[("old", old)]);
        let key = CaseKey::generate();
        let wrapped_old = ring1.wrap("case", &key);

        let ring2 = ring_with("new", &[("old", old), ("new", new)]);
        assert_eq!(ring2.active_id(), &id("new"));
        assert!(ring2.contains(&id("old")) && ring2.contains(&id("new")));
        assert_eq!(
            ring2.unwrap("case", &wrapped_old).unwrap().as_bytes(),
            key.as_bytes()
        );

        let wrapped_new = ring2.rewrap("case", &wrapped_old).unwrap();
        assert_eq!(wrapped_new.kek_id, id("new"));
        assert_eq!(
            ring2.unwrap("case", &wrapped_new).unwrap().as_bytes(),
            key.as_bytes()
        );

        // After retiring the old KEK, only the rewrapped key works.
        let ring3 = ring_with("new", &[("new", new)]);
        assert!(ring3.unwrap("case", &wrapped_new).is_ok());
        assert!(matches!(
            ring3.unwrap("case", &wrapped_old),
            Err(CryptoError::UnknownKek(_))
        ));
    }

    #[test]
    fn new_rejects_missing_active_duplicate_ids_and_zero_keys() {
        let k = generate_kek();
        assert!(matches!(
            KeyRing::new(id("x"), vec![(id("a"), k)]),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            KeyRing::new(id("x"), vec![]),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            KeyRing::new(id("a"), vec![(id("a"), k), (id("a"), generate_kek())]),
            Err(CryptoError::InvalidKey(_))
        ));
        assert!(matches!(
            KeyRing::new(id("a"), vec![(id("a"), [0u8; 32])]),
            Err(CryptoError::InvalidKey(_))
        ));
    }

    #[test]
    fn derive_subkey_is_deterministic_label_separated_and_follows_active() {
        let k1 = generate_kek();
        let k2 = generate_kek();
        let ring = ring_with("k1", &[("k1", k1), ("k2", k2)]);
        let same = ring_with("k1", &[("k1", k1)]);
        let rotated = ring_with("k2", &[("k1", k1), ("k2", k2)]);
        let a = ring.derive_subkey("link-token");
        assert_eq!(a, same.derive_subkey("link-token"));
        assert_ne!(a, ring.derive_subkey("other"));
        assert_ne!(a, rotated.derive_subkey("link-token"));
        assert_ne!(&a, &k1);
    }

    #[test]
    fn derive_subkey_matches_rfc5869_construction() {
        // Independent HKDF-SHA256 via ring::hmac, to pin the salt/info definition.
        use ring::hmac;
        let k = [0x42u8; 32];
        let ring = ring_with("k", &[("k", k)]);
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SUBKEY_HKDF_SALT), &k);
        let mut msg = b"lbl".to_vec();
        msg.push(1);
        let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &msg);
        assert_eq!(&ring.derive_subkey("lbl")[..], okm.as_ref());
    }

    #[test]
    fn debug_output_never_contains_key_material() {
        let k = [0xABu8; 32];
        let ring = ring_with("k1", &[("k1", k)]);
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("k1"));
        assert!(!dbg.to_lowercase().contains("ab, ab") && !dbg.contains("171"));
        assert_eq!(format!("{:?}", CaseKey::from_bytes(k)), "CaseKey(***)");
    }

    #[test]
    fn base64_config_round_trip_and_errors() {
        let k = generate_kek();
        let b64 = encode_kek_base64(&k);
        assert_eq!(*decode_kek_base64(&format!(" {b64}\n")).unwrap(), k);
        assert!(decode_kek_base64("not base64!").is_err());
        assert!(decode_kek_base64(&STANDARD.encode([1u8; 31])).is_err());
        let ring = KeyRing::from_base64_config("k1", &[("k1", &b64)]).unwrap();
        assert_eq!(ring.active_id().as_str(), "k1");
    }
}
