//! Encryption of individual personal-data values stored in SQL columns
//! (patient name, email, condition, file names, ...).
//!
//! Format (do not change; it is stored):
//! `FIELD_VERSION (1 byte) ‖ 12-byte random nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag`,
//! under the case key, with associated data [`FIELD_AAD_DOMAIN`] ‖ `context`.
//! The caller's `context` (e.g. `"case/{id}/full_name"`) binds the value to its
//! row and column, so it cannot be moved elsewhere.

use ring::aead::{Aad, Nonce};

use super::{CaseKey, CryptoError, NONCE_LEN, TAG_LEN, aead_key, random_array};

/// Version byte of the field format. Do not change.
pub const FIELD_VERSION: u8 = 1;
/// Domain prefix of the associated data (separates field values from other
/// uses of the case key). Do not change.
pub const FIELD_AAD_DOMAIN: &[u8] = b"consilium-field-v1\0";
/// Bytes [`encrypt_field`] adds to the plaintext.
pub const FIELD_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

fn field_aad(context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(FIELD_AAD_DOMAIN.len() + context.len());
    aad.extend_from_slice(FIELD_AAD_DOMAIN);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// Encrypts one value under the case key; `context` must be given again to decrypt.
#[must_use]
pub fn encrypt_field(case_key: &CaseKey, context: &str, plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random_array();
    let mut out = Vec::with_capacity(plaintext.len() + FIELD_OVERHEAD);
    out.push(FIELD_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = aead_key(case_key.as_bytes())
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(field_aad(context)),
            &mut out[1 + NONCE_LEN..],
        )
        .expect("field value exceeds AES-GCM message limit");
    out.extend_from_slice(tag.as_ref());
    out
}

/// Decrypts a value produced by [`encrypt_field`] with the same case key and context.
pub fn decrypt_field(
    case_key: &CaseKey,
    context: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < FIELD_OVERHEAD {
        return Err(CryptoError::Format("encrypted field is too short"));
    }
    if sealed[0] != FIELD_VERSION {
        return Err(CryptoError::Format("unsupported encrypted field version"));
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[1..=NONCE_LEN])
        .map_err(|_| CryptoError::Format("encrypted field nonce"))?;
    let mut buf = sealed[1 + NONCE_LEN..].to_vec();
    let opened = aead_key(case_key.as_bytes())
        .open_in_place(nonce, Aad::from(field_aad(context)), &mut buf)
        .map(|plain| plain.len());
    let Ok(len) = opened else {
        buf.fill(0);
        return Err(CryptoError::Verify);
    };
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_round_trip_including_empty_and_unicode() {
        let key = CaseKey::generate();
        for value in [
            &b""[..],
            b"a",
            "Zoë Müller-Łukasiewicz".as_bytes(),
            &[0u8; 5000],
        ] {
            let sealed = encrypt_field(&key, "case/1/full_name", value);
            assert_eq!(sealed.len(), value.len() + FIELD_OVERHEAD);
            assert_eq!(sealed[0], FIELD_VERSION);
            assert_eq!(
                decrypt_field(&key, "case/1/full_name", &sealed).unwrap(),
                value
            );
        }
    }

    #[test]
    fn field_encryption_is_randomized() {
        let key = CaseKey::generate();
        assert_ne!(
            encrypt_field(&key, "c", b"same"),
            encrypt_field(&key, "c", b"same")
        );
    }

    #[test]
    fn field_with_wrong_context_fails() {
        let key = CaseKey::generate();
        let sealed = encrypt_field(&key, "case/1/full_name", b"Alice");
        for ctx in ["case/1/email", "case/2/full_name", "", "case/1/full_name "] {
            assert!(matches!(
                decrypt_field(&key, ctx, &sealed),
                Err(CryptoError::Verify)
            ));
        }
    }

    #[test]
    fn field_with_wrong_case_key_fails() {
        let sealed = encrypt_field(&CaseKey::generate(), "c", b"Alice");
        assert!(matches!(
            decrypt_field(&CaseKey::generate(), "c", &sealed),
            Err(CryptoError::Verify)
        ));
    }

    #[test]
    fn field_every_bit_flip_fails() {
        let key = CaseKey::generate();
        let sealed = encrypt_field(&key, "c", b"condition: confidential");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut t = sealed.clone();
                t[i] ^= 1 << bit;
                assert!(decrypt_field(&key, "c", &t).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn field_truncated_or_extended_fails() {
        let key = CaseKey::generate();
        let sealed = encrypt_field(&key, "c", b"Alice");
        for n in 0..sealed.len() {
            assert!(decrypt_field(&key, "c", &sealed[..n]).is_err(), "len {n}");
        }
        let mut longer = sealed;
        longer.push(0);
        assert!(decrypt_field(&key, "c", &longer).is_err());
    }
}
