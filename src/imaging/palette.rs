//! Palette colour lookup tables (PS3.3 C.7.6.3.1.5-6): each channel's table as stored, or
//! expanded from Segmented Palette Color Lookup Table Data (0028,1221-1223; C.7.9.2), which is how
//! ultrasound scanners write theirs.
//!
//! A segmented table is a run of segments, each an opcode, a length and its data:
//! - discrete (0): `length` table entries follow, as they are;
//! - linear (1): one value `y1` follows; the `length` entries after the previous one lie on the
//!   straight line from the previous entry to `y1`;
//! - indirect (2): a 32-bit offset follows (least significant half first); the `length` segments
//!   starting there are expanded again here.
//!
//! The segments of a table with 8-bit entries are 8-bit values (a 4-byte offset); of a 16-bit one,
//! 16-bit words (a 2-word offset). An indirect offset counts entries of the segment data from its
//! start, as GDCM and pydicom read it; an offset that instead counts bytes (PS3.3's wording) is
//! accepted when it lands on a segment where the other reading does not.
//!
//! The input is hostile until expanded: every segment must lie inside the data, the table may not
//! grow past the descriptor's entry count, an indirect segment must point at the start of a segment,
//! nesting is bounded, and so is the number of segments visited: no input makes this panic or work
//! without bound.

use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_object::InMemDicomObject;

use super::ImagingError;

/// Indirect segments may copy indirect segments this deep.
const MAX_DEPTH: u32 = 4;
/// Segments visited while expanding one table (a real table has a few hundred).
const MAX_SEGMENTS_VISITED: usize = 1 << 20;

/// One channel's lookup table: its entries, the first pixel value it maps, and the bits of an entry.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Channel {
    pub table: Vec<u16>,
    pub first: i64,
    pub bits: u16,
}

/// The tags of one channel.
pub(super) struct ChannelTags {
    pub descriptor: Tag,
    pub data: Tag,
    pub segmented: Tag,
}

/// Reads one channel's table: the plain table if there is one, else the segmented one expanded.
pub(super) fn channel(
    obj: &InMemDicomObject,
    tags: &ChannelTags,
    signed: bool,
) -> Result<Channel, ImagingError> {
    let d = obj
        .get(tags.descriptor)
        .and_then(|e| e.value().to_multi_int::<i64>().ok())
        .filter(|d| d.len() == 3)
        .ok_or_else(|| ImagingError::malformed("palette LUT descriptor is missing"))?;
    // A first value of 0 means 65,536 entries (PS3.3 C.7.6.3.1.5).
    let entries = match d[0] & 0xFFFF {
        0 => 65536,
        n => usize::try_from(n).unwrap_or(65536),
    };
    let first = if signed {
        i64::from(i16::from_le_bytes(
            u16::try_from(d[1] & 0xFFFF).unwrap_or(0).to_le_bytes(),
        ))
    } else {
        d[1] & 0xFFFF
    };
    let bits = u16::try_from(d[2] & 0xFFFF).unwrap_or(16);
    let primitive = |tag: Tag| match obj.get(tag).map(dicom_core::DataElement::value) {
        Some(Value::Primitive(p)) => Some(p),
        _ => None,
    };
    let table = if let Some(p) = primitive(tags.data) {
        let raw = super::render::le_bytes(p);
        if bits <= 8 && raw.len() == entries {
            raw.iter().map(|&b| u16::from(b)).collect()
        } else {
            raw.chunks_exact(2)
                .take(entries)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        }
    } else if let Some(p) = primitive(tags.segmented) {
        expand(&segment_words(p, bits), entries, bits <= 8)?
    } else {
        return Err(ImagingError::not_previewable(
            "palette colour without LUT data",
        ));
    };
    if table.is_empty() {
        return Err(ImagingError::malformed("palette LUT data is empty"));
    }
    Ok(Channel { table, first, bits })
}

