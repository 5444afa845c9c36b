//! Turning a frame's samples into an 8-bit image: monochrome (rescale and window), palette
//! colour and RGB/YBR.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use image::{DynamicImage, GrayImage, RgbImage};

use super::props::functional_group;
use super::{Frame, Props, rescale};
use crate::imaging::dicom_meta::float;
use crate::imaging::palette;
use crate::imaging::window::voi_linear;
use crate::imaging::{ImagingError, RenderRequest};

/// Reads sample `i` of a frame as a signed integer, masked to the stored bits.
pub(super) struct Samples<'a> {
    pub(super) data: &'a [u8],
    pub(super) bytes: usize,
    pub(super) mask: u32,
    pub(super) sign_bit: u32,
    pub(super) signed: bool,
}

impl<'a> Samples<'a> {
    pub(super) fn new(f: &'a Frame<'_>) -> Self {
        let bits_stored = u32::from(f.bits_stored.clamp(1, 32));
        Self {
            data: &f.data,
            bytes: usize::from(f.bits_allocated / 8).max(1),
            mask: if bits_stored >= 32 {
                u32::MAX
            } else {
                (1u32 << bits_stored) - 1
            },
            sign_bit: 1u32 << (bits_stored - 1),
            signed: f.signed,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.data.len() / self.bytes
    }

    pub(super) fn get(&self, i: usize) -> i64 {
        let o = i * self.bytes;
        let raw = match self.bytes {
            1 => u32::from(self.data[o]),
            2 => u32::from(u16::from_le_bytes([self.data[o], self.data[o + 1]])),
            _ => u32::from_le_bytes([
                self.data[o],
                self.data[o + 1],
                self.data[o + 2],
                self.data[o + 3],
            ]),
        } & self.mask;
        if self.signed && raw & self.sign_bit != 0 {
            i64::from(raw) - (i64::from(self.mask) + 1)
        } else {
            i64::from(raw)
        }
    }
}

pub(super) fn to_image(
    obj: &InMemDicomObject,
    props: &Props,
    frame: &Frame<'_>,
    req: &RenderRequest,
) -> Result<DynamicImage, ImagingError> {
    let pixels = usize::try_from(props.pixels()).map_err(|_| ImagingError::too_large("frame"))?;
    let samples = Samples::new(frame);
    let needed = match frame.photometric.as_str() {
        "YBR_FULL_422" => pixels.div_ceil(2) * 4,
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => pixels,
        _ => pixels * 3,
    };
    if samples.len() < needed {
        return Err(ImagingError::malformed(format!(
            "decoded frame holds {} samples, {needed} expected",
            samples.len()
        )));
    }
    match frame.photometric.as_str() {
        "MONOCHROME1" | "MONOCHROME2" => {
            let invert = frame.photometric == "MONOCHROME1";
            let grey = monochrome(obj, &samples, pixels, invert, req);
            GrayImage::from_raw(props.cols, props.rows, grey)
                .map(DynamicImage::ImageLuma8)
                .ok_or_else(|| ImagingError::malformed("frame size"))
        }
        "PALETTE COLOR" => {
            let rgb = palette(obj, &samples, pixels, frame.signed)?;
            rgb_image(props, rgb)
        }
        "RGB" | "YBR_FULL" | "YBR_RCT" | "YBR_ICT" => {
            let shift = u32::from(frame.bits_stored.saturating_sub(8));
            let to8 = |v: i64| -> u8 { u8::try_from((v.max(0) >> shift).min(255)).unwrap_or(255) };
            let mut rgb = Vec::with_capacity(pixels * 3);
            for i in 0..pixels {
                let (a, b, c) = if frame.planar {
                    (
                        samples.get(i),
                        samples.get(pixels + i),
                        samples.get(2 * pixels + i),
                    )
                } else {
                    (
                        samples.get(3 * i),
                        samples.get(3 * i + 1),
                        samples.get(3 * i + 2),
                    )
                };
                let (a, b, c) = (to8(a), to8(b), to8(c));
                if frame.photometric == "YBR_FULL" {
                    rgb.extend_from_slice(&ybr_to_rgb(a, b, c));
                } else {
                    rgb.extend_from_slice(&[a, b, c]);
                }
            }
            rgb_image(props, rgb)
        }
        "YBR_FULL_422" => {
            // Two pixels share one Cb and one Cr: Y1 Y2 Cb Cr.
            let shift = u32::from(frame.bits_stored.saturating_sub(8));
            let to8 = |v: i64| -> u8 { u8::try_from((v.max(0) >> shift).min(255)).unwrap_or(255) };
            let mut rgb = Vec::with_capacity(pixels * 3);
            for i in 0..pixels {
                let pair = i / 2 * 4;
                let y = to8(samples.get(pair + i % 2));
                let cb = to8(samples.get(pair + 2));
                let cr = to8(samples.get(pair + 3));
                rgb.extend_from_slice(&ybr_to_rgb(y, cb, cr));
            }
            rgb_image(props, rgb)
        }
        other => Err(ImagingError::not_previewable(format!(
            "photometric interpretation {other} is not supported"
        ))),
    }
}

pub(super) fn rgb_image(props: &Props, rgb: Vec<u8>) -> Result<DynamicImage, ImagingError> {
    RgbImage::from_raw(props.cols, props.rows, rgb)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| ImagingError::malformed("frame size"))
}

