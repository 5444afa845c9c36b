//! A JPEG-LS decoder (ITU-T T.87 | ISO/IEC 14495-1), as used by the DICOM transfer syntaxes
//! 1.2.840.10008.1.2.4.80 (lossless) and .81 (near-lossless). Pure Rust: CharLS would need cmake.
//!
//! Supported: SOF55 with 2–16 bits and 1 or 3 components, LSE preset coding parameters (type 1),
//! NEAR ≥ 0, interleave modes none, line and sample, restart intervals (DRI/RSTm); APPn and COM
//! segments are skipped. Refused: mapping tables (LSE types 2 and 3) and the extensions of
//! T.870 (LSE type 4, ISO/IEC 14495-2), subsampled components, a height left to a DNL marker.
//!
//! Names follow the standard: Ra, Rb, Rc, Rd are the reconstructed neighbours of the sample Ix
//! (left, above, above-left, above-right), Q the context, A/B/C/N its statistics, Px the
//! prediction, Errval and MErrval the prediction error and its mapped value, RItype, RUNindex, J.
//! Every read is bounds-checked: a truncated or corrupt codestream is an error, never a panic.

/// A decoded image: samples in pixel order, components interleaved, as `u8` when
/// `bits_per_sample` ≤ 8 and as little-endian `u16` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub bits_per_sample: u8,
    pub pixels: Vec<u8>,
}

