//! Rendering one frame of a DICOM object to an 8-bit preview.

use std::borrow::Cow;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DicomValue, Tag};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::transfer_syntax::Codec;
use dicom_object::InMemDicomObject;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use image::{DynamicImage, GrayImage, RgbImage};

use super::dicom_meta::{self, float, int, text};
use super::scan;
use super::window::{check_window, voi_linear};
use super::{ImagingError, Limits, RenderRequest, Rendered, encode_output, error_chain, no_panic};
use super::{jpeg12, palette, rle};

const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";

/// Renders frame `req.frame` of a DICOM object; see the module docs of [`super`].
pub fn render_dicom(
    bytes: &[u8],
    req: &RenderRequest,
    limits: &Limits,
) -> Result<Rendered, ImagingError> {
    no_panic("rendering the DICOM object", || {
        let img = render_frame(bytes, req, limits)?;
        encode_output(&img, req.size, req.format)
    })
}

/// How a frame's pixel data is to be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Native,
    JpegLs,
    /// Ours (`rle`): dicom-pixeldata refuses 32-bit samples.
    Rle,
    /// 12-bit codestreams by ours (`jpeg12`), 8-bit ones by the registry (jpeg-decoder).
    Jpeg,
    Registry,
}

fn decoder_for(ts_uid: &str) -> Result<Decoder, ImagingError> {
    if matches!(
        ts_uid,
        scan::IMPLICIT_VR_LE
            | scan::EXPLICIT_VR_LE
            | scan::EXPLICIT_VR_BE
            | scan::DEFLATED_EXPLICIT_VR_LE
    ) {
        return Ok(Decoder::Native);
    }
    if matches!(ts_uid, JPEG_LS_LOSSLESS | JPEG_LS_NEAR_LOSSLESS) {
        return Ok(Decoder::JpegLs);
    }
    if ts_uid == RLE_LOSSLESS {
        return Ok(Decoder::Rle);
    }
    if matches!(ts_uid, JPEG_BASELINE | JPEG_EXTENDED) {
        return Ok(Decoder::Jpeg);
    }
    match TransferSyntaxRegistry.get(ts_uid) {
        Some(ts) if matches!(ts.codec(), Codec::None) => Ok(Decoder::Native),
        Some(ts) if matches!(ts.codec(), Codec::EncapsulatedPixelData(Some(_), _)) => {
            Ok(Decoder::Registry)
        }
        Some(ts) => Err(ImagingError::not_previewable(format!(
            "transfer syntax {ts_uid} ({}) cannot be decoded by this build",
            ts.name()
        ))),
        None => Err(ImagingError::not_previewable(format!(
            "transfer syntax {ts_uid} is unknown to this build"
        ))),
    }
}

/// The image attributes needed to interpret one frame.
#[derive(Debug, Clone)]
struct Props {
    rows: u32,
    cols: u32,
    samples_per_pixel: u16,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    planar: bool,
    photometric: String,
    frames: u32,
}

impl Props {
    fn from_obj(obj: &InMemDicomObject) -> Result<Self, ImagingError> {
        let missing = |name: &str| ImagingError::malformed(format!("{name} is missing or invalid"));
        let rows: u32 = int(obj, tags::ROWS).ok_or_else(|| missing("Rows"))?;
        let cols: u32 = int(obj, tags::COLUMNS).ok_or_else(|| missing("Columns"))?;
        if rows == 0 || cols == 0 {
            return Err(ImagingError::malformed("Rows or Columns is zero"));
        }
        let samples_per_pixel: u16 = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        if !matches!(samples_per_pixel, 1 | 3) {
            return Err(ImagingError::not_previewable(format!(
                "{samples_per_pixel} samples per pixel are not supported"
            )));
        }
        let bits_allocated: u16 =
            int(obj, tags::BITS_ALLOCATED).ok_or_else(|| missing("Bits Allocated"))?;
        if !matches!(bits_allocated, 1 | 8 | 16 | 32) {
            return Err(ImagingError::not_previewable(format!(
                "{bits_allocated} bits allocated per sample are not supported"
            )));
        }
        let bits_stored = int::<u16>(obj, tags::BITS_STORED)
            .filter(|&b| b > 0 && b <= bits_allocated)
            .unwrap_or(bits_allocated);
        let signed = int::<u16>(obj, tags::PIXEL_REPRESENTATION) == Some(1);
        let planar = int::<u16>(obj, tags::PLANAR_CONFIGURATION) == Some(1);
        let photometric = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_else(|| {
            if samples_per_pixel == 3 {
                "RGB".to_owned()
            } else {
                "MONOCHROME2".to_owned()
            }
        });
        let frames = int::<u32>(obj, tags::NUMBER_OF_FRAMES)
            .filter(|&n| n > 0)
            .unwrap_or(1);
        Ok(Self {
            rows,
            cols,
            samples_per_pixel,
            bits_allocated,
            bits_stored,
            signed,
            planar,
            photometric,
            frames,
        })
    }

