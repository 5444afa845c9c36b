//! The container around a data set: preamble, "DICM" and the file meta group, the transfer
//! syntax (read or guessed), and inflating a deflated data set within its cap.

use std::borrow::Cow;
use std::io::Read;

use super::header::{is_vr, read_header, u16_at};
use super::{
    DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, Encoding, IMPLICIT_VR_LE,
    ImagingError, JPIP_REFERENCED_DEFLATE, UNDEFINED, scan_dataset, trim_uid,
};

/// A DICOM object split into its transfer syntax and data set bytes.
#[derive(Debug)]
pub(crate) struct Container<'a> {
    /// Transfer syntax UID as declared (or implicit VR LE without a meta group).
    pub ts_uid: String,
    /// Transfer syntax the data set bytes are to be parsed with (explicit VR LE after inflating,
    /// or for a transfer syntax this build does not know).
    pub parse_ts_uid: String,
    pub meta_sop_class_uid: Option<String>,
    pub meta_sop_instance_uid: Option<String>,
    pub dataset: Cow<'a, [u8]>,
    /// Bytes a deflated data set inflated to (all of it, kept or not); 0 when not deflated.
    pub inflated: u64,
}

/// How much of a deflated data set to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inflate {
    /// All of it (rendering needs the pixel data), up to `cap` bytes.
    Whole { cap: u64 },
    /// The elements up to the pixel data (indexing); the rest is inflated and counted against
    /// `cap` but not kept, so memory stays at the header's size whatever the data set's.
    Header { cap: u64 },
}

impl Inflate {
    fn cap(self) -> u64 {
        match self {
            Inflate::Whole { cap } | Inflate::Header { cap } => cap,
        }
    }
}

/// Most bytes of a deflated data set kept before its pixel data is found (`Inflate::Header`):
/// real headers are a few KiB, and an object with no pixel data is rarely over a MiB.
pub(super) const MAX_KEPT_HEADER_BYTES: usize = 8 * 1024 * 1024;

/// Inflates a deflated data set, stopping as soon as it crosses the cap (never after): returns the
/// bytes kept and the total inflated.
pub(super) fn inflate_dataset(
    data: &[u8],
    inflate: Inflate,
) -> Result<(Vec<u8>, u64), ImagingError> {
    let cap = inflate.cap();
    let over = || ImagingError::too_large(format!("deflated data set inflates beyond {cap} bytes"));
    let mut reader = flate2::read::DeflateDecoder::new(data).take(cap.saturating_add(1));
    let mut kept = Vec::new();
    let mut total: u64 = 0;
    // With `Header`, the kept prefix is scanned each time it doubles until the pixel data
    // element shows (a cut inside an element is just "not yet"): linear work overall.
    let mut keeping = true;
    let mut next_scan = 64 * 1024;
    let mut chunk = vec![0_u8; 64 * 1024];
    loop {
        let n = reader
            .read(&mut chunk)
            .map_err(|e| ImagingError::malformed(format!("deflated data set: {e}")))?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > cap {
            return Err(over());
        }
        if !keeping {
            continue;
        }
        kept.extend_from_slice(&chunk[..n]);
        if let Inflate::Header { .. } = inflate
            && kept.len() >= next_scan
        {
            let found = scan_dataset(&kept, Encoding::for_ts(EXPLICIT_VR_LE))
                .is_ok_and(|layout| layout.pixel.is_some());
            if found {
                keeping = false;
            } else if kept.len() > MAX_KEPT_HEADER_BYTES {
                return Err(ImagingError::too_large(format!(
                    "data set header over {MAX_KEPT_HEADER_BYTES} bytes"
                )));
            }
            next_scan = kept.len() * 2;
        }
    }
    Ok((kept, total))
}

/// Reads the meta group elements (group 0002) starting at `pos`; returns the position after them
/// and the transfer syntax / SOP class / SOP instance values found. The meta group is explicit VR
/// little endian by the standard; elements written implicitly by old tools are accepted too.
pub(super) fn read_meta_group(b: &[u8], mut pos: usize) -> Result<MetaGroup, ImagingError> {
    let (mut ts, mut class, mut instance) = (None, None, None);
    while u16_at(b, pos, false) == Some(0x0002) {
        let explicit = b
            .get(pos + 4..pos + 6)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .is_some_and(is_vr);
        let enc = Encoding {
            explicit,
            big_endian: false,
        };
        let h = read_header(b, pos, enc)
            .map_err(|e| ImagingError::malformed(format!("file meta group: {e}")))?;
        let start = pos + h.size;
        let end = start
            .checked_add(h.len as usize)
            .filter(|&e| h.len != UNDEFINED && e <= b.len())
            .ok_or_else(|| {
                ImagingError::malformed(format!(
                    "file meta group: element (0002,{:04X}) runs past the end of the file",
                    h.element
                ))
            })?;
        let value = || Some(trim_uid(&b[start..end])).filter(|s| !s.is_empty());
        match h.element {
            0x0010 => ts = value(),
            0x0002 => class = value(),
            0x0003 => instance = value(),
            _ => {}
        }
        pos = end;
    }
    Ok(MetaGroup {
        end: pos,
        ts,
        class,
        instance,
    })
}

