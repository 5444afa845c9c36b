//! The JPEG-LS decoder against CharLS-made fixtures (`fixtures/jpegls/`, written by
//! `scripts/make-jpegls-fixtures.py`), and against hostile input.

use super::{Image, JpegLsError, decode};

/// The synthetic image the fixtures were made from; the same integer formula as `synthetic` in
/// `scripts/make-jpegls-fixtures.py`: flat areas (run mode), gradients, mild and full noise.
fn synthetic(width: u32, height: u32, components: u32, maxval: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for y in 0..height {
        for x in 0..width {
            for c in 0..components {
                let mut h = x
                    .wrapping_mul(0x9E37_79B1)
                    .wrapping_add(y.wrapping_mul(0x85EB_CA77))
                    .wrapping_add(c.wrapping_mul(0xC2B2_AE3D))
                    .wrapping_add(0x27D4_EB2F);
                h ^= h >> 15;
                h = h.wrapping_mul(0x2C1B_3C6D);
                h ^= h >> 12;
                let gradient = (x * 5 + y * 3 + c * 17) * maxval / (width * 5 + height * 3 + 34);
                let v = if y < height / 4 || (x >= width / 2 && y >= 3 * height / 4) {
                    maxval / 3
                } else if x < width / 3 {
                    gradient
                } else if x < 5 * width / 6 {
                    maxval.min(gradient + h % (maxval / 64 + 2))
                } else {
                    h % (maxval + 1)
                };
                out.push(v);
            }
        }
    }
    out
}

struct Fixture {
    name: &'static str,
    bytes: &'static [u8],
    width: u32,
    height: u32,
    components: u32,
    bits: u8,
    maxval: u32,
    near: u32,
}

macro_rules! fixture {
    ($name:literal, $w:expr, $h:expr, $c:expr, $bits:expr, $maxval:expr, $near:expr) => {
        Fixture {
            name: $name,
            bytes: include_bytes!(concat!("../../../../fixtures/jpegls/", $name, ".jls")),
            width: $w,
            height: $h,
            components: $c,
            bits: $bits,
            maxval: $maxval,
            near: $near,
        }
    };
}

/// Every fixture of the generator script, with the parameters it was made with.
fn fixtures() -> Vec<Fixture> {
    vec![
        fixture!("grey8_lossless", 37, 23, 1, 8, 255, 0),
        fixture!("grey8_near3", 37, 23, 1, 8, 255, 3),
        fixture!("grey4_lossless", 37, 23, 1, 4, 15, 0),
        fixture!("grey4_near1", 37, 23, 1, 4, 15, 1),
        fixture!("grey12_lossless", 37, 23, 1, 12, 4095, 0),
        fixture!("grey12_near2", 37, 23, 1, 12, 4095, 2),
        fixture!("grey16_lossless", 37, 23, 1, 16, 65535, 0),
        fixture!("grey16_near3", 37, 23, 1, 16, 65535, 3),
        fixture!("grey12_preset", 37, 23, 1, 12, 4095, 1),
        fixture!("grey12_maxval3000_charls", 37, 23, 1, 12, 3000, 0),
        fixture!("rgb8_none_lossless", 37, 23, 3, 8, 255, 0),
        fixture!("rgb8_line_lossless", 37, 23, 3, 8, 255, 0),
        fixture!("rgb8_sample_lossless", 37, 23, 3, 8, 255, 0),
        fixture!("rgb8_none_near2", 37, 23, 3, 8, 255, 2),
        fixture!("rgb8_line_near2", 37, 23, 3, 8, 255, 2),
        fixture!("rgb8_sample_near2", 37, 23, 3, 8, 255, 2),
        fixture!("rgb12_line_lossless", 19, 11, 3, 12, 4095, 0),
        fixture!("rgb16_sample_near3", 19, 11, 3, 16, 65535, 3),
        fixture!("grey8_restart", 37, 23, 1, 8, 255, 0),
        fixture!("rgb8_line_near2_restart", 37, 23, 3, 8, 255, 2),
        fixture!("rgb8_sample_restart", 37, 23, 3, 8, 255, 0),
    ]
}

const LIMIT: u64 = 1 << 24;

