//! Byte-level checks done before a DICOM object is handed to `dicom-object`.
//!
//! * [`split_container`] finds the file meta group (with or without the 128-byte preamble, with or
//!   without "DICM", malformed or missing) and the data set that follows, and says which transfer
//!   syntax to read the data set with. A data set without a meta group is read as implicit VR
//!   little endian (or explicit VR little endian when its first element plainly is).
//!   A deflated data set is inflated here, with a cap on the inflated size.
//! * [`scan_dataset`] walks every element header of the data set, nested sequences included, and
//!   checks each declared length against the bytes present, with a depth limit. `dicom-parser`
//!   allocates (and zeroes) a value's declared length before reading it, and recurses into nested
//!   sequences, so a 200-byte file could otherwise ask for 4 GiB or overflow the stack. The walk
//!   also locates the pixel data element, so callers can read up to it (index) or to its end
//!   (render, ignoring trailing padding), and can tell truncated pixel data from a bad header.

use super::ImagingError;

mod container;
mod header;
mod walk;

pub(crate) use container::{Container, Inflate, looks_like_dicom, split_container};
pub(crate) use walk::scan_dataset;

pub(crate) const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
pub(crate) const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
pub(crate) const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
pub(crate) const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
pub(crate) const JPIP_REFERENCED_DEFLATE: &str = "1.2.840.10008.1.2.4.95";

/// Inflated size cap for deflated data sets read outside intake (the upload limit is 8 MiB; a real
/// deflated object inflates by a factor of a few, a deflate bomb by a thousand). Intake holds each
/// request to its own inflated budget (`intake.archive_max_inflated_bytes`, 64 MiB by default).
pub(crate) const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Deepest sequence nesting accepted (real objects stay below 10).
const MAX_DEPTH: u32 = 32;
const UNDEFINED: u32 = 0xFFFF_FFFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub explicit: bool,
    pub big_endian: bool,
}

impl Encoding {
    pub fn for_ts(uid: &str) -> Self {
        match uid {
            IMPLICIT_VR_LE => Self {
                explicit: false,
                big_endian: false,
            },
            EXPLICIT_VR_BE => Self {
                explicit: true,
                big_endian: true,
            },
            _ => Self {
                explicit: true,
                big_endian: false,
            },
        }
    }
}

/// Where the top-level pixel data element is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PixelSpan {
    /// Offset of the element header in the data set.
    pub start: usize,
    /// The tag's element number: 0x0010 Pixel Data, 0x0008 Float, 0x0009 Double Float.
    pub element: u16,
    /// End of the element, or why it is incomplete.
    pub end: Result<usize, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Layout {
    pub pixel: Option<PixelSpan>,
    /// End of the last top-level element walked (before pixel data, or before a zero-byte tail).
    pub elements_end: usize,
}

fn trim_uid(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_owned()
}
