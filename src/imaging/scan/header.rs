//! Reading one element header (tag, VR, length) in any of the three encodings, checked against
//! the bytes present.

use super::Encoding;

/// True for the two-letter value representations of PS3.5 table 6.2-1.
pub(super) fn is_vr(b: [u8; 2]) -> bool {
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
pub(super) fn has_long_length(b: [u8; 2]) -> bool {
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
pub(super) struct Header {
    pub(super) group: u16,
    pub(super) element: u16,
    pub(super) vr: Option<[u8; 2]>,
    pub(super) len: u32,
    pub(super) size: usize,
}

impl Header {
    pub(super) fn tag(&self) -> (u16, u16) {
        (self.group, self.element)
    }
}

pub(super) fn u16_at(b: &[u8], pos: usize, big: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(pos..pos + 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

pub(super) fn u32_at(b: &[u8], pos: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(pos..pos + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

pub(super) fn read_header(b: &[u8], pos: usize, enc: Encoding) -> Result<Header, String> {
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