/// The segment data as values: bytes for a table of 8-bit entries, 16-bit words otherwise.
fn segment_words(p: &PrimitiveValue, bits: u16) -> Vec<u16> {
    let raw = super::render::le_bytes(p);
    if bits <= 8 {
        raw.iter().map(|&b| u16::from(b)).collect()
    } else {
        raw.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    }
}

fn bad(reason: &str) -> ImagingError {
    ImagingError::malformed(format!("segmented palette: {reason}"))
}

/// Expands segmented lookup table data (`data`, one value per element) into at most `entries`
/// entries. `narrow`: the table's entries are 8-bit, so an indirect offset takes four elements.
pub(super) fn expand(data: &[u16], entries: usize, narrow: bool) -> Result<Vec<u16>, ImagingError> {
    let offset_len = if narrow { 4 } else { 2 };
    // Where each segment starts, checking that every one lies inside the data.
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if pos + 1 == data.len() && data[pos] == 0 {
            break; // a trailing pad to an even length
        }
        let length = usize::from(
            *data
                .get(pos + 1)
                .ok_or_else(|| bad("a segment is cut short"))?,
        );
        let body = match data[pos] {
            0 => length,
            1 => 1,
            2 => offset_len,
            _ => return Err(bad("unknown segment type")),
        };
        starts.push(pos);
        pos += 2 + body;
        if pos > data.len() {
            return Err(bad("a segment runs past the end of the data"));
        }
    }
    let mut expander = Expander {
        data,
        starts: &starts,
        offset_len,
        limit: entries,
        visited: 0,
        out: Vec::new(),
    };
    expander.run(0, starts.len(), 0)?;
    if expander.out.is_empty() {
        return Err(bad("no entries"));
    }
    Ok(expander.out)
}

struct Expander<'a> {
    data: &'a [u16],
    starts: &'a [usize],
    offset_len: usize,
    limit: usize,
    visited: usize,
    out: Vec<u16>,
}

