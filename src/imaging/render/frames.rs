//! Getting one frame's samples out of the pixel data: native, encapsulated fragments, and the
//! JPEG-LS and 12-bit JPEG decoders, with the codestream size check before any of them.

use std::borrow::Cow;

use dicom_core::value::PrimitiveValue;

use super::Props;
use crate::imaging::codecs::jpeg12;
use crate::imaging::{ImagingError, Limits, no_panic};

/// One frame's samples in native little-endian layout.
pub(super) struct Frame<'a> {
    pub(super) data: Cow<'a, [u8]>,
    /// 8, 16 or 32 (1-bit data is expanded to 8).
    pub(super) bits_allocated: u16,
    pub(super) bits_stored: u16,
    pub(super) signed: bool,
    pub(super) planar: bool,
    pub(super) photometric: String,
}

/// Bytes of a primitive value in little-endian order (dicom-parser hands back OW as u16 values).
pub(in crate::imaging) fn le_bytes(p: &PrimitiveValue) -> Cow<'_, [u8]> {
    match p {
        PrimitiveValue::U8(v) => Cow::Borrowed(&v[..]),
        PrimitiveValue::U16(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        PrimitiveValue::I16(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        PrimitiveValue::U32(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        PrimitiveValue::I32(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        PrimitiveValue::F32(v) => Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        other => other.to_bytes(),
    }
}

pub(super) fn native_frame<'a>(
    p: &'a PrimitiveValue,
    props: &Props,
    frame: u32,
) -> Result<Frame<'a>, ImagingError> {
    let all = le_bytes(p);
    let samples = props.native_samples_per_frame();
    let bits = u64::from(props.bits_allocated);
    let start_bit = samples * bits * u64::from(frame);
    let end_bit = start_bit + samples * bits;
    let have_bits = all.len() as u64 * 8;
    if end_bit > have_bits {
        return Err(ImagingError::malformed(format!(
            "pixel data holds {} bytes; frame {frame} needs bytes up to {}",
            all.len(),
            end_bit.div_ceil(8)
        )));
    }
    let data: Cow<'a, [u8]> = if props.bits_allocated == 1 {
        // Bits are packed LSB first, frames follow each other without byte alignment.
        let unpacked: Vec<u8> = (start_bit..end_bit)
            .map(|i| {
                let byte = all[usize::try_from(i / 8).unwrap_or(usize::MAX)];
                (byte >> (i % 8)) & 1
            })
            .collect();
        Cow::Owned(unpacked)
    } else {
        let (s, e) = (
            usize::try_from(start_bit / 8).map_err(|_| ImagingError::too_large("frame offset"))?,
            usize::try_from(end_bit / 8).map_err(|_| ImagingError::too_large("frame offset"))?,
        );
        match all {
            Cow::Borrowed(b) => Cow::Borrowed(&b[s..e]),
            Cow::Owned(v) => Cow::Owned(v[s..e].to_vec()),
        }
    };
    let (bits_allocated, bits_stored) = if props.bits_allocated == 1 {
        (8, 1)
    } else {
        (props.bits_allocated, props.bits_stored)
    };
    Ok(Frame {
        data,
        bits_allocated,
        bits_stored,
        signed: props.signed && props.bits_allocated != 1,
        planar: props.planar,
        photometric: props.photometric.clone(),
    })
}

/// The fragments holding `frame`: one fragment a frame, or all fragments for a single frame.
pub(super) fn frame_fragments(
    fragments: &[Vec<u8>],
    frames: u32,
    frame: u32,
) -> Result<Cow<'_, [u8]>, ImagingError> {
    if fragments.len() == frames as usize {
        Ok(Cow::Borrowed(&fragments[frame as usize][..]))
    } else if frames == 1 {
        Ok(Cow::Owned(fragments.concat()))
    } else {
        Err(ImagingError::not_previewable(format!(
            "{} fragments for {frames} frames: frames split over several fragments are not supported for this transfer syntax",
            fragments.len()
        )))
    }
}

pub(super) fn jpeg_ls_frame(
    fragments: &[Vec<u8>],
    props: &Props,
    frame: u32,
) -> Result<Frame<'static>, ImagingError> {
    use crate::imaging::codecs::jpegls::{self, JpegLsError};
    let data = frame_fragments(fragments, props.frames, frame)?;
    // The header's geometry was checked against the limits; the codestream may not exceed it.
    let max_samples =
        u64::from(props.cols) * u64::from(props.rows) * u64::from(props.samples_per_pixel);
    let decoded = no_panic("decoding JPEG-LS", || {
        jpegls::decode(&data, max_samples).map_err(|e| match e {
            JpegLsError::Unsupported(_) => ImagingError::not_previewable(e.to_string()),
            _ => ImagingError::malformed(e.to_string()),
        })
    })?;
    if decoded.width != props.cols
        || decoded.height != props.rows
        || u16::from(decoded.components) != props.samples_per_pixel
    {
        return Err(ImagingError::malformed(format!(
            "JPEG-LS codestream is {}×{}×{} but the header says {}×{}×{}",
            decoded.width,
            decoded.height,
            decoded.components,
            props.cols,
            props.rows,
            props.samples_per_pixel
        )));
    }
    let bits_allocated = if decoded.bits_per_sample > 8 { 16 } else { 8 };
    Ok(Frame {
        data: Cow::Owned(decoded.pixels),
        bits_allocated,
        bits_stored: u16::from(decoded.bits_per_sample).clamp(1, bits_allocated),
        signed: props.signed,
        planar: false,
        photometric: props.photometric.clone(),
    })
}