fn samples(img: &Image) -> Vec<u32> {
    if img.bits_per_sample > 8 {
        img.pixels
            .chunks_exact(2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
            .collect()
    } else {
        img.pixels.iter().map(|&b| u32::from(b)).collect()
    }
}

/// Decodes a fixture and returns the largest difference from the synthetic image.
fn max_error(f: &Fixture) -> u32 {
    let img = decode(f.bytes, LIMIT).unwrap_or_else(|e| panic!("{}: {e}", f.name));
    assert_eq!(
        (
            img.width,
            img.height,
            u32::from(img.components),
            img.bits_per_sample
        ),
        (f.width, f.height, f.components, f.bits),
        "{}: geometry",
        f.name
    );
    let want = synthetic(f.width, f.height, f.components, f.maxval);
    let got = samples(&img);
    assert_eq!(got.len(), want.len(), "{}: sample count", f.name);
    got.iter()
        .zip(&want)
        .map(|(g, w)| g.abs_diff(*w))
        .max()
        .unwrap_or(0)
}

#[test]
fn lossless_fixtures_decode_to_exactly_the_synthetic_image() {
    let lossless: Vec<_> = fixtures().into_iter().filter(|f| f.near == 0).collect();
    assert_eq!(lossless.len(), 11);
    for f in &lossless {
        assert_eq!(max_error(f), 0, "{}", f.name);
    }
}

#[test]
fn near_lossless_fixtures_stay_within_near_at_every_sample() {
    let near: Vec<_> = fixtures().into_iter().filter(|f| f.near > 0).collect();
    assert_eq!(near.len(), 10);
    for f in &near {
        let e = max_error(f);
        assert!(e <= f.near, "{}: error {e} over NEAR {}", f.name, f.near);
        // The images have noise: a decoder that ignored NEAR would not land here by chance.
        assert!(
            e > 0,
            "{}: a near-lossless file decoded without any error",
            f.name
        );
    }
}

#[test]
fn restart_markers_and_lse_presets_and_comments_are_honoured() {
    for (name, marker) in [
        ("grey8_restart", [0xFF, 0xDD]),
        ("rgb8_sample_restart", [0xFF, 0xD0]),
        ("grey12_preset", [0xFF, 0xF8]),
        ("grey8_lossless", [0xFF, 0xFE]),
    ] {
        let f = fixtures().into_iter().find(|f| f.name == name).unwrap();
        assert!(
            f.bytes.windows(2).any(|w| w == marker),
            "{name} lacks the marker it is meant to exercise"
        );
    }
}

#[test]
fn truncated_streams_are_errors_at_every_7th_byte() {
    for f in fixtures() {
        for len in (0..f.bytes.len()).step_by(7) {
            assert!(
                decode(&f.bytes[..len], LIMIT).is_err(),
                "{} cut to {len} bytes decoded",
                f.name
            );
        }
    }
}

#[test]
fn flipped_bits_never_panic() {
    let mut state: u32 = 12345;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        state >> 8
    };
    for f in fixtures() {
        for _ in 0..40 {
            let mut bytes = f.bytes.to_vec();
            for _ in 0..=next() % 3 {
                let bit = next() as usize % (bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            // Either outcome is fine; a panic or a hang is not.
            let _ = decode(&bytes, LIMIT);
        }
    }
}

/// A codestream header: SOI, SOF55 with the given geometry, SOS for all components.
fn header(bits: u8, height: u16, width: u16, components: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xF7, 0, 8 + 3 * components, bits];
    b.extend(height.to_be_bytes());
    b.extend(width.to_be_bytes());
    b.push(components);
    for c in 1..=components {
        b.extend([c, 0x11, 0]);
    }
    b.extend([0xFF, 0xDA, 0, 6 + 2 * components, components]);
    for c in 1..=components {
        b.extend([c, 0]);
    }
    b.extend([0, u8::from(components > 1), 0]);
    b
}

#[test]
fn absurd_dimensions_are_refused_before_allocating() {
    let huge = header(16, 65535, 65535, 3);
    assert_eq!(
        decode(&huge, 8192 * 8192 * 3),
        Err(JpegLsError::TooLarge {
            samples: 65535 * 65535 * 3,
            limit: 8192 * 8192 * 3
        })
    );
    // Within the limit but with no data: an error, found quickly.
    let mut empty = header(8, 2000, 2000, 1);
    empty.extend([0xFF, 0xD9]);
    assert!(decode(&empty, LIMIT).is_err());
}

#[test]
fn unsupported_features_are_named() {
    let unsupported = |bytes: &[u8]| match decode(bytes, LIMIT) {
        Err(JpegLsError::Unsupported(what)) => what,
        other => panic!("expected Unsupported, got {other:?}"),
    };
    // A mapping table (LSE type 2) before the scan.
    let mut mapped = vec![0xFF, 0xD8, 0xFF, 0xF8, 0, 6, 2, 1, 1, 0];
    mapped.extend(&header(8, 4, 4, 1)[2..]);
    assert!(unsupported(&mapped).contains("mapping"));
    // A height to be given by a DNL marker.
    assert!(unsupported(&header(8, 0, 4, 1)).contains("DNL"));
    // Two components.
    assert!(unsupported(&header(8, 4, 4, 2)).contains("component"));
    // Baseline JPEG is not JPEG-LS.
    assert!(unsupported(&[0xFF, 0xD8, 0xFF, 0xC0, 0, 2]).contains("SOF"));
}