/// What the file meta group says.
pub(super) struct MetaGroup {
    /// Offset of the data set.
    end: usize,
    ts: Option<String>,
    class: Option<String>,
    instance: Option<String>,
}

/// Whether `data` plausibly starts a data set in the given encoding: the first few element
/// headers parse, their groups are even and increase, and their lengths fit.
pub(super) fn plausible_dataset(data: &[u8], enc: Encoding) -> bool {
    let mut pos = 0;
    let mut last = (0u16, 0u16);
    let mut seen = 0;
    while seen < 4 && pos < data.len() {
        let Ok(h) = read_header(data, pos, enc) else {
            return false;
        };
        if h.group % 2 == 1 && h.group != 0x0009 && seen == 0 {
            return false;
        }
        if h.group == 0xFFFE || h.tag() <= last && seen > 0 {
            return false;
        }
        if seen == 0 && !(0x0002..=0x0028).contains(&h.group) {
            return false;
        }
        last = h.tag();
        seen += 1;
        if h.len == UNDEFINED {
            return true;
        }
        let Some(end) = (pos + h.size).checked_add(h.len as usize) else {
            return false;
        };
        if end > data.len() {
            return false;
        }
        pos = end;
    }
    seen > 0
}

/// Guesses the encoding of a data set without a (usable) transfer syntax.
pub(super) fn guess_ts(data: &[u8]) -> Option<&'static str> {
    let explicit = Encoding {
        explicit: true,
        big_endian: false,
    };
    let implicit = Encoding {
        explicit: false,
        big_endian: false,
    };
    let vr_at_4 = data
        .get(4..6)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
        .is_some_and(is_vr);
    let explicit_be = Encoding {
        explicit: true,
        big_endian: true,
    };
    if vr_at_4 && plausible_dataset(data, explicit) {
        Some(EXPLICIT_VR_LE)
    } else if vr_at_4 && plausible_dataset(data, explicit_be) {
        Some(EXPLICIT_VR_BE)
    } else if plausible_dataset(data, implicit) {
        Some(IMPLICIT_VR_LE)
    } else {
        None
    }
}

/// True when the bytes look like a DICOM file: "DICM" after a 128-byte preamble or at the start,
/// or a data set without a meta group whose first elements parse (implicit VR LE, explicit VR LE or
/// BE).
pub(crate) fn looks_like_dicom(bytes: &[u8]) -> bool {
    bytes.get(128..132) == Some(b"DICM".as_slice())
        || bytes.starts_with(b"DICM")
        || guess_ts(bytes).is_some()
}

/// Splits a DICOM file into transfer syntax and data set; see the module docs.
pub(crate) fn split_container(
    bytes: &[u8],
    inflate: Inflate,
) -> Result<Container<'_>, ImagingError> {
    let meta_start = if bytes.get(128..132) == Some(b"DICM".as_slice()) {
        Some(132)
    } else if bytes.starts_with(b"DICM") {
        Some(4)
    } else if u16_at(bytes, 0, false) == Some(0x0002) {
        // A meta group without preamble and magic.
        Some(0)
    } else {
        None
    };
    let MetaGroup {
        end: dataset_start,
        ts,
        class,
        instance,
    } = match meta_start {
        Some(p) => read_meta_group(bytes, p)?,
        None => MetaGroup {
            end: 0,
            ts: None,
            class: None,
            instance: None,
        },
    };
    let data = &bytes[dataset_start..];
    let ts_uid = match ts {
        Some(ts) => ts,
        None => guess_ts(data)
            .ok_or_else(|| {
                ImagingError::malformed("not a DICOM file: no meta group and no data set")
            })?
            .to_owned(),
    };

    if ts_uid == DEFLATED_EXPLICIT_VR_LE || ts_uid == JPIP_REFERENCED_DEFLATE {
        let (out, inflated) = inflate_dataset(data, inflate)?;
        return Ok(Container {
            ts_uid,
            parse_ts_uid: EXPLICIT_VR_LE.to_owned(),
            meta_sop_class_uid: class,
            meta_sop_instance_uid: instance,
            dataset: Cow::Owned(out),
            inflated,
        });
    }

    let parse_ts_uid = if known_dataset_encoding(&ts_uid) {
        ts_uid.clone()
    } else {
        // Every transfer syntax other than implicit VR LE and explicit VR BE encodes its data set
        // as explicit VR LE; that is enough to index an object whose pixel data we cannot decode.
        EXPLICIT_VR_LE.to_owned()
    };
    Ok(Container {
        ts_uid,
        parse_ts_uid,
        meta_sop_class_uid: class,
        meta_sop_instance_uid: instance,
        dataset: Cow::Borrowed(data),
        inflated: 0,
    })
}

pub(super) fn known_dataset_encoding(uid: &str) -> bool {
    use dicom_encoding::TransferSyntaxIndex;
    dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(uid)
        .is_some_and(|ts| {
            matches!(
                ts.codec(),
                dicom_encoding::transfer_syntax::Codec::None
                    | dicom_encoding::transfer_syntax::Codec::EncapsulatedPixelData(..)
            )
        })
}
