//! Opening a blob, whole or as a stream ([`BlobOpener`]): the header, then each chunk verified
//! before its plaintext is released.

use ring::aead::{Aad, LessSafeKey, Nonce};
use zeroize::Zeroizing;

use super::{
    FIXED_PREFIX_LEN, MAGIC, NONCE_PREFIX_LEN, SEALED_CHUNK_LEN, VERSION, WRAPPED_DEK_LEN,
    chunk_aad, chunk_nonce, dek_aad, header_len,
};
use crate::crypto::{CaseKey, CryptoError, KEY_LEN, KekId, NONCE_LEN, TAG_LEN, aead_key};

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
    if id_len == 0 || id_len > crate::crypto::keyring::KEK_ID_MAX_LEN {
        return Err(CryptoError::Format("bad KEK id length in blob header"));
    }
    Ok(header_len(id_len))
}

/// What a reader needs after parsing and verifying a complete header.
pub(super) struct BodyState {
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

pub(super) enum OpenerState {
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
    pub(super) state: OpenerState,
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
                buf: Vec::with_capacity(header_len(crate::crypto::keyring::KEK_ID_MAX_LEN)),
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
