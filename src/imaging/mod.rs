//! Image thumbnails and DICOM previews for the radiologist review tier.
//!
//! Everything here is pure and synchronous: bytes in, bytes out. Callers run it on the blocking
//! pool behind a semaphore with a time limit; this module makes sure that no input panics
//! (decoders run under `catch_unwind`), that nothing is decoded before its dimensions were
//! checked against [`Limits`], and that no element length in a DICOM file is trusted before it was
//! checked against the bytes actually present (see `scan`).
//!
//! * [`index_dicom`] reads a DICOM object up to its pixel data and returns the fields the viewer
//!   groups and labels by (patient, study, series, instance, geometry, transfer syntax).
//! * [`render_dicom`] renders one frame to PNG or JPEG: modality LUT, VOI window (file, preset or
//!   explicit), MONOCHROME1 inversion, palette colour, RGB and YBR, 1/8/12/16/32-bit samples.
//! * [`render_image`] thumbnails a photo (GIF, JPEG, PNG, BMP, TIFF) with its EXIF orientation
//!   applied, re-encoded from pixels so that no metadata (EXIF, GPS, ICC, text chunks) survives.
//! * [`watermark`] burns the recipient and the time into a rendered preview.
//!
//! Previews are not of diagnostic quality: they are 8-bit, resized, and may be lossy.

pub(crate) mod codecs; // pub(crate) for crate::fuzzing
mod dicom_meta;
mod palette;
mod photo;
mod render;
pub(crate) mod scan; // pub(crate) for crate::fuzzing
mod watermark;
mod window;

#[cfg(test)]
mod tests;

#[doc(hidden)] // public for tests/corpus.rs, which compares decoded samples with twin files
pub use codecs::jpegls;
pub use dicom_meta::{index_dicom, index_dicom_within, is_dicom};
pub use photo::render_image;
pub use render::render_dicom;
pub use watermark::watermark;
pub use window::{Preset, check_window, voi_linear};

use image::{DynamicImage, ImageEncoder};

/// Why a preview could not be made.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ImagingError {
    /// The object is valid but has nothing this module can show (a structured report, an RT
    /// plan, a waveform, no pixel data, or a transfer syntax that this build cannot decode).
    #[error("not previewable: {reason}")]
    NotPreviewable { reason: String },
    /// The requested frame (0-based) does not exist; `frames` is how many there are.
    #[error("frame out of range: the object has {frames} frame(s)")]
    FrameOutOfRange { frames: u32 },
    /// An explicit window outside what the image's samples can hold: `field` (`wc` or `ww`)
    /// must be an integer from `min` to `max` (modality units, from the bits stored and the
    /// rescale).
    #[error("window out of range: {field} must be from {min} to {max}")]
    WindowOutOfRange {
        field: &'static str,
        min: i64,
        max: i64,
    },
    /// The declared dimensions exceed the configured [`Limits`].
    #[error("too large: {reason}")]
    TooLarge { reason: String },
    /// The bytes are not a well-formed object of the kind expected (truncated, garbage, lengths
    /// that point past the end, a decoder that failed or panicked).
    #[error("malformed: {reason}")]
    Malformed { reason: String },
}

impl ImagingError {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn not_previewable(reason: impl Into<String>) -> Self {
        Self::NotPreviewable {
            reason: reason.into(),
        }
    }

    pub(crate) fn too_large(reason: impl Into<String>) -> Self {
        Self::TooLarge {
            reason: reason.into(),
        }
    }

    /// A short machine-readable name, e.g. for a problem+json `type` or a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotPreviewable { .. } => "not-previewable",
            Self::FrameOutOfRange { .. } => "frame-out-of-range",
            Self::WindowOutOfRange { .. } => "window-out-of-range",
            Self::TooLarge { .. } => "too-large",
            Self::Malformed { .. } => "malformed",
        }
    }
}

/// Output encoding of a rendered preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OutputFormat {
    #[default]
    Png,
    Jpeg,
}

impl OutputFormat {
    /// Parses `png`, `jpeg` or `jpg` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "jpeg" | "jpg" => Some(Self::Jpeg),
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// Name for cache variant keys and file extensions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
        }
    }
}

/// Smallest accepted [`RenderRequest::size`].
pub const MIN_SIZE: u32 = 64;
/// Largest accepted [`RenderRequest::size`].
pub const MAX_SIZE: u32 = 2048;
/// JPEG quality of rendered previews.
pub const JPEG_QUALITY: u8 = 90;

/// What to render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderRequest {
    /// Longest side of the output in pixels, clamped to `MIN_SIZE..=MAX_SIZE`. Images are
    /// shrunk to fit (aspect kept) and never enlarged.
    pub size: u32,
    /// 0-based frame index of a multi-frame object (ignored for photos).
    pub frame: u32,
    /// Window preset; [`Preset::Auto`] uses the file's own window, else the full range.
    pub preset: Preset,
    /// Explicit window (center, width) in modality units; wins over `preset`.
    pub window: Option<(f64, f64)>,
    pub format: OutputFormat,
}

impl Default for RenderRequest {
    fn default() -> Self {
        Self {
            size: 512,
            frame: 0,
            preset: Preset::Auto,
            window: None,
            format: OutputFormat::Png,
        }
    }
}