impl Expander<'_> {
    /// Expands `count` segments from the `first`-th.
    fn run(&mut self, first: usize, count: usize, depth: u32) -> Result<(), ImagingError> {
        for index in first..first.saturating_add(count) {
            let &pos = self
                .starts
                .get(index)
                .ok_or_else(|| bad("an indirect segment copies past the last segment"))?;
            self.visited += 1;
            if self.visited > MAX_SEGMENTS_VISITED {
                return Err(bad("too many segments"));
            }
            let count16 = self.data[pos + 1];
            let length = usize::from(count16);
            match self.data[pos] {
                0 => {
                    self.room_for(length)?;
                    self.out
                        .extend_from_slice(&self.data[pos + 2..pos + 2 + length]);
                }
                1 => {
                    let &y0 = self
                        .out
                        .last()
                        .ok_or_else(|| bad("a linear segment has no segment before it"))?;
                    self.room_for(length)?;
                    let (y0, y1) = (f64::from(y0), f64::from(self.data[pos + 2]));
                    let n = f64::from(count16);
                    self.out.extend((1..=count16).map(|i| {
                        let y = y0 + (y1 - y0) * f64::from(i) / n;
                        // Between y0 and y1, both u16: the cast cannot truncate.
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let v = y.round() as u16;
                        v
                    }));
                }
                _ => {
                    if self.out.is_empty() {
                        return Err(bad("an indirect segment has no segment before it"));
                    }
                    if depth >= MAX_DEPTH {
                        return Err(bad("indirect segments nest too deep (a loop?)"));
                    }
                    let target = self.target(pos)?;
                    self.run(target, length, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn room_for(&self, more: usize) -> Result<(), ImagingError> {
        if self.out.len() + more > self.limit {
            return Err(bad(&format!(
                "expands past the descriptor's {} entries",
                self.limit
            )));
        }
        Ok(())
    }

    /// The index of the segment an indirect segment at `pos` points at.
    fn target(&self, pos: usize) -> Result<usize, ImagingError> {
        let o = &self.data[pos + 2..pos + 2 + self.offset_len];
        let offset = if self.offset_len == 4 {
            // Four bytes (each element holds one), least significant first.
            o.iter()
                .rev()
                .fold(0u32, |acc, &b| (acc << 8) | u32::from(b & 0xFF))
        } else {
            u32::from(o[0]) | (u32::from(o[1]) << 16)
        };
        let offset = usize::try_from(offset).map_err(|_| bad("offset out of range"))?;
        let find = |at: usize| self.starts.binary_search(&at).ok();
        find(offset)
            .or_else(|| {
                (self.offset_len == 2 && offset % 2 == 0)
                    .then(|| find(offset / 2))
                    .flatten()
            })
            .ok_or_else(|| bad("an indirect segment points outside the segments"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discrete_and_linear_segments_expand() {
        // 0, 112, then five steps up to 192.
        let data = [0, 2, 0, 112, 1, 5, 192];
        assert_eq!(
            expand(&data, 7, false).unwrap(),
            [0, 112, 128, 144, 160, 176, 192]
        );
        // A falling line rounds each entry.
        assert_eq!(
            expand(&[0, 1, 10, 1, 3, 0], 4, false).unwrap(),
            [10, 7, 3, 0]
        );
    }

    #[test]
    fn indirect_segments_copy_earlier_segments() {
        // The two segments at offset 0 again: by entry offset and by byte offset alike.
        let by_entries = [0, 2, 0, 112, 1, 5, 192, 2, 2, 0, 0];
        let expected = [0, 112, 128, 144, 160, 176, 192].repeat(2);
        assert_eq!(expand(&by_entries, 14, false).unwrap(), expected);
        // The linear segment alone (entry offset 4, or byte offset 8), from the last entry.
        let linear = [0, 2, 0, 112, 1, 5, 192, 0, 1, 0, 2, 1, 4, 0];
        let bytes = [0, 2, 0, 112, 1, 5, 192, 0, 1, 0, 2, 1, 8, 0];
        let expected = [0, 112, 128, 144, 160, 176, 192, 0, 38, 77, 115, 154, 192];
        assert_eq!(expand(&linear, 13, false).unwrap(), expected);
        assert_eq!(expand(&bytes, 13, false).unwrap(), expected);
        // 8-bit data: a four-byte offset.
        let narrow = [0, 3, 1, 2, 3, 2, 1, 0, 0, 0, 0];
        assert_eq!(expand(&narrow, 6, true).unwrap(), [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn hostile_segments_are_refused_without_panic_or_endless_work() {
        let refused = |data: &[u16], entries: usize| {
            assert!(
                matches!(
                    expand(data, entries, false),
                    Err(ImagingError::Malformed { .. })
                ),
                "{data:?}"
            );
        };
        refused(&[0, 9, 1, 2], 100); // a discrete segment longer than the data
        refused(&[0, 2, 1, 2], 1); // more entries than the descriptor has
        refused(&[1, 4, 9], 100); // a linear segment first
        refused(&[2, 1, 0, 0], 100); // an indirect segment first
        refused(&[7, 1, 0], 100); // an unknown opcode
        refused(&[0, 2, 5, 6, 2, 1, 1, 0], 100); // an offset that lands mid-segment
        refused(&[0, 1, 5, 2, 1, 0xFFFF, 0xFFFF], 100); // an offset far outside
        refused(&[0, 1, 5, 2, 9, 7, 0, 0, 0], 100); // copying past the last segment
        // An indirect segment that copies itself: a loop, cut by the nesting bound.
        let reason = |data: &[u16]| match expand(data, 65536, false) {
            Err(ImagingError::Malformed { reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(&[0, 1, 5, 2, 1, 3, 0]).contains("nest"));
        assert!(reason(&[0, 1, 5, 2, 2, 0, 0]).contains("nest"));
        // Zero-length segments copied over and over without nesting: cut by the segment count.
        let mut wide = vec![0, 1, 5];
        wide.extend([0, 0].repeat(65_000));
        for _ in 0..20 {
            wide.extend([2, 65_000, 3, 0]);
        }
        assert!(reason(&wide).contains("too many segments"));
        refused(&[], 10);
    }
}
