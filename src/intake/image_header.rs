//! Dimension checks from image and DICOM headers, before any pixel decode.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use super::{IntakeError, Kind, Policy};
use crate::imaging::{DicomIndex, ImagingError};

fn rejected(reason: impl Into<String>) -> IntakeError {
    IntakeError::ImageRejected {
        reason: reason.into(),
    }
}

fn header_does_not_parse() -> IntakeError {
    rejected("header does not parse")
}

/// Width and height of a raster image, read from its header only, checked
/// against `policy.max_pixels`. `kind` must be one of the raster kinds.
pub(crate) fn raster_dimensions(
    kind: Kind,
    bytes: &[u8],
    policy: &Policy,
) -> Result<(u32, u32), IntakeError> {
    let expected = match kind {
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Png => ImageFormat::Png,
        Kind::Gif => ImageFormat::Gif,
        Kind::Bmp => ImageFormat::Bmp,
        Kind::Tiff => ImageFormat::Tiff,
        _ => return Err(header_does_not_parse()),
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| header_does_not_parse())?;
    if reader.format() != Some(expected) {
        return Err(header_does_not_parse());
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|_| header_does_not_parse())?;
    if w == 0 || h == 0 {
        return Err(rejected("image has no pixels"));
    }
    let pixels = u64::from(w) * u64::from(h);
    if pixels > policy.max_pixels {
        return Err(rejected(format!(
            "{pixels} pixels over the limit of {}",
            policy.max_pixels
        )));
    }
    Ok((w, h))
}

/// A DICOM file read at intake: its index (parsed once, here, and kept for the viewer), its
/// dimensions, and the bytes its data set inflated to when it is deflated.
#[derive(Debug, Clone)]
pub(crate) struct DicomRead {
    pub dimensions: Option<(u32, u32)>,
    pub index: DicomIndex,
    pub inflated: u64,
}

/// Reads a DICOM file up to (not including) Pixel Data. A deflated data set may inflate to at most
/// `max_inflated` bytes: inflation stops at that cap.
///
/// `dimensions` is `None` for DICOM objects without an image (e.g. DICOMDIR, structured reports):
/// both Rows and Columns absent. Rejects when rows×columns is over `policy.max_pixels` or
/// rows×columns×frames over `policy.max_dicom_voxels`.
pub(crate) fn read_dicom(
    bytes: &[u8],
    policy: &Policy,
    max_inflated: u64,
) -> Result<DicomRead, IntakeError> {
    // The imaging reader checks every element length before parsing (so a hostile header cannot
    // make the parser allocate or loop) and copes with files without preamble or meta group.
    let (index, inflated) =
        crate::imaging::index_dicom_within(bytes, max_inflated).map_err(|e| match e {
            ImagingError::TooLarge { reason } => rejected(reason),
            _ => header_does_not_parse(),
        })?;
    let dimensions = match (index.rows, index.columns) {
        (Some(rows), Some(cols)) => check_dicom_size(
            u64::from(rows),
            u64::from(cols),
            u64::from(index.frames.max(1)),
            policy,
        )?,
        _ if index.has_pixel_data => return Err(header_does_not_parse()),
        _ => None,
    };
    Ok(DicomRead {
        dimensions,
        index,
        inflated,
    })
}

/// Rows × columns and × frames against the policy; the dimensions as (width, height).
fn check_dicom_size(
    rows: u64,
    cols: u64,
    frames: u64,
    policy: &Policy,
) -> Result<Option<(u32, u32)>, IntakeError> {
    if rows == 0 || cols == 0 {
        return Err(rejected("image has no pixels"));
    }
    let pixels = rows.saturating_mul(cols);
    if pixels > policy.max_pixels {
        return Err(rejected(format!(
            "{pixels} pixels over the limit of {}",
            policy.max_pixels
        )));
    }
    let voxels = pixels.saturating_mul(frames);
    if voxels > policy.max_dicom_voxels {
        return Err(rejected(format!(
            "{voxels} voxels ({frames} frames) over the limit of {}",
            policy.max_dicom_voxels
        )));
    }
    // Rows and Columns are US (16-bit) in the standard; anything larger would
    // have been refused by `to_int` overflow or the pixel limit above.
    let w = u32::try_from(cols).map_err(|_| header_does_not_parse())?;
    let h = u32::try_from(rows).map_err(|_| header_does_not_parse())?;
    Ok(Some((w, h)))
}