/// Why a codestream could not be decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum JpegLsError {
    #[error("the JPEG-LS codestream ends early")]
    Truncated,
    #[error("malformed JPEG-LS codestream: {0}")]
    Malformed(&'static str),
    #[error("unsupported JPEG-LS codestream: {0}")]
    Unsupported(&'static str),
    #[error("the JPEG-LS image has {samples} samples, over the limit of {limit}")]
    TooLarge { samples: u64, limit: u64 },
}

mod scan_decoder;

use JpegLsError::{Malformed, Truncated, Unsupported};
use scan_decoder::ScanDecoder;

type Result<T> = std::result::Result<T, JpegLsError>;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DRI: u8 = 0xDD;
const SOF55: u8 = 0xF7;
const LSE: u8 = 0xF8;
const COM: u8 = 0xFE;
const RST0: u8 = 0xD0;

/// Decodes a JPEG-LS codestream. `max_samples` bounds width × height × components and is checked
/// before anything is allocated.
pub fn decode(data: &[u8], max_samples: u64) -> Result<Image> {
    decode_with(data, max_samples, false).or_else(|e| match e {
        // CharLS 2 writes an LSE MAXVAL below 2^P - 1 but codes with RANGE, qbpp and LIMIT of
        // 2^P - 1 (T.87 derives them from MAXVAL); read such a stream its way if T.87's fails.
        JpegLsError::Malformed(_) | JpegLsError::Truncated if lse_maxval_below_precision(data) => {
            decode_with(data, max_samples, true)
        }
        e => Err(e),
    })
}

fn decode_with(data: &[u8], max_samples: u64, charls_maxval: bool) -> Result<Image> {
    let mut r = ByteReader { data, pos: 0 };
    if r.u8()? != 0xFF || r.u8()? != SOI {
        return Err(Malformed("no SOI marker"));
    }
    let mut frame: Option<Frame> = None;
    let mut preset = Preset::default();
    let mut restart_interval = 0u32;
    let mut out: Vec<u8> = Vec::new();
    let mut decoded = [false; 3];
    loop {
        match r.marker()? {
            SOF55 => {
                if frame.is_some() {
                    return Err(Malformed("two frame headers"));
                }
                frame = Some(Frame::parse(r.segment()?, max_samples)?);
            }
            LSE => {
                preset = Preset::parse(r.segment()?)?;
                if charls_maxval {
                    preset.maxval = 0;
                }
            }
            DRI => {
                let s = r.segment()?;
                if !(2..=4).contains(&s.len()) {
                    return Err(Malformed("DRI length"));
                }
                restart_interval = s.iter().fold(0, |acc, &b| (acc << 8) | u32::from(b));
            }
            SOS => {
                let f = frame.as_ref().ok_or(Malformed("SOS before SOF55"))?;
                let scan = Scan::parse(r.segment()?, f, preset, restart_interval)?;
                for &c in &scan.components {
                    if std::mem::replace(&mut decoded[c], true) {
                        return Err(Malformed("a component is coded twice"));
                    }
                }
                if out.is_empty() {
                    out = vec![0; f.samples() * f.bytes_per_sample()];
                }
                let used = ScanDecoder::new(f, &scan, &data[r.pos..]).decode(f, &mut out)?;
                r.pos += used;
            }
            EOI => break,
            0xE0..=0xEF | COM => {
                r.segment()?;
            }
            0xC0..=0xCF => return Err(Unsupported("not a JPEG-LS frame (other SOFn)")),
            _ => return Err(Malformed("unexpected marker")),
        }
    }
    let f = frame.ok_or(Malformed("no SOF55 frame header"))?;
    if decoded[..f.components.len()].contains(&false) {
        return Err(Malformed("a component has no scan"));
    }
    Ok(Image {
        width: f.width,
        height: f.height,
        components: f.components.len().try_into().unwrap_or(u8::MAX),
        bits_per_sample: f.bits,
        pixels: out,
    })
}

/// Whether an LSE segment before the first scan sets MAXVAL below 2^P - 1.
fn lse_maxval_below_precision(data: &[u8]) -> bool {
    let mut r = ByteReader { data, pos: 2 };
    let (mut bits, mut maxval) = (None, None);
    while let Ok(m) = r.marker() {
        let Ok(s) = r.segment() else { break };
        match m {
            SOF55 => bits = s.first().copied(),
            LSE if s.first() == Some(&1) => maxval = be16(s, 1).ok(),
            SOS => break,
            _ => {}
        }
    }
    matches!((bits, maxval), (Some(b @ 2..=16), Some(m)) if m != 0 && u32::from(m) < (1 << b) - 1)
}

/// Marker segments, read with bounds checks.
struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn u8(&mut self) -> Result<u8> {
        let b = *self.data.get(self.pos).ok_or(Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next marker code, after any 0xFF fill bytes.
    fn marker(&mut self) -> Result<u8> {
        if self.u8()? != 0xFF {
            return Err(Malformed("expected a marker"));
        }
        loop {
            match self.u8()? {
                0xFF => {}
                0x00 => return Err(Malformed("expected a marker")),
                m => return Ok(m),
            }
        }
    }

    /// The parameters of a marker segment (after its two length bytes).
    fn segment(&mut self) -> Result<&'a [u8]> {
        let len = usize::from(u16::from_be_bytes([self.u8()?, self.u8()?]));
        let body_len = len.checked_sub(2).ok_or(Malformed("segment length"))?;
        let body = self
            .data
            .get(self.pos..self.pos + body_len)
            .ok_or(Truncated)?;
        self.pos += body_len;
        Ok(body)
    }
}

fn be16(s: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_be_bytes([
        *s.get(at).ok_or(Malformed("short segment"))?,
        *s.get(at + 1).ok_or(Malformed("short segment"))?,
    ]))
}

/// The frame header (SOF55, C.2.2).
struct Frame {
    bits: u8,
    width: u32,
    height: u32,
    /// Component identifiers Ci, in frame order.
    components: Vec<u8>,
}

