//! Chunked envelope encryption of stored blobs (documents, uploads).
//!
//! # Blob format, version 1 (FROZEN: blobs are stored; never change this layout
//! or any constant marked "do not change"; add a new version instead)
//!
//! ```text
//! offset     size  field
//! 0          4     MAGIC = "CSLB"
//! 4          1     VERSION = 0x01
//! 5          1     L = length of the KEK id (1..=32)
//! 6          L     KEK id, ASCII [A-Za-z0-9_-] (informational: the case key's wrapping KEK)
//! 6+L        12    data-key wrap nonce (random)
//! 18+L       32    data key, AES-256-GCM-encrypted under the case key
//! 50+L       16    data-key wrap tag
//! 66+L       7     STREAM nonce prefix (random)
//! 73+L       ...   chunks
//! ```
//!
//! The header is the first `73+L` bytes. The data key is a fresh random
//! 256-bit key per blob; its wrap uses associated data
//! `DEK_AAD_DOMAIN ‖ u64be(len object key) ‖ object key ‖ header[0..6+L]`.
//!
//! The plaintext is split into chunks of exactly [`CHUNK_SIZE`] (64 KiB) bytes,
//! except the last one, which holds 0..=64 KiB. Each chunk is stored as
//! `AES-256-GCM ciphertext ‖ 16-byte tag` under the data key (STREAM
//! construction of Hoang–Reyhanitabar–Rogaway–Vizár), with
//!
//! * nonce (96 bit) = nonce prefix (7 bytes) ‖ u32be(chunk index, from 0) ‖ last flag (1 byte: 0x01 on the final chunk, else 0x00);
//! * associated data = `CHUNK_AAD_DOMAIN ‖ u64be(len object key) ‖ object key ‖ header` (the whole header).
//!
//! An empty plaintext is one empty final chunk (just a tag). A plaintext of
//! exactly `N * CHUNK_SIZE` bytes (N ≥ 1) is N full chunks, the N-th flagged
//! last (no extra empty chunk). So `sealed_len = 73 + L + len + 16 * max(1, ceil(len / 64 KiB))`.
//!
//! Binding the object key (e.g. `cases/{uuid}/documents/{uuid}`) and the header
//! into every chunk means a blob moved to another object key, a changed header
//! bit, truncation, reordering, swapping, or appending all fail to open. Readers
//! never release plaintext of a chunk whose tag did not verify.

use ring::aead::Nonce;

use super::{KEY_LEN, KekId, NONCE_LEN, TAG_LEN, push_len_prefixed};

mod open;
mod seal;

pub use open::{BlobOpener, open_blob};
pub use seal::seal_blob;

/// Magic bytes at the start of every blob. Do not change.
pub const MAGIC: [u8; 4] = *b"CSLB";
/// Blob format version. Do not change (add a new version instead).
pub const VERSION: u8 = 1;
/// Plaintext bytes per chunk. Do not change.
pub const CHUNK_SIZE: usize = 64 * 1024;
/// Length of the STREAM nonce prefix. Do not change.
pub const NONCE_PREFIX_LEN: usize = 7;
/// Associated-data domain of the data-key wrap. Do not change.
pub const DEK_AAD_DOMAIN: &[u8] = b"consilium-blob-v1 data-key\0";
/// Associated-data domain of every chunk. Do not change.
pub const CHUNK_AAD_DOMAIN: &[u8] = b"consilium-blob-v1 chunk\0";

/// Magic + version + KEK id length byte.
const FIXED_PREFIX_LEN: usize = MAGIC.len() + 1 + 1;
/// Wrapped data key: nonce ‖ ciphertext ‖ tag.
const WRAPPED_DEK_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
/// A sealed full chunk.
const SEALED_CHUNK_LEN: usize = CHUNK_SIZE + TAG_LEN;
/// Header length without the KEK id.
const HEADER_FIXED_LEN: usize = FIXED_PREFIX_LEN + WRAPPED_DEK_LEN + NONCE_PREFIX_LEN;

fn header_len(kek_id_len: usize) -> usize {
    HEADER_FIXED_LEN + kek_id_len
}

fn chunk_count(plaintext_len: u64) -> u64 {
    plaintext_len.div_ceil(CHUNK_SIZE as u64).max(1)
}

/// Exact length of what [`seal_blob`] produces for `plaintext_len` bytes.
#[must_use]
pub fn sealed_len(plaintext_len: u64, kek_id: &KekId) -> u64 {
    header_len(kek_id.as_str().len()) as u64
        + plaintext_len
        + TAG_LEN as u64 * chunk_count(plaintext_len)
}

fn chunk_nonce(prefix: [u8; NONCE_PREFIX_LEN], index: u32, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..NONCE_PREFIX_LEN].copy_from_slice(&prefix);
    n[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
    n[NONCE_LEN - 1] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn dek_aad(object_key: &str, header_prefix: &[u8]) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(DEK_AAD_DOMAIN.len() + 8 + object_key.len() + header_prefix.len());
    aad.extend_from_slice(DEK_AAD_DOMAIN);
    push_len_prefixed(&mut aad, object_key.as_bytes());
    aad.extend_from_slice(header_prefix);
    aad
}

fn chunk_aad(object_key: &str, header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CHUNK_AAD_DOMAIN.len() + 8 + object_key.len() + header.len());
    aad.extend_from_slice(CHUNK_AAD_DOMAIN);
    push_len_prefixed(&mut aad, object_key.as_bytes());
    aad.extend_from_slice(header);
    aad
}

#[cfg(test)]
mod tests;
