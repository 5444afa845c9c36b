//! Entry points for the fuzz targets in `fuzz/` (hidden, not an API: they follow the parsers).
//!
//! Each function runs one parser that sees untrusted bytes the way the service runs it, and
//! asserts what its callers rely on (lengths within the input, output sizes that match the
//! declared geometry), so that a fuzz target fails on a wrong answer as well as on a panic.
//! The parsers themselves stay private; these wrappers are the only thing made public for the
//! fuzzers.

use crate::imaging::codecs::{jpeg12, rle};
use crate::imaging::{ImagingError, scan};

/// The DICOM pre-scan: splits the container (meta group, inflating a deflated data set) and
/// walks every element header of the data set, as `index_dicom` and `render_dicom` do before
/// `dicom-object` sees the bytes.
pub fn dicom_prescan(bytes: &[u8]) -> Result<(), ImagingError> {
    let cap = scan::MAX_INFLATED_BYTES;
    // Indexing keeps the header only; rendering keeps the whole data set.
    let header = prescan_with(bytes, scan::Inflate::Header { cap });
    let whole = prescan_with(bytes, scan::Inflate::Whole { cap });
    header.and(whole)
}

fn prescan_with(bytes: &[u8], inflate: scan::Inflate) -> Result<(), ImagingError> {
    let container = scan::split_container(bytes, inflate)?;
    let data = &container.dataset;
    let layout = scan::scan_dataset(data, scan::Encoding::for_ts(&container.parse_ts_uid))?;
    assert!(
        layout.elements_end <= data.len(),
        "elements end past the data set"
    );
    if let Some(pixel) = &layout.pixel {
        assert!(pixel.start <= data.len(), "pixel data starts past the end");
        if let Ok(end) = pixel.end {
            assert!(
                pixel.start <= end && end <= data.len(),
                "pixel data ends past the end"
            );
        }
    }
    Ok(())
}

/// The in-house 12-bit (and 8-bit) sequential JPEG decoder, with the frame header probe that
/// picks it.
pub fn jpeg12_decode(data: &[u8], max_pixels: u64) -> Result<(), ImagingError> {
    let _ = jpeg12::frame_header(data);
    let image = jpeg12::decode(data, max_pixels)?;
    let pixels = u64::from(image.width) * u64::from(image.height);
    assert!(pixels <= max_pixels, "decoded beyond the pixel limit");
    assert_eq!(
        image.samples.len() as u64,
        pixels * u64::from(image.components),
        "sample count does not match the frame"
    );
    Ok(())
}

/// The in-house RLE Lossless decoder for one frame.
pub fn rle_decode(
    data: &[u8],
    pixels: usize,
    samples: u16,
    bits_allocated: u16,
) -> Result<(), ImagingError> {
    let out = rle::decode_frame(data, pixels, samples, bits_allocated)?;
    assert_eq!(
        out.len(),
        pixels * usize::from(samples) * usize::from(bits_allocated / 8),
        "decoded frame size does not match the geometry"
    );
    Ok(())
}

/// The check the upload handlers make on a multipart content type before actix-multipart reads
/// the body (see `http::requests`).
pub use crate::http::multipart_boundary_ok;
