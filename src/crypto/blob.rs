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

use ring::aead::{Aad, LessSafeKey, Nonce};
use zeroize::Zeroizing;

use super::{
    CaseKey, CryptoError, KEY_LEN, KekId, NONCE_LEN, TAG_LEN, aead_key, push_len_prefixed,
    random_array,
};

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

/// Verifies and decrypts one sealed chunk, appending its plaintext to `out`.
/// On failure nothing is appended (and the unverified bytes are wiped).
fn open_chunk_into(
    key: &LessSafeKey,
    prefix: [u8; NONCE_PREFIX_LEN],
    index: u64,
    last: bool,
    aad: &[u8],
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    if sealed.len() < TAG_LEN {
        return Err(CryptoError::Verify);
    }
    let index = u32::try_from(index).map_err(|_| CryptoError::Format("too many chunks"))?;
    let start = out.len();
    out.extend_from_slice(sealed);
    let opened = key
        .open_in_place(
            chunk_nonce(prefix, index, last),
            Aad::from(aad),
            &mut out[start..],
        )
        .map(|plain| plain.len());
    if let Ok(len) = opened {
        out.truncate(start + len);
        Ok(())
    } else {
        out[start..].fill(0);
        out.truncate(start);
        Err(CryptoError::Verify)
    }
}

/// Full header length given its first [`FIXED_PREFIX_LEN`] bytes.
fn header_len_from_prefix(prefix: &[u8]) -> Result<usize, CryptoError> {
    if prefix[..MAGIC.len()] != MAGIC {
        return Err(CryptoError::Format("not a Consilium blob (bad magic)"));
    }
    if prefix[MAGIC.len()] != VERSION {
        return Err(CryptoError::Format("unsupported blob version"));
    }
    let id_len = usize::from(prefix[MAGIC.len() + 1]);
    if id_len == 0 || id_len > super::keyring::KEK_ID_MAX_LEN {
        return Err(CryptoError::Format("bad KEK id length in blob header"));
    }
    Ok(header_len(id_len))
}

/// What a reader needs after parsing and verifying a complete header.
struct BodyState {
    key: LessSafeKey,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    aad: Vec<u8>,
    index: u64,
}

/// Parses a complete header (length already checked) and unwraps the data key.
fn open_header(
    case_key: &CaseKey,
    object_key: &str,
    header: &[u8],
) -> Result<BodyState, CryptoError> {
    let prefix_len = header.len() - WRAPPED_DEK_LEN - NONCE_PREFIX_LEN;
    let id = std::str::from_utf8(&header[FIXED_PREFIX_LEN..prefix_len])
        .map_err(|_| CryptoError::Format("bad KEK id in blob header"))?;
    KekId::parse(id).map_err(|_| CryptoError::Format("bad KEK id in blob header"))?;

    let wrapped = &header[prefix_len..prefix_len + WRAPPED_DEK_LEN];
    let nonce = Nonce::try_assume_unique_for_key(&wrapped[..NONCE_LEN])
        .map_err(|_| CryptoError::Format("data-key nonce"))?;
    let mut dek = Zeroizing::new([0u8; KEY_LEN + TAG_LEN]);
    dek.copy_from_slice(&wrapped[NONCE_LEN..]);
    let aad = dek_aad(object_key, &header[..prefix_len]);
    let plain = aead_key(case_key.as_bytes())
        .open_in_place(nonce, Aad::from(&aad), &mut dek[..])
        .map_err(|_| CryptoError::Verify)?;
    let mut dek_bytes = Zeroizing::new([0u8; KEY_LEN]);
    dek_bytes.copy_from_slice(plain);

    let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
    nonce_prefix.copy_from_slice(&header[header.len() - NONCE_PREFIX_LEN..]);
    Ok(BodyState {
        key: aead_key(&dek_bytes),
        nonce_prefix,
        aad: chunk_aad(object_key, header),
        index: 0,
    })
}

