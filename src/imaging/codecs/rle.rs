//! DICOM RLE Lossless (PS3.5 Annex G), decoded here rather than by dicom-pixeldata, which refuses
//! 32-bit samples (RT dose grids, some secondary captures).
//!
//! A frame is a 64-byte header (the segment count, at most 15, then 15 offsets, all little-endian
//! `u32`) followed by the segments. Each segment is one byte plane compressed with PackBits: for
//! every sample (colour plane) in turn, the most significant byte plane first. The output is the
//! frame in native little-endian layout, colour by plane (planar configuration 1).
//!
//! Nothing in the codestream is trusted: offsets must increase and stay inside the frame, every
//! plane must be filled exactly (a run that would cross the end of its plane is an error), and the
//! only allocation is the output of rows × columns × samples × bytes, which the caller has
//! already checked against the limits.

use crate::imaging::ImagingError;

/// Size of the RLE header: the segment count and 15 offsets.
const HEADER_LEN: usize = 64;
/// Most segments a header can describe.
const MAX_SEGMENTS: usize = 15;

fn malformed(what: &str) -> ImagingError {
    ImagingError::malformed(format!("RLE: {what}"))
}

/// Decodes one RLE frame of `pixels` pixels, `samples` (1 or 3) samples a pixel and
/// `bits_allocated` (8, 16 or 32) bits a sample into native little-endian bytes, colour by plane.
pub(crate) fn decode_frame(
    data: &[u8],
    pixels: usize,
    samples: u16,
    bits_allocated: u16,
) -> Result<Vec<u8>, ImagingError> {
    if !matches!(bits_allocated, 8 | 16 | 32) || !matches!(samples, 1 | 3) {
        return Err(ImagingError::not_previewable(format!(
            "RLE with {samples} samples of {bits_allocated} bits allocated is not supported"
        )));
    }
    let bytes = usize::from(bits_allocated / 8);
    let planes = usize::from(samples);
    let expected = planes * bytes;
    let header = data
        .get(..HEADER_LEN)
        .ok_or_else(|| malformed("the frame is shorter than its 64-byte header"))?;
    let word = |i: usize| {
        let b = &header[4 * i..4 * i + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    };
    let count = usize::try_from(word(0)).unwrap_or(usize::MAX);
    if count > MAX_SEGMENTS {
        return Err(malformed(&format!(
            "the header declares {count} segments, at most {MAX_SEGMENTS} are possible"
        )));
    }
    if count != expected {
        return Err(malformed(&format!(
            "{count} segments for {samples} sample(s) of {bits_allocated} bits, {expected} expected"
        )));
    }
    let mut bounds = Vec::with_capacity(count + 1);
    for i in 1..=count {
        bounds.push(usize::try_from(word(i)).unwrap_or(usize::MAX));
    }
    bounds.push(data.len());
    if bounds[0] < HEADER_LEN {
        return Err(malformed("the first segment starts inside the header"));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(malformed(
            "segment offsets are out of order or point past the end of the frame",
        ));
    }

    let plane_len = pixels
        .checked_mul(bytes)
        .ok_or_else(|| ImagingError::too_large("RLE frame"))?;
    let total = plane_len
        .checked_mul(planes)
        .ok_or_else(|| ImagingError::too_large("RLE frame"))?;
    let mut out = vec![0u8; total];
    for (segment, range) in bounds.windows(2).enumerate() {
        let (sample, byte) = (segment / bytes, segment % bytes);
        // Most significant byte first: segment byte 0 goes to the highest little-endian byte.
        let offset = sample * plane_len + (bytes - 1 - byte);
        let target = out
            .get_mut(offset..sample * plane_len + plane_len)
            .ok_or_else(|| malformed("segment layout"))?;
        unpack_segment(&data[range[0]..range[1]], target, bytes)
            .map_err(|e| malformed(&format!("segment {}: {e}", segment + 1)))?;
    }
    Ok(out)
}

/// PackBits-decodes `src` into every `stride`-th byte of `dst`, which it must fill exactly.
/// Bytes left over once the plane is full are ignored: segments are padded to an even length,
/// and some writers pad further (pydicom accepts those with a warning).
fn unpack_segment(src: &[u8], dst: &mut [u8], stride: usize) -> Result<(), String> {
    let need = dst.len().div_ceil(stride);
    let mut written = 0;
    let mut pos = 0;
    let mut put = |byte: u8, written: &mut usize| {
        dst[*written * stride] = byte;
        *written += 1;
    };
    while written < need {
        let Some(&header) = src.get(pos) else {
            return Err(format!("ends after {written} of {need} bytes"));
        };
        pos += 1;
        match header {
            0..=127 => {
                let n = usize::from(header) + 1;
                let literal = src
                    .get(pos..pos + n)
                    .ok_or_else(|| format!("a literal run of {n} bytes is cut off"))?;
                if written + n > need {
                    return Err(format!(
                        "a literal run of {n} bytes overflows the plane at byte {written} of {need}"
                    ));
                }
                for &b in literal {
                    put(b, &mut written);
                }
                pos += n;
            }
            // -128 is a no-op.
            128 => {}
            _ => {
                let n = 257 - usize::from(header);
                let &b = src
                    .get(pos)
                    .ok_or_else(|| "a replicate run is cut off".to_owned())?;
                if written + n > need {
                    return Err(format!(
                        "a replicate run of {n} bytes overflows the plane at byte {written} of {need}"
                    ));
                }
                for _ in 0..n {
                    put(b, &mut written);
                }
                pos += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PackBits as literal runs of at most 128 bytes.
    fn literal(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in data.chunks(128) {
            out.push(u8::try_from(chunk.len() - 1).unwrap());
            out.extend_from_slice(chunk);
        }
        out
    }

    /// A frame with the given segments (each padded to an even length) and its header.
    fn frame(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out[..4].copy_from_slice(&u32::try_from(segments.len()).unwrap().to_le_bytes());
        for (i, s) in segments.iter().enumerate() {
            let offset = u32::try_from(out.len()).unwrap();
            out[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_le_bytes());
            out.extend_from_slice(s);
            if out.len() % 2 == 1 {
                out.push(0);
            }
        }
        out
    }

    /// Byte plane `byte` (0 = most significant) of big-endian `values`.
    fn plane(values: &[u32], bytes: usize, byte: usize) -> Vec<u8> {
        values
            .iter()
            .map(|v| v.to_be_bytes()[4 - bytes + byte])
            .collect()
    }

    #[test]
    fn thirty_two_bit_planes_are_most_significant_first() {
        // RT dose-like values above 2^24, where every byte plane differs.
        let values: Vec<u32> = (0..12u32).map(|i| 16_777_217 + i * 1_000_003).collect();
        let segments: Vec<Vec<u8>> = (0..4).map(|b| literal(&plane(&values, 4, b))).collect();
        let out = decode_frame(&frame(&segments), 12, 1, 32).unwrap();
        let decoded: Vec<u32> = out
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(decoded, values);
    }

    #[test]
    fn three_samples_of_sixteen_bits_come_out_colour_by_plane() {
        let red: Vec<u32> = (0..6).map(|i| 0x0100 * i + 7).collect();
        let green: Vec<u32> = (0..6).map(|i| 0xFF00 - 0x0300 * i).collect();
        let blue: Vec<u32> = (0..6).map(|i| 0x1234 + i).collect();
        let mut segments = Vec::new();
        for colour in [&red, &green, &blue] {
            segments.push(literal(&plane(colour, 2, 0)));
            segments.push(literal(&plane(colour, 2, 1)));
        }
        let out = decode_frame(&frame(&segments), 6, 3, 16).unwrap();
        let decoded: Vec<u32> = out
            .chunks_exact(2)
            .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
            .collect();
        let expected: Vec<u32> = [red, green, blue].concat();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn replicate_runs_no_ops_and_trailing_padding() {
        // 0xFE: repeat 3 times; 0x80: no-op; then a literal; then padding after the plane.
        let seg = vec![0xFE, 9, 0x80, 0x01, 4, 5, 0x00, 0x00];
        assert_eq!(
            decode_frame(&frame(&[seg]), 5, 1, 8).unwrap(),
            vec![9, 9, 9, 4, 5]
        );
    }

    fn reason(r: Result<Vec<u8>, ImagingError>) -> String {
        match r {
            Err(ImagingError::Malformed { reason }) => reason,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn hostile_segment_tables_are_malformed() {
        let good = frame(&[literal(&[1, 2, 3, 4]), literal(&[5, 6, 7, 8])]);
        assert!(decode_frame(&good, 4, 1, 16).is_ok());

        assert!(reason(decode_frame(&good[..40], 4, 1, 16)).contains("header"));
        assert!(reason(decode_frame(&good, 4, 1, 8)).contains("2 segments"));
        let mut many = good.clone();
        many[0] = 16;
        assert!(reason(decode_frame(&many, 4, 1, 16)).contains("at most 15"));
        let mut swapped = good.clone();
        swapped[4..8].copy_from_slice(&70u32.to_le_bytes());
        swapped[8..12].copy_from_slice(&64u32.to_le_bytes());
        assert!(reason(decode_frame(&swapped, 4, 1, 16)).contains("out of order"));
        let mut past = good.clone();
        past[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(reason(decode_frame(&past, 4, 1, 16)).contains("past the end"));
        let mut inside = good.clone();
        inside[4..8].copy_from_slice(&8u32.to_le_bytes());
        assert!(reason(decode_frame(&inside, 4, 1, 16)).contains("header"));

        // Too short: three bytes for a four-byte plane.
        let short = frame(&[literal(&[1, 2, 3]), literal(&[5, 6, 7, 8])]);
        assert!(reason(decode_frame(&short, 4, 1, 16)).contains("ends after 3 of 4"));
        // Runs that would cross the end of the plane.
        let long_literal = frame(&[literal(&[1, 2, 3, 4, 5]), literal(&[5, 6, 7, 8])]);
        assert!(reason(decode_frame(&long_literal, 4, 1, 16)).contains("overflows"));
        let long_run = frame(&[vec![0x81, 1], literal(&[5, 6, 7, 8])]);
        assert!(reason(decode_frame(&long_run, 4, 1, 16)).contains("overflows"));
        // A literal run whose bytes are missing (the last segment ends with the frame).
        let cut = frame(&[literal(&[1, 2, 3, 4]), vec![0x7F, 1, 2]]);
        assert!(reason(decode_frame(&cut, 4, 1, 16)).contains("cut off"));

        assert!(matches!(
            decode_frame(&good, 4, 1, 1),
            Err(ImagingError::NotPreviewable { .. })
        ));
    }

    #[test]
    fn every_prefix_and_byte_flip_fails_cleanly() {
        let values: Vec<u32> = (0..64u32).map(|i| i * 0x0103_0507).collect();
        let segments: Vec<Vec<u8>> = (0..4).map(|b| literal(&plane(&values, 4, b))).collect();
        let data = frame(&segments);
        for len in 0..data.len() {
            let _ = decode_frame(&data[..len], 64, 1, 32);
        }
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0xA5;
            if let Ok(out) = decode_frame(&d, 64, 1, 32) {
                assert_eq!(out.len(), 256);
            }
        }
    }
}
