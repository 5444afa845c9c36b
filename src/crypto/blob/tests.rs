//! Tests of the blob format: round trips, the frozen layout, and every tampering that must fail.

use super::open::OpenerState;
use super::*;
use crate::crypto::{CaseKey, CryptoError};

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