impl Frame {
    fn parse(s: &[u8], max_samples: u64) -> Result<Self> {
        let bits = *s.first().ok_or(Malformed("short SOF55"))?;
        let height = u32::from(be16(s, 1)?);
        let width = u32::from(be16(s, 3)?);
        let nf = usize::from(*s.get(5).ok_or(Malformed("short SOF55"))?);
        if !(2..=16).contains(&bits) {
            return Err(Unsupported("sample precision outside 2–16 bits"));
        }
        if height == 0 {
            return Err(Unsupported("height defined by a DNL marker"));
        }
        if width == 0 {
            return Err(Malformed("zero width"));
        }
        if nf != 1 && nf != 3 {
            return Err(Unsupported("component count other than 1 or 3"));
        }
        if s.len() != 6 + 3 * nf {
            return Err(Malformed("SOF55 length"));
        }
        let mut components = Vec::with_capacity(nf);
        for c in s[6..].chunks_exact(3) {
            if c[1] != 0x11 {
                return Err(Unsupported("subsampled components"));
            }
            if components.contains(&c[0]) {
                return Err(Malformed("duplicate component identifier"));
            }
            components.push(c[0]);
        }
        let samples = u64::from(width) * u64::from(height) * nf as u64;
        if samples > max_samples {
            return Err(JpegLsError::TooLarge {
                samples,
                limit: max_samples,
            });
        }
        Ok(Self {
            bits,
            width,
            height,
            components,
        })
    }

    fn samples(&self) -> usize {
        self.width as usize * self.height as usize * self.components.len()
    }

    fn bytes_per_sample(&self) -> usize {
        if self.bits <= 8 { 1 } else { 2 }
    }
}

/// Preset coding parameters from an LSE segment of type 1 (C.2.4.1.1); 0 means "default".
#[derive(Debug, Clone, Copy, Default)]
struct Preset {
    maxval: u16,
    t1: u16,
    t2: u16,
    t3: u16,
    reset: u16,
}

impl Preset {
    fn parse(s: &[u8]) -> Result<Self> {
        match s.first() {
            Some(1) if s.len() == 11 => Ok(Self {
                maxval: be16(s, 1)?,
                t1: be16(s, 3)?,
                t2: be16(s, 5)?,
                t3: be16(s, 7)?,
                reset: be16(s, 9)?,
            }),
            Some(1) => Err(Malformed("LSE length")),
            Some(2 | 3) => Err(Unsupported("mapping tables (LSE types 2 and 3)")),
            Some(4) => Err(Unsupported("extended dimensions (LSE type 4)")),
            _ => Err(Unsupported("LSE type")),
        }
    }
}

/// The coding parameters of one scan (A.2.1, C.2.4.1.1).
#[derive(Debug, Clone, Copy)]
struct Params {
    maxval: i32,
    near: i32,
    range: i32,
    qbpp: u32,
    limit: u32,
    t1: i32,
    t2: i32,
    t3: i32,
    reset: i32,
}

impl Params {
    fn new(bits: u8, preset: Preset, near: u8) -> Result<Self> {
        let max_for_bits = (1i32 << bits) - 1;
        let maxval = match i32::from(preset.maxval) {
            0 => max_for_bits,
            m if m <= max_for_bits => m,
            _ => return Err(Malformed("MAXVAL exceeds the sample precision")),
        };
        let near = i32::from(near);
        if near > (maxval / 2).min(255) {
            return Err(Malformed("NEAR too large for MAXVAL"));
        }
        let range = (maxval + 2 * near) / (2 * near + 1) + 1;
        let qbpp = ceil_log2(range);
        let bpp = ceil_log2(maxval + 1).max(2);
        let limit = 2 * (bpp + bpp.max(8));
        // Default thresholds, C.2.4.1.1.1.
        let clamp = |i: i32, j: i32| if i > maxval || i < j { j } else { i };
        let (d1, d2, d3) = if maxval >= 128 {
            let factor = (maxval.min(4095) + 128) >> 8;
            let t1 = clamp(factor + 2 + 3 * near, near + 1); // FACTOR × (BASIC_T1 − 2) + 2 + 3 × NEAR
            let t2 = clamp(factor * (7 - 3) + 3 + 5 * near, t1);
            (t1, t2, clamp(factor * (21 - 4) + 4 + 7 * near, t2))
        } else {
            let factor = 256 / (maxval + 1);
            let t1 = clamp((3 / factor + 3 * near).max(2), near + 1);
            let t2 = clamp((7 / factor + 5 * near).max(3), t1);
            (t1, t2, clamp((21 / factor + 7 * near).max(4), t2))
        };
        let or_default = |v: u16, d: i32| if v == 0 { d } else { i32::from(v) };
        let (t1, t2, t3) = (
            or_default(preset.t1, d1),
            or_default(preset.t2, d2),
            or_default(preset.t3, d3),
        );
        let reset = or_default(preset.reset, 64);
        if !(near < t1 && t1 <= t2 && t2 <= t3 && t3 <= maxval) {
            return Err(Malformed("thresholds T1, T2, T3"));
        }
        if !(3..=maxval.max(255)).contains(&reset) {
            return Err(Malformed("RESET"));
        }
        Ok(Self {
            maxval,
            near,
            range,
            qbpp,
            limit,
            t1,
            t2,
            t3,
            reset,
        })
    }

