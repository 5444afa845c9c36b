//! Rendering one frame of a DICOM object to an 8-bit preview.

use std::borrow::Cow;

use dicom_core::DicomValue;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::transfer_syntax::Codec;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use image::DynamicImage;

use super::codecs::rle;
use super::dicom_meta;
use super::scan;
use super::window::check_window;
use super::{ImagingError, Limits, RenderRequest, Rendered, encode_output, error_chain, no_panic};

pub(super) mod frames;
mod pixels;
mod props;

pub(super) use frames::le_bytes;
use frames::{
    Frame, check_codestreams, frame_fragments, is_jpeg12, jpeg_ls_frame, jpeg12_frame, native_frame,
};
use pixels::to_image;
use props::{Props, check_limits, rescale, stored_range};

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