impl RenderRequest {
    /// A stable string naming this rendering, for cache keys (`cases/.../previews/{id}/{variant}`).
    pub fn variant_key(&self) -> String {
        let size = self.size.clamp(MIN_SIZE, MAX_SIZE);
        let window = match self.window {
            Some((c, w)) => format!("wc{c}-ww{w}"),
            None => self.preset.as_str().to_owned(),
        };
        format!("s{size}-f{}-{window}.{}", self.frame, self.format.as_str())
    }
}

/// An encoded preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Decoder limits, checked against the declared dimensions before any pixel data is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows × columns of one frame (or width × height of a photo).
    pub max_pixels: u64,
    /// Rows × columns × frames of a whole DICOM object.
    pub max_voxels: u64,
}

impl Default for Limits {
    /// 8192 × 8192 pixels a frame (a large digital mammogram is about 4000 × 5000) and 2^30
    /// voxels an object (e.g. 2048 frames of 512 × 1024).
    fn default() -> Self {
        Self {
            max_pixels: 8192 * 8192,
            max_voxels: 1 << 30,
        }
    }
}

/// The fields of a DICOM object that the viewer groups, sorts and labels by. Read only up to the
/// pixel data. Strings are trimmed of DICOM padding; empty values are `None`.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct DicomIndex {
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    pub patient_birth_date: Option<String>,
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
    pub sop_class_uid: Option<String>,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub study_date: Option<String>,
    pub series_date: Option<String>,
    pub study_description: Option<String>,
    pub series_description: Option<String>,
    pub series_number: Option<i32>,
    pub instance_number: Option<i32>,
    pub rows: Option<u32>,
    pub columns: Option<u32>,
    /// Number of Frames, 1 when absent but the object has pixel data, 0 without pixel data.
    pub frames: u32,
    /// The transfer syntax UID as found in the file meta group, or implicit VR little endian
    /// (`1.2.840.10008.1.2`) for a data set without one.
    pub transfer_syntax: String,
    pub photometric_interpretation: Option<String>,
    pub bits_allocated: Option<u16>,
    /// The file's own VOI window (first values of Window Center and Width), in modality units.
    pub window_center: Option<f64>,
    pub window_width: Option<f64>,
    pub has_pixel_data: bool,
}

/// Resizes to fit within `size` × `size` (never enlarging) and encodes.
pub(crate) fn encode_output(
    img: &DynamicImage,
    size: u32,
    format: OutputFormat,
) -> Result<Rendered, ImagingError> {
    let size = size.clamp(MIN_SIZE, MAX_SIZE);
    let (w, h) = (img.width(), img.height());
    let resized;
    let img = if w > size || h > size {
        let (nw, nh) = fit_within(w, h, size);
        resized = img.resize_exact(nw, nh, image::imageops::FilterType::Triangle);
        &resized
    } else {
        img
    };
    let (width, height) = (img.width(), img.height());
    let mut bytes = Vec::new();
    let result = match format {
        OutputFormat::Png => {
            let enc = image::codecs::png::PngEncoder::new(&mut bytes);
            match img {
                DynamicImage::ImageLuma8(b) => {
                    enc.write_image(b.as_raw(), width, height, image::ExtendedColorType::L8)
                }
                DynamicImage::ImageRgba8(b) => {
                    enc.write_image(b.as_raw(), width, height, image::ExtendedColorType::Rgba8)
                }
                other => {
                    let rgb = other.to_rgb8();
                    enc.write_image(rgb.as_raw(), width, height, image::ExtendedColorType::Rgb8)
                }
            }
        }
        OutputFormat::Jpeg => {
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
            match img {
                DynamicImage::ImageLuma8(b) => {
                    enc.write_image(b.as_raw(), width, height, image::ExtendedColorType::L8)
                }
                other => {
                    let rgb = other.to_rgb8();
                    enc.write_image(rgb.as_raw(), width, height, image::ExtendedColorType::Rgb8)
                }
            }
        }
    };
    result.map_err(|e| ImagingError::malformed(format!("encoding the preview failed: {e}")))?;
    Ok(Rendered {
        bytes,
        media_type: format.media_type(),
        width,
        height,
    })
}

/// Dimensions of `w` × `h` scaled so that the longest side is `size`, at least 1 × 1.
fn fit_within(w: u32, h: u32, size: u32) -> (u32, u32) {
    let longest = u64::from(w.max(h)).max(1);
    let scale = |v: u32| -> u32 {
        let scaled = (u64::from(v) * u64::from(size) + longest / 2) / longest;
        u32::try_from(scaled.max(1)).unwrap_or(size)
    };
    (scale(w), scale(h))
}

/// An error and its sources, `: `-separated (dicom-rs errors put the detail in the sources).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Runs `f`, turning a panic inside a dependency into [`ImagingError::Malformed`].
pub(crate) fn no_panic<T>(
    what: &str,
    f: impl FnOnce() -> Result<T, ImagingError>,
) -> Result<T, ImagingError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(ImagingError::malformed(format!("{what} failed: {msg}")))
        }
    }
}