/// YCbCr (full range, ITU-R BT.601) to RGB, PS3.3 C.7.6.3.1.2.
pub(crate) fn ybr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (f64::from(y), f64::from(cb) - 128.0, f64::from(cr) - 128.0);
    let c = |v: f64| -> u8 {
        // Deliberate: clamped to 0..=255 first.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let b = v.round().clamp(0.0, 255.0) as u8;
        b
    };
    [
        c(y + 1.402 * cr),
        c(y - 0.344_136 * cb - 0.714_136 * cr),
        c(y + 1.772 * cb),
    ]
}

pub(super) fn monochrome(
    obj: &InMemDicomObject,
    samples: &Samples<'_>,
    pixels: usize,
    invert: bool,
    req: &RenderRequest,
) -> Vec<u8> {
    let frame = req.frame;
    let (slope, intercept) = rescale(obj, frame);
    #[allow(clippy::cast_precision_loss)] // Deliberate: samples have at most 32 bits.
    let modality = |i: usize| samples.get(i) as f64 * slope + intercept;

    let file_window = || -> Option<(f64, f64)> {
        let c = float(obj, tags::WINDOW_CENTER).or_else(|| {
            functional_group(obj, frame, tags::FRAME_VOILUT_SEQUENCE, tags::WINDOW_CENTER)
        })?;
        let w = float(obj, tags::WINDOW_WIDTH).or_else(|| {
            functional_group(obj, frame, tags::FRAME_VOILUT_SEQUENCE, tags::WINDOW_WIDTH)
        })?;
        (w >= 1.0).then_some((c, w))
    };
    let (center, width) = req
        .window
        .filter(|(c, w)| c.is_finite() && w.is_finite())
        .or_else(|| req.preset.window())
        .or_else(file_window)
        .unwrap_or_else(|| {
            // Full range of the frame's modality values (this is how 32-bit samples are
            // rescaled into 8 bits when the file carries no window).
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for i in 0..pixels {
                let v = modality(i);
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if lo.is_finite() && hi.is_finite() {
                ((lo + hi + 1.0) / 2.0, (hi - lo + 1.0).max(1.0))
            } else {
                (0.0, 1.0)
            }
        });
    (0..pixels)
        .map(|i| {
            let g = voi_linear(modality(i), center, width);
            if invert { 255 - g } else { g }
        })
        .collect()
}

/// Red, green and blue palette lookup tables scaled to 8 bits.
pub(super) fn palette(
    obj: &InMemDicomObject,
    samples: &Samples<'_>,
    pixels: usize,
    signed: bool,
) -> Result<Vec<u8>, ImagingError> {
    let channel = |descriptor: Tag, data: Tag, segmented: Tag| {
        palette::channel(
            obj,
            &palette::ChannelTags {
                descriptor,
                data,
                segmented,
            },
            signed,
        )
    };
    let red = channel(
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let green = channel(
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let blue = channel(
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let (first, bits) = (red.first, red.bits);
    let (r, g, b) = (red.table, green.table, blue.table);
    // 16-bit tables hold 16-bit intensities, except where writers put 8-bit values in them.
    let max = r.iter().chain(&g).chain(&b).copied().max().unwrap_or(0);
    let shift = if bits > 8 && max > 255 { 8 } else { 0 };
    let look = |t: &[u16], idx: i64| -> u8 {
        let i = usize::try_from(idx.max(0)).unwrap_or(0).min(t.len() - 1);
        u8::try_from((t[i] >> shift).min(255)).unwrap_or(255)
    };
    let mut out = Vec::with_capacity(pixels * 3);
    for i in 0..pixels {
        let idx = samples.get(i) - first;
        out.extend_from_slice(&[look(&r, idx), look(&g, idx), look(&b, idx)]);
    }
    Ok(out)
}
