//! Sealing a blob: the header with its wrapped data key, then the chunks.

use ring::aead::{Aad, LessSafeKey, Nonce};
use zeroize::Zeroizing;

use super::{
    CHUNK_SIZE, MAGIC, NONCE_PREFIX_LEN, VERSION, chunk_aad, chunk_count, chunk_nonce, dek_aad,
    header_len, sealed_len,
};
use crate::crypto::{CaseKey, KEY_LEN, KekId, NONCE_LEN, aead_key, random_array};

/// Encrypts `plaintext` for storage at `object_key`. `kek_id` is the id of the
/// KEK that wraps the case key (recorded in the header for information).
///
/// # Panics
/// If the plaintext needs more than 2^32 chunks (256 TiB).
#[must_use]
pub fn seal_blob(
    case_key: &CaseKey,
    kek_id: &KekId,
    object_key: &str,
    plaintext: &[u8],
) -> Vec<u8> {
    let chunks = chunk_count(plaintext.len() as u64);
    assert!(chunks <= 1 << 32, "blob too large");
    let total =
        usize::try_from(sealed_len(plaintext.len() as u64, kek_id)).expect("blob too large");
    let mut out = Vec::with_capacity(total);

    // Header.
    let id = kek_id.as_str().as_bytes();
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(u8::try_from(id.len()).expect("KekId is at most 32 bytes"));
    out.extend_from_slice(id);
    let prefix_len = out.len();

    let dek: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(random_array());
    let wrap_nonce: [u8; NONCE_LEN] = random_array();
    let aad = dek_aad(object_key, &out[..prefix_len]);
    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&dek[..]);
    let tag = aead_key(case_key.as_bytes())
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(wrap_nonce),
            Aad::from(&aad),
            &mut out[prefix_len + NONCE_LEN..],
        )
        .expect("sealing a 32-byte key cannot fail");
    out.extend_from_slice(tag.as_ref());

    let nonce_prefix: [u8; NONCE_PREFIX_LEN] = random_array();
    out.extend_from_slice(&nonce_prefix);
    debug_assert_eq!(out.len(), header_len(id.len()));

    // Chunks, sealed in place.
    let key = aead_key(&dek);
    let aad = chunk_aad(object_key, &out);
    let mut pieces = plaintext.chunks(CHUNK_SIZE).peekable();
    let mut index: u32 = 0;
    if plaintext.is_empty() {
        seal_chunk_into(&key, nonce_prefix, 0, true, &aad, &[], &mut out);
    }
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        seal_chunk_into(&key, nonce_prefix, index, last, &aad, piece, &mut out);
        index = index.wrapping_add(1);
    }
    debug_assert_eq!(out.len(), total);
    out
}

fn seal_chunk_into(
    key: &LessSafeKey,
    prefix: [u8; NONCE_PREFIX_LEN],
    index: u32,
    last: bool,
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            chunk_nonce(prefix, index, last),
            Aad::from(aad),
            &mut out[start..],
        )
        .expect("64 KiB chunk is within AES-GCM limits");
    out.extend_from_slice(tag.as_ref());
}