    fn pixels(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.cols)
    }

    /// Samples one frame holds in the native encoding (YBR_FULL_422 stores 2 per pixel).
    fn native_samples_per_frame(&self) -> u64 {
        if self.photometric == "YBR_FULL_422" {
            self.pixels().div_ceil(2) * 4
        } else {
            self.pixels() * u64::from(self.samples_per_pixel)
        }
    }
}

fn check_limits(p: &Props, limits: &Limits) -> Result<(), ImagingError> {
    let pixels = p.pixels();
    if pixels > limits.max_pixels {
        return Err(ImagingError::too_large(format!(
            "{} × {} = {pixels} pixels a frame exceeds the limit of {}",
            p.rows, p.cols, limits.max_pixels
        )));
    }
    let voxels = pixels.saturating_mul(u64::from(p.frames));
    if voxels > limits.max_voxels {
        return Err(ImagingError::too_large(format!(
            "{} × {} × {} frames = {voxels} voxels exceeds the limit of {}",
            p.rows, p.cols, p.frames, limits.max_voxels
        )));
    }
    Ok(())
}

/// One frame's samples in native little-endian layout.
struct Frame<'a> {
    data: Cow<'a, [u8]>,
    /// 8, 16 or 32 (1-bit data is expanded to 8).
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    planar: bool,
    photometric: String,
}

fn render_frame(
    bytes: &[u8],
    req: &RenderRequest,
    limits: &Limits,
) -> Result<DynamicImage, ImagingError> {
    let header = dicom_meta::read_header(
        bytes,
        scan::Inflate::Whole {
            cap: scan::MAX_INFLATED_BYTES,
        },
    )?;
    let Some(pixel) = header.layout.pixel.clone() else {
        return Err(ImagingError::not_previewable(dicom_meta::no_image_reason(
            &header.obj,
        )));
    };
    if pixel.element != 0x0010 {
        return Err(ImagingError::not_previewable(
            "floating-point pixel data (e.g. a parametric map) is not previewed",
        ));
    }
    let props = Props::from_obj(&header.obj)?;
    check_limits(&props, limits)?;
    if req.frame >= props.frames {
        return Err(ImagingError::FrameOutOfRange {
            frames: props.frames,
        });
    }
    if let Some(window) = req.window {
        // Before any pixel is decoded: an explicit window must fit what the samples can hold.
        let (slope, intercept) = rescale(&header.obj, req.frame);
        let (lo, hi) = stored_range(props.bits_stored, props.signed);
        check_window(window, lo * slope + intercept, hi * slope + intercept)?;
    }
    let decoder = decoder_for(&header.container.ts_uid)?;
    let end = pixel.end.clone().map_err(ImagingError::malformed)?;

    // Parse the pixel data element on its own and add it to the header object.
    let pixel_obj = dicom_meta::parse_elements(
        &header.container.dataset[pixel.start..end],
        &header.container.parse_ts_uid,
    )?;
    let element = pixel_obj
        .get(tags::PIXEL_DATA)
        .cloned()
        .ok_or_else(|| ImagingError::malformed("pixel data element could not be read"))?;
    let mut obj = header.obj;
    obj.put(element);

    let pixel_value = obj
        .get(tags::PIXEL_DATA)
        .map(|e| e.value().clone())
        .ok_or_else(|| ImagingError::malformed("pixel data element could not be read"))?;

    let frame = match (&pixel_value, decoder) {
        // Native pixel data, also when a file mislabels it with an encapsulated syntax.
        (DicomValue::Primitive(p), _) => native_frame(p, &props, req.frame)?,
        (DicomValue::PixelSequence(seq), Decoder::JpegLs) => {
            check_codestreams(seq.fragments(), limits)?;
            jpeg_ls_frame(seq.fragments(), &props, req.frame)?
        }
        (DicomValue::PixelSequence(seq), Decoder::Rle) => {
            let data = frame_fragments(seq.fragments(), props.frames, req.frame)?;
            let pixels =
                usize::try_from(props.pixels()).map_err(|_| ImagingError::too_large("frame"))?;
            let planes =
                rle::decode_frame(&data, pixels, props.samples_per_pixel, props.bits_allocated)?;
            Frame {
                data: Cow::Owned(planes),
                bits_allocated: props.bits_allocated,
                bits_stored: props.bits_stored,
                signed: props.signed,
                planar: true,
                photometric: props.photometric.clone(),
            }
        }
        (DicomValue::PixelSequence(seq), Decoder::Jpeg)
            if is_jpeg12(seq.fragments(), &props, req.frame) =>
        {
            check_codestreams(seq.fragments(), limits)?;
            jpeg12_frame(seq.fragments(), &props, req.frame, limits)?
        }
        (DicomValue::PixelSequence(seq), Decoder::Registry | Decoder::Jpeg) => {
            check_codestreams(seq.fragments(), limits)?;
            let px = no_panic("decoding the pixel data", || {
                obj.decode_pixel_data_frame(req.frame).map_err(|e| {
                    ImagingError::malformed(format!("decoding the pixel data: {}", error_chain(&e)))
                })
            })?;
            // The registry's decoders hand back RGB for colour codestreams (JPEG, JPEG 2000).
            let photometric = px.photometric_interpretation().as_str().to_owned();
            Frame {
                bits_allocated: px.bits_allocated(),
                bits_stored: px.bits_stored().clamp(1, px.bits_allocated().max(1)),
                signed: props.signed,
                planar: false,
                photometric,
                data: Cow::Owned(px.data().to_vec()),
            }
        }
        (DicomValue::PixelSequence(_), Decoder::Native) => {
            return Err(ImagingError::malformed(
                "encapsulated pixel data in a native transfer syntax",
            ));
        }
        (DicomValue::Sequence(_), _) => {
            return Err(ImagingError::malformed("pixel data is a sequence"));
        }
    };
    to_image(&obj, &props, &frame, req)
}