/// Decrypts a whole blob produced by [`seal_blob`] for the same `object_key`.
pub fn open_blob(
    case_key: &CaseKey,
    object_key: &str,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < FIXED_PREFIX_LEN {
        return Err(CryptoError::Verify);
    }
    let hlen = header_len_from_prefix(&sealed[..FIXED_PREFIX_LEN])?;
    if sealed.len() < hlen {
        return Err(CryptoError::Verify);
    }
    let (header, body) = sealed.split_at(hlen);
    let mut st = open_header(case_key, object_key, header)?;
    if body.is_empty() {
        return Err(CryptoError::Verify);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut chunks = body.chunks(SEALED_CHUNK_LEN).peekable();
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        open_chunk_into(
            &st.key,
            st.nonce_prefix,
            st.index,
            last,
            &st.aad,
            chunk,
            &mut out,
        )?;
        st.index += 1;
    }
    Ok(out)
}

enum OpenerState {
    /// Collecting header bytes.
    Header {
        case_key: CaseKey,
        object_key: String,
        buf: Vec<u8>,
    },
    /// Header verified; `buf` holds at most one sealed chunk not yet known to be non-final.
    Body { st: Box<BodyState>, buf: Vec<u8> },
    /// An error was returned; every later call fails.
    Failed,
}

/// Incremental blob reader for streaming downloads.
///
/// Buffers at most one sealed chunk (64 KiB + 16 bytes) plus the header,
/// whatever the blob size. Plaintext is returned only for chunks whose tag
/// verified. After any error the opener is poisoned: later calls return
/// [`CryptoError::Verify`]. The caller must call [`BlobOpener::finish`] and
/// treat the download as failed unless it succeeds (only then is the
/// blob known to be complete).
pub struct BlobOpener {
    state: OpenerState,
}

