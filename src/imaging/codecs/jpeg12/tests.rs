//! The 12-bit JPEG decoder against libjpeg-turbo: fixtures in `fixtures/jpeg12/`, written with
//! libjpeg's own decode of them by `scripts/make-jpeg12-fixtures.py`; and against hostile input.

use super::{Colour, decode, frame_header};
use crate::imaging::ImagingError;

const Q90: &[u8] = include_bytes!("../../../../fixtures/jpeg12/gradient-q90.jpg");
const Q90_TXT: &str = include_str!("../../../../fixtures/jpeg12/gradient-q90.txt");
const RESTART: &[u8] = include_bytes!("../../../../fixtures/jpeg12/gradient-q90-restart.jpg");
const RESTART_TXT: &str = include_str!("../../../../fixtures/jpeg12/gradient-q90-restart.txt");
const LIMIT: u64 = 1 << 20;

/// The source image, as the script computes it: a gradient with a sharp edge at column 20.
fn source(x: u32, y: u32) -> i64 {
    i64::from(200 + 60 * x + 25 * y + if x >= 20 { 800 } else { 0 })
}

/// libjpeg's decode as the script recorded it: (max error, checksum, points).
fn oracle(txt: &str) -> (i64, u64, Vec<(u32, u32, u16)>) {
    let mut lines = txt.lines();
    let mut value = |key: &str| -> String {
        let line = lines.next().unwrap();
        line.strip_prefix(key).unwrap().trim().to_owned()
    };
    let max_error = value("max_error").parse().unwrap();
    let checksum = value("checksum").parse().unwrap();
    let points = lines
        .map(|l| {
            let f: Vec<u32> = l.split(' ').map(|v| v.parse().unwrap()).collect();
            (f[0], f[1], u16::try_from(f[2]).unwrap())
        })
        .collect();
    (max_error, checksum, points)
}

#[test]
fn twelve_bit_fixtures_decode_exactly_as_libjpeg_does() {
    for (jpeg, txt) in [(Q90, Q90_TXT), (RESTART, RESTART_TXT)] {
        assert_eq!(frame_header(jpeg).map(|(_, p)| p), Some(12));
        let img = decode(jpeg, LIMIT).unwrap();
        assert_eq!((img.width, img.height, img.components), (40, 24, 1));
        assert_eq!((img.precision, img.colour), (12, Colour::Grey));
        let (max_error, checksum, points) = oracle(txt);
        // The same IDCT as libjpeg (its accurate integer one), so the same samples: checked
        // at the recorded points and by a checksum over all of them.
        for (x, y, v) in points {
            assert_eq!(img.samples[(y * 40 + x) as usize], v, "({x}, {y})");
        }
        let sum = img.samples.iter().enumerate().fold(0u64, |acc, (i, &v)| {
            acc.wrapping_add((i as u64 + 1).wrapping_mul(u64::from(v)))
        });
        assert_eq!(sum, checksum);
        // Against the source: at quality 90 libjpeg uses the 8-bit quantization tables
        // unscaled for 12-bit samples, so the steps are small against the 0..4095 range
        // (libjpeg's own decode is off by at most `max_error`, 2 here). Allow 4: the
        // ringing at the 800-step edge is what an encoder change would move first.
        assert!(max_error <= 4, "the fixture's libjpeg error is {max_error}");
        for y in 0..24 {
            for x in 0..40 {
                let got = i64::from(img.samples[(y * 40 + x) as usize]);
                assert!(
                    (got - source(x, y)).abs() <= 4,
                    "({x}, {y}): {got} vs {}",
                    source(x, y)
                );
            }
        }
    }
}

#[test]
fn truncated_scans_are_errors_at_every_length() {
    for jpeg in [Q90, RESTART] {
        let eoi = jpeg.len() - 2;
        assert_eq!(&jpeg[eoi..], &[0xFF, 0xD9]);
        for len in 0..eoi {
            assert!(
                decode(&jpeg[..len], LIMIT).is_err(),
                "prefix of {len} bytes"
            );
        }
        // Without its end-of-image marker the image is complete: accepted, as libjpeg does.
        assert!(decode(&jpeg[..eoi], LIMIT).is_ok());
    }
}

#[test]
fn random_bit_flips_end_quickly_without_panic() {
    let started = std::time::Instant::now();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for jpeg in [Q90, RESTART] {
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bit = usize::try_from(state % (jpeg.len() as u64 * 8)).unwrap();
            let mut b = jpeg.to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            // A flip inside the entropy-coded data may still decode (to a different image);
            // anything else must be a clean error.
            if let Ok(img) = std::panic::catch_unwind(|| decode(&b, LIMIT)).expect("no panic") {
                assert_eq!(
                    img.samples.len(),
                    img.width as usize * img.height as usize * usize::from(img.components)
                );
            }
        }
    }
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

/// `jpeg` with its frame header's marker replaced.
fn with_sof(jpeg: &[u8], marker: u8) -> Vec<u8> {
    let mut b = jpeg.to_vec();
    let at = b.windows(2).position(|w| w == [0xFF, 0xC1]).unwrap();
    b[at + 1] = marker;
    b
}

#[test]
fn other_processes_are_not_supported_and_hostile_headers_are_refused() {
    assert!(decode(&with_sof(Q90, 0xC0), LIMIT).is_ok());
    for (marker, what) in [
        (0xC2, "progressive"),
        (0xC3, "lossless"),
        (0xC5, "hierarchical"),
        (0xC9, "arithmetic"),
    ] {
        match decode(&with_sof(Q90, marker), LIMIT) {
            Err(ImagingError::NotPreviewable { reason }) => {
                assert!(reason.contains(what), "{reason}");
            }
            other => panic!("0xFF{marker:02X}: {other:?}"),
        }
    }
    let sof = Q90.windows(2).position(|w| w == [0xFF, 0xC1]).unwrap();
    // Over the caller's limit: refused before anything is allocated.
    let mut huge = Q90.to_vec();
    huge[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(matches!(
        decode(&huge, 1 << 26),
        Err(ImagingError::TooLarge { .. })
    ));
    // Within the limit, but more blocks than the codestream can hold.
    let mut big = Q90.to_vec();
    big[sof + 5..sof + 9].copy_from_slice(&[0x04, 0x00, 0x04, 0x00]);
    assert!(matches!(
        decode(&big, 1 << 26),
        Err(ImagingError::Malformed { .. })
    ));
    // 16-bit precision, four components, no tables.
    let mut p16 = Q90.to_vec();
    p16[sof + 4] = 16;
    assert!(matches!(
        decode(&p16, LIMIT),
        Err(ImagingError::NotPreviewable { .. })
    ));
    let mut four = Q90.to_vec();
    four[sof + 9] = 4;
    assert!(decode(&four, LIMIT).is_err());
    let dht = Q90.windows(2).position(|w| w == [0xFF, 0xC4]).unwrap();
    let mut no_tables = Q90.to_vec();
    no_tables[dht + 1] = 0xE5;
    assert!(matches!(
        decode(&no_tables, LIMIT),
        Err(ImagingError::Malformed { .. })
    ));
    for garbage in [
        &b""[..],
        &[0xFF, 0xD8],
        &[0xFF, 0xD8, 0xFF],
        &[0xFF; 64],
        &[0; 64],
    ] {
        assert!(decode(garbage, LIMIT).is_err());
    }
}
