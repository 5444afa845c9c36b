//! The image attributes of a DICOM object that say how to read a frame, the limits they are
//! checked against, and the modality rescale.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::imaging::dicom_meta::{float, int, text};
use crate::imaging::{ImagingError, Limits};

/// The image attributes needed to interpret one frame.
#[derive(Debug, Clone)]
pub(super) struct Props {
    pub(super) rows: u32,
    pub(super) cols: u32,
    pub(super) samples_per_pixel: u16,
    pub(super) bits_allocated: u16,
    pub(super) bits_stored: u16,
    pub(super) signed: bool,
    pub(super) planar: bool,
    pub(super) photometric: String,
    pub(super) frames: u32,
}

impl Props {
    pub(super) fn from_obj(obj: &InMemDicomObject) -> Result<Self, ImagingError> {
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

    pub(super) fn pixels(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.cols)
    }

    /// Samples one frame holds in the native encoding (YBR_FULL_422 stores 2 per pixel).
    pub(super) fn native_samples_per_frame(&self) -> u64 {
        if self.photometric == "YBR_FULL_422" {
            self.pixels().div_ceil(2) * 4
        } else {
            self.pixels() * u64::from(self.samples_per_pixel)
        }
    }
}

pub(super) fn check_limits(p: &Props, limits: &Limits) -> Result<(), ImagingError> {
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

/// Value of `tag` for this frame from the functional groups of an enhanced object: per-frame
/// first, then shared (`seq` is the functional group macro's sequence, e.g. Pixel Value
/// Transformation).
pub(super) fn functional_group(
    obj: &InMemDicomObject,
    frame: u32,
    seq: Tag,
    tag: Tag,
) -> Option<f64> {
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
pub(super) fn rescale(obj: &InMemDicomObject, frame: u32) -> (f64, f64) {
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
pub(super) fn stored_range(bits_stored: u16, signed: bool) -> (f64, f64) {
    let bits = i32::from(bits_stored.clamp(1, 32));
    if signed {
        (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(bits) - 1.0)
    }
}