    /// Gradient quantisation (A.3.3).
    fn quantize(&self, d: i32) -> i32 {
        match d {
            _ if d <= -self.t3 => -4,
            _ if d <= -self.t2 => -3,
            _ if d <= -self.t1 => -2,
            _ if d < -self.near => -1,
            _ if d <= self.near => 0,
            _ if d < self.t1 => 1,
            _ if d < self.t2 => 2,
            _ if d < self.t3 => 3,
            _ => 4,
        }
    }

    /// Rx from a prediction and a (signed, quantised) error, A.4.5 and A.6.2.
    fn reconstruct(&self, px: i32, errval: i32) -> i32 {
        let step = 2 * self.near + 1;
        let mut rx = px + errval * step;
        if rx < -self.near {
            rx += self.range * step;
        } else if rx > self.maxval + self.near {
            rx -= self.range * step;
        }
        rx.clamp(0, self.maxval)
    }
}

fn ceil_log2(v: i32) -> u32 {
    let mut bits = 0;
    while (1i64 << bits) < i64::from(v) {
        bits += 1;
    }
    bits
}

/// The scan header (SOS, C.2.3).
struct Scan {
    /// Indices into the frame's components, in scan order.
    components: Vec<usize>,
    interleave: u8,
    params: Params,
    restart_interval: u32,
}

impl Scan {
    fn parse(s: &[u8], frame: &Frame, preset: Preset, restart_interval: u32) -> Result<Self> {
        let ns = usize::from(*s.first().ok_or(Malformed("short SOS"))?);
        if ns == 0 || s.len() != 4 + 2 * ns {
            return Err(Malformed("SOS length"));
        }
        let mut components = Vec::with_capacity(ns);
        for c in s[1..=2 * ns].chunks_exact(2) {
            let index = frame
                .components
                .iter()
                .position(|&id| id == c[0])
                .ok_or(Malformed("SOS names an unknown component"))?;
            if c[1] != 0 {
                return Err(Unsupported("mapping tables (LSE types 2 and 3)"));
            }
            if components.contains(&index) {
                return Err(Malformed("SOS names a component twice"));
            }
            components.push(index);
        }
        let (near, interleave, point_transform) = (s[1 + 2 * ns], s[2 + 2 * ns], s[3 + 2 * ns]);
        match interleave {
            0 if ns != 1 => return Err(Malformed("ILV 0 with several components in one scan")),
            1 | 2 if ns != frame.components.len() => {
                return Err(Unsupported(
                    "interleaved scan over a subset of the components",
                ));
            }
            0..=2 => {}
            _ => return Err(Malformed("ILV")),
        }
        if point_transform != 0 {
            return Err(Unsupported("point transform"));
        }
        Ok(Self {
            components,
            interleave,
            params: Params::new(frame.bits, preset, near)?,
            restart_interval,
        })
    }
}

#[cfg(test)]
mod tests;
