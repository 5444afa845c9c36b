//! Thumbnails of photos and other raster images.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::{ImagingError, Limits, RenderRequest, Rendered, encode_output, no_panic};

/// Renders a GIF, JPEG, PNG, BMP or TIFF image: EXIF orientation applied, shrunk to fit
/// `req.size`, re-encoded from its pixels so that no metadata (EXIF, GPS, XMP, ICC profile,
/// text chunks, comments) survives. Animated GIFs show their first frame. `req.frame`,
/// `req.preset` and `req.window` are ignored. Dimensions are checked against
/// `limits.max_pixels` before the pixels are decoded.
pub fn render_image(
    bytes: &[u8],
    req: &RenderRequest,
    limits: &Limits,
) -> Result<Rendered, ImagingError> {
    no_panic("rendering the image", || {
        let format = image::guess_format(bytes)
            .map_err(|_| ImagingError::not_previewable("not a recognised image format"))?;
        if !matches!(
            format,
            ImageFormat::Gif
                | ImageFormat::Jpeg
                | ImageFormat::Png
                | ImageFormat::Bmp
                | ImageFormat::Tiff
        ) {
            return Err(ImagingError::not_previewable(format!(
                "{format:?} images are not previewed"
            )));
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut decoder_limits = image::Limits::default();
        // 16-bit RGBA is 8 bytes a pixel; allow that plus decoder working space.
        decoder_limits.max_alloc = Some(
            limits
                .max_pixels
                .saturating_mul(8)
                .saturating_add(64 * 1024 * 1024),
        );
        reader.limits(decoder_limits);
        let mut decoder = reader
            .into_decoder()
            .map_err(|e| ImagingError::malformed(format!("image header: {e}")))?;
        let (w, h) = decoder.dimensions();
        let pixels = u64::from(w) * u64::from(h);
        if pixels > limits.max_pixels {
            return Err(ImagingError::too_large(format!(
                "{w} × {h} = {pixels} pixels exceeds the limit of {}",
                limits.max_pixels
            )));
        }
        // A broken EXIF block must not stop the preview: no orientation then.
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut img = DynamicImage::from_decoder(decoder)
            .map_err(|e| ImagingError::malformed(format!("decoding the image: {e}")))?;
        img.apply_orientation(orientation);
        let img = normalise(img);
        encode_output(&img, req.size, req.format)
    })
}

/// 8-bit grey, RGB or RGBA, keeping alpha only where there is some.
fn normalise(img: DynamicImage) -> DynamicImage {
    match img {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => img,
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(img.to_luma8()),
        other if other.color().has_alpha() => {
            let rgba = other.to_rgba8();
            if rgba.pixels().all(|p| p.0[3] == 255) {
                DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8())
            } else {
                DynamicImage::ImageRgba8(rgba)
            }
        }
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}