impl std::fmt::Debug for BlobOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            OpenerState::Header { .. } => "header",
            OpenerState::Body { .. } => "body",
            OpenerState::Failed => "failed",
        };
        f.debug_struct("BlobOpener")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl BlobOpener {
    #[must_use]
    pub fn new(case_key: &CaseKey, object_key: &str) -> Self {
        Self {
            state: OpenerState::Header {
                case_key: case_key.clone(),
                object_key: object_key.to_owned(),
                buf: Vec::with_capacity(header_len(super::keyring::KEK_ID_MAX_LEN)),
            },
        }
    }

    /// Feed the next ciphertext bytes (any split, e.g. 1 byte at a time or 1 MiB); returns the
    /// plaintext of every chunk that is now complete AND verified (a full chunk is held back
    /// until at least one more byte arrives, since only then is it known not to be last).
    ///
    /// On error, no plaintext from this call is returned (not even of chunks that verified
    /// before the failing one) and the opener is poisoned.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let result = self.push_inner(bytes);
        if result.is_err() {
            self.state = OpenerState::Failed;
        }
        result
    }

    fn push_inner(&mut self, mut input: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::new();
        loop {
            match &mut self.state {
                OpenerState::Failed => return Err(CryptoError::Verify),
                OpenerState::Header {
                    case_key,
                    object_key,
                    buf,
                } => {
                    let need = if buf.len() < FIXED_PREFIX_LEN {
                        FIXED_PREFIX_LEN
                    } else {
                        header_len_from_prefix(buf)?
                    };
                    let take = (need - buf.len()).min(input.len());
                    buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if buf.len() < need {
                        return Ok(out);
                    }
                    if need == FIXED_PREFIX_LEN {
                        continue; // now the full header length is known
                    }
                    let st = open_header(case_key, object_key, buf)?;
                    out.reserve(input.len());
                    self.state = OpenerState::Body {
                        st: Box::new(st),
                        buf: Vec::with_capacity(SEALED_CHUNK_LEN),
                    };
                }
                OpenerState::Body { st, buf } => {
                    if input.is_empty() {
                        return Ok(out);
                    }
                    if buf.len() == SEALED_CHUNK_LEN {
                        // More bytes follow, so the buffered full chunk is not the last.
                        open_chunk_into(
                            &st.key,
                            st.nonce_prefix,
                            st.index,
                            false,
                            &st.aad,
                            buf,
                            &mut out,
                        )?;
                        st.index += 1;
                        buf.clear();
                    } else if buf.is_empty() && input.len() > SEALED_CHUNK_LEN {
                        // Fast path: a whole non-final chunk straight from the input.
                        let (chunk, rest) = input.split_at(SEALED_CHUNK_LEN);
                        open_chunk_into(
                            &st.key,
                            st.nonce_prefix,
                            st.index,
                            false,
                            &st.aad,
                            chunk,
                            &mut out,
                        )?;
                        st.index += 1;
                        input = rest;
                    } else {
                        let take = (SEALED_CHUNK_LEN - buf.len()).min(input.len());
                        buf.extend_from_slice(&input[..take]);
                        input = &input[take..];
                    }
                }
            }
        }
    }

    /// End of input: verify the final chunk (must carry the last flag), return its plaintext.
    /// Missing final chunk / truncation => [`CryptoError::Verify`].
    pub fn finish(self) -> Result<Vec<u8>, CryptoError> {
        match self.state {
            OpenerState::Failed | OpenerState::Header { .. } => Err(CryptoError::Verify),
            OpenerState::Body { st, buf } => {
                let mut out = Vec::with_capacity(buf.len());
                open_chunk_into(
                    &st.key,
                    st.nonce_prefix,
                    st.index,
                    true,
                    &st.aad,
                    &buf,
                    &mut out,
                )?;
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJ: &str =
        "cases/0b6c9a38-1c1e-4bb0-9a52-6f4d7c1f0e11/documents/5f0e2a1c-77a4-4f0b-8d2e-1b9d3c4e5f60";

    fn kek() -> KekId {
        KekId::parse("kek-2025").unwrap()
    }

    #[allow(clippy::cast_possible_truncation)]
    fn data(len: usize) -> Vec<u8> {
        // Cheap deterministic non-repeating-ish pattern.
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8)
            .collect()
    }

    fn hlen() -> usize {
        header_len(kek().as_str().len())
    }

    /// Offset of chunk `i` in a sealed blob.
    fn chunk_off(i: usize) -> usize {
        hlen() + i * SEALED_CHUNK_LEN
    }

    /// Feeds `sealed` to a `BlobOpener` in pieces of the given sizes (cycled);
    /// returns all plaintext released before the first error, and the final result.
    fn stream_open(
        key: &CaseKey,
        object_key: &str,
        sealed: &[u8],
        sizes: &[usize],
    ) -> (Vec<u8>, Result<(), CryptoError>) {
        let mut opener = BlobOpener::new(key, object_key);
        let mut released = Vec::new();
        let mut rest = sealed;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            i += 1;
            match opener.push(&rest[..n]) {
                Ok(p) => released.extend_from_slice(&p),
                Err(e) => return (released, Err(e)),
            }
            rest = &rest[n..];
        }
        match opener.finish() {
            Ok(p) => {
                released.extend_from_slice(&p);
                (released, Ok(()))
            }
            Err(e) => (released, Err(e)),
        }
    }

    fn assert_round_trip(len: usize, piece_sizes: &[&[usize]]) {
        let key = CaseKey::generate();
        let pt = data(len);
        let sealed = seal_blob(&key, &kek(), OBJ, &pt);
        assert_eq!(
            sealed.len() as u64,
            sealed_len(len as u64, &kek()),
            "sealed_len for {len}"
        );
        assert_eq!(
            open_blob(&key, OBJ, &sealed).unwrap(),
            pt,
            "open_blob for {len}"
        );
        for sizes in piece_sizes {
            let (got, res) = stream_open(&key, OBJ, &sealed, sizes);
            res.unwrap_or_else(|e| panic!("stream open {len} with {sizes:?}: {e}"));
            assert!(got == pt, "stream open {len} with {sizes:?}");
        }
    }

    /// Every way the sealed bytes may be opened must fail.
    fn assert_fails_to_open(key: &CaseKey, object_key: &str, sealed: &[u8], what: &str) {
        assert!(
            open_blob(key, object_key, sealed).is_err(),
            "open_blob accepted {what}"
        );
        for sizes in [&[usize::MAX][..], &[1], &[4093, 65_552, 7]] {
            let (_, res) = stream_open(key, object_key, sealed, sizes);
            assert!(res.is_err(), "BlobOpener ({sizes:?}) accepted {what}");
        }
    }

    #[test]
    fn round_trip_small_sizes_with_one_byte_pieces() {
        for len in [0, 1, 2, 15, 16, 17, 1000] {
            assert_round_trip(len, &[&[usize::MAX], &[1], &[2, 3, 5], &[7]]);
        }
    }

    #[test]
    fn round_trip_around_chunk_boundary() {
        for len in [
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            2 * CHUNK_SIZE,
            3 * CHUNK_SIZE + 5,
        ] {
            assert_round_trip(
                len,
                &[
                    &[usize::MAX],
                    &[1],
                    &[4093],
                    &[65_552],
                    &[65_553],
                    &[65_551, 1, 2],
                ],
            );
        }
    }

    #[test]
    fn round_trip_8_mib() {
        assert_round_trip(
            8 << 20,
            &[&[usize::MAX], &[1 << 20], &[65_552], &[12_345, 999_999, 3]],
        );
    }

    #[test]
    fn sealed_len_matches_layout() {
        let k = kek();
        let h = hlen() as u64;
        assert_eq!(h, 73 + 8);
        assert_eq!(sealed_len(0, &k), h + 16);
        assert_eq!(sealed_len(1, &k), h + 1 + 16);
        assert_eq!(sealed_len(65_536, &k), h + 65_536 + 16);
        assert_eq!(sealed_len(65_537, &k), h + 65_537 + 32);
        assert_eq!(sealed_len(8 << 20, &k), h + (8 << 20) + 128 * 16);
        let long = KekId::parse(&"x".repeat(32)).unwrap();
        let key = CaseKey::generate();
        assert_eq!(
            seal_blob(&key, &long, OBJ, b"abc").len() as u64,
            sealed_len(3, &long)
        );
    }

    #[test]
    fn header_layout_is_as_documented() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, b"hello");
        assert_eq!(&sealed[..4], b"CSLB");
        assert_eq!(sealed[4], 1);
        assert_eq!(usize::from(sealed[5]), "kek-2025".len());
        assert_eq!(&sealed[6..14], b"kek-2025");
        // Empty plaintext is a single tag after the header.
        assert_eq!(seal_blob(&key, &kek(), OBJ, b"").len(), hlen() + TAG_LEN);
    }

    #[test]
    fn sealing_is_randomized() {
        let key = CaseKey::generate();
        let a = seal_blob(&key, &kek(), OBJ, b"same");
        let b = seal_blob(&key, &kek(), OBJ, b"same");
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_case_key_fails() {
        let sealed = seal_blob(&CaseKey::generate(), &kek(), OBJ, &data(70_000));
        assert_fails_to_open(&CaseKey::generate(), OBJ, &sealed, "wrong case key");
    }

    #[test]
    fn other_object_key_fails() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(70_000));
        let other = OBJ.replace("5f0e2a1c", "5f0e2a1d");
        assert_fails_to_open(&key, &other, &sealed, "moved object key");
        assert_fails_to_open(&key, "", &sealed, "empty object key");
    }

    #[test]
    fn flipped_bit_in_each_header_field_fails() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(3 * CHUNK_SIZE + 100));
        let h = hlen();
        let fields = [
            ("magic", 0),
            ("magic end", 3),
            ("version", 4),
            ("kek id length", 5),
            ("kek id", 6),
            ("kek id last char", 13),
            ("wrapped data key nonce", 14),
            ("wrapped data key ciphertext", 14 + 12 + 5),
            ("wrapped data key tag", 14 + 12 + 32 + 15),
            ("nonce prefix first byte", h - 7),
            ("nonce prefix last byte", h - 1),
        ];
        for (name, off) in fields {
            for bit in [0, 7] {
                let mut t = sealed.clone();
                t[off] ^= 1 << bit;
                assert_fails_to_open(&key, OBJ, &t, name);
            }
        }
    }

    #[test]
    fn kek_id_in_header_swapped_for_other_valid_id_fails() {
        let key = CaseKey::generate();
        let mut sealed = seal_blob(&key, &kek(), OBJ, b"x");
        sealed[6..14].copy_from_slice(b"kek-2026");
        assert_fails_to_open(&key, OBJ, &sealed, "relabelled kek id");
    }

    #[test]
    fn every_bit_flip_of_a_small_blob_fails() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, b"patient letter");
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut t = sealed.clone();
                t[i] ^= 1 << bit;
                assert!(open_blob(&key, OBJ, &t).is_err(), "byte {i} bit {bit}");
                let (released, res) = stream_open(&key, OBJ, &t, &[1]);
                assert!(
                    res.is_err() && released.is_empty(),
                    "stream byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn flipped_bit_in_any_chunk_body_or_tag_fails() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(3 * CHUNK_SIZE + 100));
        let last = chunk_off(3);
        let cases = [
            ("chunk 0 first byte", chunk_off(0)),
            ("chunk 0 middle", chunk_off(0) + 30_000),
            ("chunk 0 tag", chunk_off(1) - 1),
            ("chunk 1 body", chunk_off(1) + 1),
            ("chunk 1 tag", chunk_off(2) - 16),
            ("chunk 2 body", chunk_off(2) + 65_535),
            ("last chunk body", last + 50),
            ("last chunk tag", sealed.len() - 1),
            ("last chunk tag start", sealed.len() - 16),
        ];
        for (name, off) in cases {
            let mut t = sealed.clone();
            t[off] ^= 0x20;
            assert_fails_to_open(&key, OBJ, &t, name);
        }
    }

    #[test]
    fn truncation_fails_at_and_between_chunk_boundaries() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(3 * CHUNK_SIZE + 100));
        let h = hlen();
        let cuts = [
            ("empty", 0),
            ("inside magic", 3),
            ("inside header", h - 1),
            ("header only", h),
            ("inside chunk 0", h + 100),
            ("after chunk 0", chunk_off(1)),
            ("after chunk 1", chunk_off(2)),
            ("after chunk 2 (whole last chunk dropped)", chunk_off(3)),
            ("inside chunk 1", chunk_off(1) + 777),
            ("inside last chunk", chunk_off(3) + 20),
            ("one byte short", sealed.len() - 1),
            ("last tag partially", sealed.len() - 15),
        ];
        for (name, n) in cuts {
            assert_fails_to_open(&key, OBJ, &sealed[..n], name);
        }
    }

    #[test]
    fn truncating_exact_multiple_blob_at_chunk_boundary_fails() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(2 * CHUNK_SIZE));
        assert_eq!(sealed.len(), chunk_off(2));
        assert_fails_to_open(
            &key,
            OBJ,
            &sealed[..chunk_off(1)],
            "dropped last full chunk",
        );
        // Appending an empty "final chunk" lookalike or garbage also fails.
        let mut longer = sealed.clone();
        longer.extend_from_slice(&[0u8; TAG_LEN]);
        assert_fails_to_open(&key, OBJ, &longer, "appended tag");
    }

    #[test]
    fn appending_bytes_fails() {
        let key = CaseKey::generate();
        let mut sealed = seal_blob(&key, &kek(), OBJ, &data(100));
        sealed.push(0);
        assert_fails_to_open(&key, OBJ, &sealed, "one extra byte");
    }

    #[test]
    fn swapping_two_chunks_fails() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(4 * CHUNK_SIZE + 10));
        let mut t = sealed.clone();
        let (a, b) = (chunk_off(1), chunk_off(2));
        let c1 = sealed[a..b].to_vec();
        let c2 = sealed[b..chunk_off(3)].to_vec();
        t[a..b].copy_from_slice(&c2);
        t[b..chunk_off(3)].copy_from_slice(&c1);
        assert_fails_to_open(&key, OBJ, &t, "chunks 1 and 2 swapped");
        // Duplicating a chunk (replacing chunk 2 with chunk 1) fails too.
        let mut d = sealed.clone();
        d[b..chunk_off(3)].copy_from_slice(&c1);
        assert_fails_to_open(&key, OBJ, &d, "chunk 1 duplicated");
    }

    #[test]
    fn chunk_from_another_blob_with_same_key_fails() {
        let key = CaseKey::generate();
        let a = seal_blob(&key, &kek(), OBJ, &data(2 * CHUNK_SIZE + 1));
        let b = seal_blob(&key, &kek(), OBJ, &data(2 * CHUNK_SIZE + 1));
        let mut t = a.clone();
        t[chunk_off(1)..chunk_off(2)].copy_from_slice(&b[chunk_off(1)..chunk_off(2)]);
        assert_fails_to_open(&key, OBJ, &t, "spliced chunk");
        // A whole header from another blob (other data key) fails too.
        let mut t = a.clone();
        t[..hlen()].copy_from_slice(&b[..hlen()]);
        assert_fails_to_open(&key, OBJ, &t, "spliced header");
    }

    #[test]
    fn opener_releases_only_verified_chunks_before_tampered_chunk() {
        let key = CaseKey::generate();
        let pt = data(4 * CHUNK_SIZE + 1234); // 5 chunks
        let mut sealed = seal_blob(&key, &kek(), OBJ, &pt);
        sealed[chunk_off(2) + 10] ^= 1; // tamper the third chunk
        for sizes in [&[1000][..], &[65_552], &[65_553], &[1], &[usize::MAX]] {
            let (released, res) = stream_open(&key, OBJ, &sealed, sizes);
            assert!(matches!(res, Err(CryptoError::Verify)), "{sizes:?}");
            // Only whole verified chunks (at most the first two) and never any byte of chunk 3+.
            assert!(
                released.len() <= 2 * CHUNK_SIZE && released.len() % CHUNK_SIZE == 0,
                "{sizes:?}"
            );
            assert_eq!(released, pt[..released.len()], "{sizes:?}");
            if sizes[0] <= SEALED_CHUNK_LEN {
                assert_eq!(released.len(), 2 * CHUNK_SIZE, "{sizes:?}");
            }
        }
    }

    #[test]
    fn opener_holds_back_full_chunk_until_next_byte() {
        let key = CaseKey::generate();
        let pt = data(2 * CHUNK_SIZE);
        let sealed = seal_blob(&key, &kek(), OBJ, &pt);
        let mut op = BlobOpener::new(&key, OBJ);
        assert!(op.push(&sealed[..chunk_off(1)]).unwrap().is_empty());
        assert_eq!(
            op.push(&sealed[chunk_off(1)..=chunk_off(1)]).unwrap(),
            pt[..CHUNK_SIZE]
        );
        assert!(op.push(&sealed[chunk_off(1) + 1..]).unwrap().is_empty());
        assert_eq!(op.finish().unwrap(), pt[CHUNK_SIZE..]);
    }

    #[test]
    fn opener_is_poisoned_after_error() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(3 * CHUNK_SIZE));
        let mut t = sealed.clone();
        t[chunk_off(0) + 5] ^= 1;
        let mut op = BlobOpener::new(&key, OBJ);
        assert!(op.push(&t[..=chunk_off(1)]).is_err());
        // Feeding the genuine rest must not resume.
        assert!(op.push(&sealed[chunk_off(1) + 1..]).is_err());
        assert!(op.finish().is_err());
    }

    #[test]
    fn opener_buffer_stays_bounded() {
        let key = CaseKey::generate();
        let sealed = seal_blob(&key, &kek(), OBJ, &data(10 * CHUNK_SIZE + 3));
        let mut op = BlobOpener::new(&key, OBJ);
        for piece in sealed.chunks(1000) {
            op.push(piece).unwrap();
            if let OpenerState::Body { buf, .. } = &op.state {
                assert!(buf.len() <= SEALED_CHUNK_LEN);
                assert!(buf.capacity() <= SEALED_CHUNK_LEN);
            }
        }
        assert_eq!(op.finish().unwrap().len(), 3);
    }
}