/// Refuses codestreams whose own dimensions exceed the limits before a decoder allocates for
/// them (a JPEG can declare 65535 × 65535 whatever the DICOM header says).
pub(super) fn check_codestreams(
    fragments: &[Vec<u8>],
    limits: &Limits,
) -> Result<(), ImagingError> {
    for f in fragments {
        if let Some((w, h)) = codestream_dimensions(f) {
            let pixels = u64::from(w) * u64::from(h);
            if pixels > limits.max_pixels {
                return Err(ImagingError::too_large(format!(
                    "a compressed frame declares {w} × {h} pixels, over the limit of {}",
                    limits.max_pixels
                )));
            }
        }
    }
    Ok(())
}

/// Width and height declared by a JPEG, JPEG-LS, JPEG 2000 codestream or JP2 file.
pub(crate) fn codestream_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |p: usize| -> Option<u32> {
        Some(u32::from(u16::from_be_bytes(
            b.get(p..p + 2)?.try_into().ok()?,
        )))
    };
    let be32 =
        |p: usize| -> Option<u32> { Some(u32::from_be_bytes(b.get(p..p + 4)?.try_into().ok()?)) };
    if b.starts_with(&[0xFF, 0xD8]) {
        let mut pos = 2;
        loop {
            while b.get(pos) == Some(&0xFF) && b.get(pos + 1) == Some(&0xFF) {
                pos += 1;
            }
            if b.get(pos) != Some(&0xFF) {
                return None;
            }
            let marker = *b.get(pos + 1)?;
            if marker == 0x01 || (0xD0..=0xD8).contains(&marker) {
                pos += 2;
                continue;
            }
            let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if is_sof || marker == 0xF7 {
                return Some((be16(pos + 7)?, be16(pos + 5)?));
            }
            if marker == 0xDA || marker == 0xD9 {
                return None;
            }
            pos += 2 + usize::try_from(be16(pos + 2)?).ok()?;
        }
    } else if b.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        let (x, y, xo, yo) = (be32(8)?, be32(12)?, be32(16)?, be32(20)?);
        Some((x.saturating_sub(xo), y.saturating_sub(yo)))
    } else if b.starts_with(&[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20]) {
        let head = &b[..b.len().min(4096)];
        let at = head.windows(4).position(|w| w == b"ihdr")? + 4;
        Some((be32(at + 4)?, be32(at)?))
    } else {
        None
    }
}

/// Whether `frame` is a 12-bit JPEG, which jpeg-decoder (the registry's) cannot decode.
pub(super) fn is_jpeg12(fragments: &[Vec<u8>], props: &Props, frame: u32) -> bool {
    frame_fragments(fragments, props.frames, frame)
        .is_ok_and(|data| matches!(jpeg12::frame_header(&data), Some((_, 12))))
}

pub(super) fn jpeg12_frame(
    fragments: &[Vec<u8>],
    props: &Props,
    frame: u32,
    limits: &Limits,
) -> Result<Frame<'static>, ImagingError> {
    let data = frame_fragments(fragments, props.frames, frame)?;
    let img = jpeg12::decode(&data, limits.max_pixels)?;
    if img.width != props.cols
        || img.height != props.rows
        || u16::from(img.components) != props.samples_per_pixel
    {
        return Err(ImagingError::malformed(format!(
            "JPEG codestream is {}×{}×{} but the header says {}×{}×{}",
            img.width, img.height, img.components, props.cols, props.rows, props.samples_per_pixel
        )));
    }
    let photometric = match img.colour {
        jpeg12::Colour::Grey => props.photometric.clone(),
        jpeg12::Colour::YCbCr => "YBR_FULL".to_owned(),
        jpeg12::Colour::Rgb => "RGB".to_owned(),
    };
    Ok(Frame {
        data: Cow::Owned(img.samples.iter().flat_map(|s| s.to_le_bytes()).collect()),
        bits_allocated: 16,
        bits_stored: u16::from(img.precision),
        signed: props.signed,
        planar: false,
        photometric,
    })
}