#[cfg(test)]
pub(crate) mod tests {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::{tags, uids};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    use image::{DynamicImage, RgbImage};

    use super::*;

    pub(crate) fn encode(format: ImageFormat, w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30])));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A DICOM Part 10 file with the given Rows/Columns (and optional frames).
    pub(crate) fn dicom(rows: u16, cols: u16, frames: Option<&str>) -> Vec<u8> {
        let mut obj = InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            ),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1234567890"),
            DataElement::new(tags::MODALITY, VR::CS, "OT"),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8_u16)),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1_u16)),
        ]);
        if let Some(f) = frames {
            obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, f));
        }
        // Tiny pixel data: the check must not depend on it.
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![0_u8; 4]),
        ));
        let file = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .unwrap();
        let mut out = Vec::new();
        file.write_all(&mut out).unwrap();
        out
    }

    #[test]
    fn raster_dimensions_from_header() {
        let p = Policy::default();
        for (kind, fmt) in [
            (Kind::Png, ImageFormat::Png),
            (Kind::Jpeg, ImageFormat::Jpeg),
            (Kind::Gif, ImageFormat::Gif),
            (Kind::Bmp, ImageFormat::Bmp),
            (Kind::Tiff, ImageFormat::Tiff),
        ] {
            let bytes = encode(fmt, 7, 5);
            assert_eq!(
                raster_dimensions(kind, &bytes, &p).unwrap(),
                (7, 5),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn raster_over_limit_and_broken_header() {
        let p = Policy {
            max_pixels: 30,
            ..Policy::default()
        };
        let bytes = encode(ImageFormat::Png, 7, 5);
        match raster_dimensions(Kind::Png, &bytes, &p) {
            Err(IntakeError::ImageRejected { reason }) => {
                assert_eq!(reason, "35 pixels over the limit of 30");
            }
            other => panic!("{other:?}"),
        }
        let broken = [&bytes[..12], &[0xFF; 20]].concat();
        match raster_dimensions(Kind::Png, &broken, &Policy::default()) {
            Err(IntakeError::ImageRejected { reason }) => {
                assert_eq!(reason, "header does not parse");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn png_header_claiming_huge_size_rejected_without_decoding() {
        // Patch IHDR width/height to 100000 x 100000 (CRC no longer matches,
        // so either the CRC or the pixel limit rejects it: both image-rejected).
        let mut bytes = encode(ImageFormat::Png, 7, 5);
        bytes[16..20].copy_from_slice(&100_000_u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000_u32.to_be_bytes());
        assert!(matches!(
            raster_dimensions(Kind::Png, &bytes, &Policy::default()),
            Err(IntakeError::ImageRejected { .. })
        ));
    }

    #[test]
    fn dicom_read_dimensions_and_limits() {
        let p = Policy::default();
        assert_eq!(
            read_dicom(&dicom(512, 256, None), &p, u64::MAX)
                .unwrap()
                .dimensions,
            Some((256, 512))
        );
        assert_eq!(
            read_dicom(&dicom(512, 256, Some("10")), &p, u64::MAX)
                .unwrap()
                .dimensions,
            Some((256, 512))
        );
        // 65535 x 65535 = 4.29e9 pixels over 50e6.
        match read_dicom(&dicom(u16::MAX, u16::MAX, None), &p, u64::MAX) {
            Err(IntakeError::ImageRejected { reason }) => {
                assert_eq!(reason, "4294836225 pixels over the limit of 50000000");
            }
            other => panic!("{other:?}"),
        }
        // 4096 x 4096 x 200 frames = 3.36e9 voxels over 2e9.
        match read_dicom(&dicom(4096, 4096, Some("200")), &p, u64::MAX) {
            Err(IntakeError::ImageRejected { reason }) => {
                assert!(reason.contains("voxels"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut garbage = vec![0_u8; 128];
        garbage.extend_from_slice(b"DICM\x02\x00\x10\x00UI\xFF\xFFjunk");
        assert!(matches!(
            read_dicom(&garbage, &p, u64::MAX),
            Err(IntakeError::ImageRejected { .. })
        ));
    }
}
