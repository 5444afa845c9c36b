//! Walking every element header of a data set, nested sequences, items and fragments included,
//! with a depth limit, and locating the pixel data.

use super::header::{read_header, u16_at, u32_at};
use super::{Encoding, ImagingError, Layout, MAX_DEPTH, PixelSpan, UNDEFINED};

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
pub(super) fn walk(
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
            if let Some(size) = fixed_value_size(h.group, h.element, h.vr)
                && !(h.len as usize).is_multiple_of(size)
            {
                // dicom-rs reads such a value in whole numbers and goes on from where that
                // leaves it, inside the next element: a length read there made it allocate up to
                // 4 GiB for a 2,425-byte file (found by the intake fuzz target).
                return Err(format!(
                    "element ({:04X},{:04X}) at offset {pos} declares {} bytes, not a whole number \
                     of its {size}-byte values",
                    h.group, h.element, h.len
                ));
            }
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
pub(super) fn walk_items(
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
pub(super) fn walk_fragments(
    b: &[u8],
    mut pos: usize,
    end: usize,
    enc: Encoding,
) -> Result<usize, String> {
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

/// The size of one value of a binary VR that holds whole numbers of fixed-size values (`US`,
/// `UL`, `FD`, `OW`, …): the element's own VR, or in implicit VR the dictionary's. `None` for text,
/// bytes (`OB`, `UN`) and tags the dictionary does not know.
fn fixed_value_size(group: u16, element: u16, vr: Option<[u8; 2]>) -> Option<usize> {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let vr = if let Some(vr) = vr {
        vr
    } else {
        let dictionary = dicom_dictionary_std::StandardDataDictionary;
        match dictionary.by_tag(dicom_core::Tag(group, element))?.vr() {
            VirtualVr::Exact(vr) => vr.to_bytes(),
            VirtualVr::Xs => *b"US",
            _ => return None,
        }
    };
    match &vr {
        b"US" | b"SS" | b"OW" => Some(2),
        b"UL" | b"SL" | b"FL" | b"AT" | b"OL" | b"OF" => Some(4),
        b"FD" | b"SV" | b"UV" | b"OD" | b"OV" => Some(8),
        _ => None,
    }
}