/// Bytes of a primitive value in little-endian order (dicom-parser hands back OW as u16 values).
pub(super) fn le_bytes(p: &PrimitiveValue) -> Cow<'_, [u8]> {
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

fn native_frame<'a>(
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
fn frame_fragments(
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

fn jpeg_ls_frame(
    fragments: &[Vec<u8>],
    props: &Props,
    frame: u32,
) -> Result<Frame<'static>, ImagingError> {
    use super::jpegls::{self, JpegLsError};
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
fn check_codestreams(fragments: &[Vec<u8>], limits: &Limits) -> Result<(), ImagingError> {
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
fn is_jpeg12(fragments: &[Vec<u8>], props: &Props, frame: u32) -> bool {
    frame_fragments(fragments, props.frames, frame)
        .is_ok_and(|data| matches!(jpeg12::frame_header(&data), Some((_, 12))))
}

fn jpeg12_frame(
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

/// Reads sample `i` of a frame as a signed integer, masked to the stored bits.
struct Samples<'a> {
    data: &'a [u8],
    bytes: usize,
    mask: u32,
    sign_bit: u32,
    signed: bool,
}

impl<'a> Samples<'a> {
    fn new(f: &'a Frame<'_>) -> Self {
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

    fn len(&self) -> usize {
        self.data.len() / self.bytes
    }

    fn get(&self, i: usize) -> i64 {
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

fn to_image(
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

fn rgb_image(props: &Props, rgb: Vec<u8>) -> Result<DynamicImage, ImagingError> {
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

/// Value of `tag` for this frame from the functional groups of an enhanced object: per-frame
/// first, then shared (`seq` is the functional group macro's sequence, e.g. Pixel Value
/// Transformation).
fn functional_group(obj: &InMemDicomObject, frame: u32, seq: Tag, tag: Tag) -> Option<f64> {
    let from_group = |group: &InMemDicomObject| -> Option<f64> {
        let items = group.get(seq)?.items()?;
        float(items.first()?, tag)
    };
    let per_frame = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.get(frame as usize))
        .and_then(from_group);
    per_frame.or_else(|| {
        obj.get(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .and_then(from_group)
    })
}

/// The modality LUT's rescale (slope, intercept) of `frame`: the object's own, else its
/// functional groups' (per frame, then shared); identity when absent.
fn rescale(obj: &InMemDicomObject, frame: u32) -> (f64, f64) {
    let slope = float(obj, tags::RESCALE_SLOPE)
        .or_else(|| {
            functional_group(
                obj,
                frame,
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                tags::RESCALE_SLOPE,
            )
        })
        .filter(|s| *s != 0.0 && s.is_finite())
        .unwrap_or(1.0);
    let intercept = float(obj, tags::RESCALE_INTERCEPT)
        .or_else(|| {
            functional_group(
                obj,
                frame,
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                tags::RESCALE_INTERCEPT,
            )
        })
        .filter(|i| i.is_finite())
        .unwrap_or(0.0);
    (slope, intercept)
}

/// The smallest and largest value `bits_stored` bits can hold (two's complement when `signed`).
fn stored_range(bits_stored: u16, signed: bool) -> (f64, f64) {
    let bits = i32::from(bits_stored.clamp(1, 32));
    if signed {
        (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(bits) - 1.0)
    }
}

fn monochrome(
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
fn palette(
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
