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

use std::borrow::Cow;
use std::io::Read;

use super::ImagingError;

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
const MAX_KEPT_HEADER_BYTES: usize = 8 * 1024 * 1024;

/// Inflates a deflated data set, stopping as soon as it crosses the cap (never after): returns the
/// bytes kept and the total inflated.
fn inflate_dataset(data: &[u8], inflate: Inflate) -> Result<(Vec<u8>, u64), ImagingError> {
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

/// True for the two-letter value representations of PS3.5 table 6.2-1.
fn is_vr(b: [u8; 2]) -> bool {
    matches!(
        &b,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SQ"
            | b"SS"
            | b"ST"
            | b"SV"
            | b"TM"
            | b"UC"
            | b"UI"
            | b"UL"
            | b"UN"
            | b"UR"
            | b"US"
            | b"UT"
            | b"UV"
    )
}

/// VRs whose explicit header has two reserved bytes and a 32-bit length.
fn has_long_length(b: [u8; 2]) -> bool {
    matches!(
        &b,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

#[derive(Debug, Clone, Copy)]
struct Header {
    group: u16,
    element: u16,
    vr: Option<[u8; 2]>,
    len: u32,
    size: usize,
}

impl Header {
    fn tag(&self) -> (u16, u16) {
        (self.group, self.element)
    }
}

fn u16_at(b: &[u8], pos: usize, big: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(pos..pos + 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

fn u32_at(b: &[u8], pos: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(pos..pos + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

fn read_header(b: &[u8], pos: usize, enc: Encoding) -> Result<Header, String> {
    let truncated = || format!("element header at offset {pos} is truncated");
    let group = u16_at(b, pos, enc.big_endian).ok_or_else(truncated)?;
    let element = u16_at(b, pos + 2, enc.big_endian).ok_or_else(truncated)?;
    if group == 0xFFFE || !enc.explicit {
        let len = u32_at(b, pos + 4, enc.big_endian).ok_or_else(truncated)?;
        return Ok(Header {
            group,
            element,
            vr: None,
            len,
            size: 8,
        });
    }
    let vr: [u8; 2] = b
        .get(pos + 4..pos + 6)
        .ok_or_else(truncated)?
        .try_into()
        .map_err(|_| truncated())?;
    if !is_vr(vr) {
        return Err(format!(
            "element ({group:04X},{element:04X}) at offset {pos} has no valid VR"
        ));
    }
    if has_long_length(vr) {
        let len = u32_at(b, pos + 8, enc.big_endian).ok_or_else(truncated)?;
        Ok(Header {
            group,
            element,
            vr: Some(vr),
            len,
            size: 12,
        })
    } else {
        let len = u16_at(b, pos + 6, enc.big_endian).ok_or_else(truncated)?;
        Ok(Header {
            group,
            element,
            vr: Some(vr),
            len: u32::from(len),
            size: 8,
        })
    }
}

/// Reads the meta group elements (group 0002) starting at `pos`; returns the position after them
/// and the transfer syntax / SOP class / SOP instance values found. The meta group is explicit VR
/// little endian by the standard; elements written implicitly by old tools are accepted too.
fn read_meta_group(b: &[u8], mut pos: usize) -> Result<MetaGroup, ImagingError> {
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
struct MetaGroup {
    /// Offset of the data set.
    end: usize,
    ts: Option<String>,
    class: Option<String>,
    instance: Option<String>,
}

/// Whether `data` plausibly starts a data set in the given encoding: the first few element
/// headers parse, their groups are even and increase, and their lengths fit.
fn plausible_dataset(data: &[u8], enc: Encoding) -> bool {
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
fn guess_ts(data: &[u8]) -> Option<&'static str> {
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

fn known_dataset_encoding(uid: &str) -> bool {
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

/// Walks the whole data set; see the module docs. Errors describe the first bad header found
/// before the pixel data; problems inside or after the pixel data are reported in the layout.
pub(crate) fn scan_dataset(data: &[u8], enc: Encoding) -> Result<Layout, ImagingError> {
    let mut layout = Layout::default();
    walk(data, 0, data.len(), enc, 0, false, Some(&mut layout)).map_err(ImagingError::malformed)?;
    Ok(layout)
}

/// Walks elements from `pos` to `end`. With `in_undefined_item`, stops after an item
/// delimitation item and returns the position after it. At the top level (`layout` is `Some`),
/// stops at the pixel data element and records it.
fn walk(
    b: &[u8],
    mut pos: usize,
    end: usize,
    enc: Encoding,
    depth: u32,
    in_undefined_item: bool,
    mut layout: Option<&mut Layout>,
) -> Result<usize, String> {
    if depth > MAX_DEPTH {
        return Err(format!("sequences nested deeper than {MAX_DEPTH} levels"));
    }
    while pos < end {
        if let Some(layout) = layout.as_deref_mut() {
            layout.elements_end = pos;
            if b[pos..end].iter().all(|&x| x == 0) {
                // Zero padding at the end of the file.
                return Ok(end);
            }
        }
        let h = read_header(&b[..end], pos, enc)?;
        if h.tag() == (0xFFFE, 0xE00D) {
            if in_undefined_item {
                return Ok(pos + 8);
            }
            return Err(format!("unexpected item delimiter at offset {pos}"));
        }
        if h.group == 0xFFFE {
            return Err(format!(
                "unexpected item tag (FFFE,{:04X}) at offset {pos}",
                h.element
            ));
        }
        let value_start = pos + h.size;
        if let Some(layout) = layout.as_deref_mut()
            && h.group == 0x7FE0
            && matches!(h.element, 0x0008..=0x0010)
        {
            let end_or_err = if h.len == UNDEFINED {
                walk_fragments(b, value_start, end, enc)
            } else {
                value_start
                    .checked_add(h.len as usize)
                    .filter(|&e| e <= end)
                    .ok_or_else(|| {
                        format!(
                            "pixel data is truncated: it declares {} bytes, {} are present",
                            h.len,
                            end - value_start
                        )
                    })
            };
            layout.pixel = Some(PixelSpan {
                start: pos,
                element: h.element,
                end: end_or_err,
            });
            return Ok(end);
        }
        if h.len == UNDEFINED {
            // UN of undefined length (a sequence whose VR was lost) sends dicom-rs's parser into
            // work that grows steeply with nesting: seconds of CPU for a 674-byte file. Refuse it.
            if h.vr == Some(*b"UN") {
                return Err(format!(
                    "element ({:04X},{:04X}) is UN of undefined length, which is not supported",
                    h.group, h.element
                ));
            }
            // Undefined length is for sequences and encapsulated pixel data only (PS3.5 7.1);
            // dicom-rs reads any other value of undefined length by allocating 4 GiB (found by
            // the dicom_index fuzz target: an SV element, 2,390 bytes of file).
            let pixel_data = h.tag() == (0x7FE0, 0x0010);
            if let Some(vr) = h.vr
                && vr != *b"SQ"
                && !(pixel_data && matches!(&vr, b"OB" | b"OW"))
            {
                return Err(format!(
                    "element ({:04X},{:04X}) has undefined length, which only sequences may have",
                    h.group, h.element
                ));
            }
            pos = walk_items(b, value_start, end, enc, depth + 1, true)?;
        } else {
            let value_end = value_start
                .checked_add(h.len as usize)
                .filter(|&e| e <= end)
                .ok_or_else(|| {
                    format!(
                        "element ({:04X},{:04X}) at offset {pos} declares {} bytes, {} remain",
                        h.group,
                        h.element,
                        h.len,
                        end.saturating_sub(value_start)
                    )
                })?;
            // Implicit VR: a value that starts with an item tag is taken for a sequence.
            let is_sequence = h.vr == Some(*b"SQ")
                || (h.vr.is_none()
                    && b.get(value_start..value_start + 4)
                        == Some([0xFE, 0xFF, 0x00, 0xE0].as_slice()));
            if is_sequence {
                walk_items(b, value_start, value_end, enc, depth + 1, false)?;
            }
            pos = value_end;
        }
    }
    if in_undefined_item {
        return Err("item of undefined length is not terminated".to_owned());
    }
    if let Some(layout) = layout {
        layout.elements_end = pos;
    }
    Ok(pos)
}

/// Walks the items of a sequence; with `undefined`, until the sequence delimiter.
fn walk_items(
    b: &[u8],
    mut pos: usize,
    end: usize,
    enc: Encoding,
    depth: u32,
    undefined: bool,
) -> Result<usize, String> {
    if depth > MAX_DEPTH {
        return Err(format!("sequences nested deeper than {MAX_DEPTH} levels"));
    }
    while pos < end {
        let group = u16_at(&b[..end], pos, enc.big_endian);
        let element = u16_at(&b[..end], pos + 2, enc.big_endian);
        let len = u32_at(&b[..end], pos + 4, enc.big_endian);
        let (Some(group), Some(element), Some(len)) = (group, element, len) else {
            return Err(format!("item header at offset {pos} is truncated"));
        };
        match (group, element) {
            (0xFFFE, 0xE0DD) => return Ok(pos + 8),
            (0xFFFE, 0xE000) if len == UNDEFINED => {
                pos = walk(b, pos + 8, end, enc, depth, true, None)?;
            }
            (0xFFFE, 0xE000) => {
                let item_end = (pos + 8)
                    .checked_add(len as usize)
                    .filter(|&e| e <= end)
                    .ok_or_else(|| format!("item at offset {pos} runs past its sequence"))?;
                walk(b, pos + 8, item_end, enc, depth, false, None)?;
                pos = item_end;
            }
            _ => {
                return Err(format!(
                    "expected an item at offset {pos}, found ({group:04X},{element:04X})"
                ));
            }
        }
    }
    if undefined {
        return Err("sequence of undefined length is not terminated".to_owned());
    }
    Ok(pos)
}

/// Walks the fragments of encapsulated pixel data up to the sequence delimiter.
fn walk_fragments(b: &[u8], mut pos: usize, end: usize, enc: Encoding) -> Result<usize, String> {
    loop {
        let group = u16_at(&b[..end], pos, enc.big_endian);
        let element = u16_at(&b[..end], pos + 2, enc.big_endian);
        let len = u32_at(&b[..end], pos + 4, enc.big_endian);
        let (Some(group), Some(element), Some(len)) = (group, element, len) else {
            return Err("encapsulated pixel data is truncated".to_owned());
        };
        match (group, element) {
            (0xFFFE, 0xE0DD) => return Ok(pos + 8),
            (0xFFFE, 0xE000) if len != UNDEFINED => {
                pos = (pos + 8)
                    .checked_add(len as usize)
                    .filter(|&e| e <= end)
                    .ok_or_else(|| format!("pixel data fragment at offset {pos} is truncated"))?;
            }
            _ => {
                return Err(format!(
                    "expected a pixel data fragment at offset {pos}, found ({group:04X},{element:04X})"
                ));
            }
        }
    }
}
