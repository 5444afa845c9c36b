//! Sequential DCT JPEG with Huffman coding (ITU T.81 processes 1 and 2: SOF0, SOF1) at 8 or 12 bits
//! of precision, for DICOM's JPEG Extended transfer syntax: jpeg-decoder does not do 12 bits.
//!
//! Grey (one component) and colour (three components, any sampling factors from 1 to 4; chroma
//! is upsampled by replication, where libjpeg interpolates). Interleaved and non-interleaved
//! scans, restart intervals. Progressive, lossless, hierarchical and arithmetic-coded JPEG are
//! refused as not supported. The inverse DCT is libjpeg's accurate integer one (`jidctint.c`,
//! "islow", libjpeg-turbo's default), so grey images decode to the same samples as libjpeg.
//!
//! Nothing in the codestream is trusted: every read is bounds-checked, the declared size is
//! checked against the caller's pixel limit and against the length of the codestream (every
//! 8 × 8 block takes at least two bits) before anything is allocated, a scan that runs out of
//! data is an error (libjpeg would pad it with zeros), and every loop advances through the data
//! or is bounded by the block count.

use crate::imaging::ImagingError;

mod entropy;
mod idct;

use entropy::{Bits, Huffman, NATURAL, decode_block};
use idct::idct_islow;

pub(super) fn malformed(what: impl std::fmt::Display) -> ImagingError {
    ImagingError::malformed(format!("JPEG: {what}"))
}

/// How three decoded components are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Colour {
    Grey,
    /// YCbCr, full range (JFIF): the DICOM photometric interpretation YBR_FULL.
    YCbCr,
    Rgb,
}

/// A decoded image: samples interleaved by pixel, row by row.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    pub width: u32,
    pub height: u32,
    /// 8 or 12 bits a sample.
    pub precision: u8,
    pub colour: Colour,
    pub components: u8,
    pub samples: Vec<u16>,
}

/// The marker and sample precision of the first frame header, if the data is a JPEG
/// codestream that has one.
pub(crate) fn frame_header(data: &[u8]) -> Option<(u8, u8)> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut pos = 2;
    loop {
        let (marker, at) = next_marker(data, pos)?;
        pos = at;
        match marker {
            0x01 | 0xD0..=0xD8 => {}
            0xD9 | 0xDA => return None,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some((marker, *data.get(pos + 2)?));
            }
            _ => {
                let len = usize::from(u16::from_be_bytes([*data.get(pos)?, *data.get(pos + 1)?]));
                pos += len;
            }
        }
    }
}

/// The next marker at or after `pos` (skipping anything that is not one, as libjpeg does) and
/// the position just after it.
fn next_marker(data: &[u8], mut pos: usize) -> Option<(u8, usize)> {
    loop {
        while *data.get(pos)? != 0xFF {
            pos += 1;
        }
        while *data.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = data[pos];
        pos += 1;
        if marker != 0 {
            return Some((marker, pos));
        }
    }
}

/// Decodes a JPEG codestream whose frame is at most `max_pixels` pixels.
pub(crate) fn decode(data: &[u8], max_pixels: u64) -> Result<Image, ImagingError> {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return Err(malformed("no start-of-image marker"));
    }
    let mut d = Decoder {
        data,
        qt: [None; 4],
        dc: [None, None, None, None],
        ac: [None, None, None, None],
        restart: 0,
        frame: None,
        adobe: None,
        jfif: false,
    };
    let mut pos = 2;
    // Without an end-of-image marker, what the scans have filled is accepted, as libjpeg does.
    while let Some((marker, at)) = next_marker(data, pos) {
        pos = at;
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            0xD8 => return Err(malformed("a second start-of-image marker")),
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([
            *data.get(pos).ok_or_else(|| malformed("truncated marker"))?,
            *data
                .get(pos + 1)
                .ok_or_else(|| malformed("truncated marker"))?,
        ]));
        let body = data
            .get(pos + 2..pos + len.max(2))
            .filter(|_| len >= 2)
            .ok_or_else(|| malformed(format_args!("marker 0xFF{marker:02X} is cut off")))?;
        pos += len;
        match marker {
            0xC0 | 0xC1 => d.start_of_frame(body, max_pixels)?,
            0xC2 => return Err(unsupported("progressive")),
            0xC3 => return Err(unsupported("lossless")),
            0xC5..=0xC7 => return Err(unsupported("hierarchical")),
            0xC8..=0xCF => return Err(unsupported("arithmetic-coded")),
            0xC4 => d.huffman_tables(body)?,
            0xDB => d.quantization_tables(body)?,
            0xDD => {
                let ri = body.get(..2).ok_or_else(|| malformed("DRI is too short"))?;
                d.restart = u16::from_be_bytes([ri[0], ri[1]]);
            }
            0xDC => return Err(unsupported("DNL (height defined after the scan)")),
            0xE0 => d.jfif |= body.starts_with(b"JFIF\0"),
            0xEE if body.starts_with(b"Adobe") && body.len() >= 12 => d.adobe = Some(body[11]),
            0xDA => pos = d.scan(body, pos)?,
            _ => {}
        }
    }
    d.finish()
}

fn unsupported(what: &str) -> ImagingError {
    ImagingError::not_previewable(format!("{what} JPEG is not supported"))
}

#[derive(Debug, Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Width and height of the component in samples.
    width: usize,
    height: usize,
    /// Width and height of the sample plane: whole MCUs.
    stride: usize,
    rows: usize,
    plane: Vec<u16>,
    scanned: bool,
}

struct Frame {
    precision: u8,
    width: usize,
    height: usize,
    hmax: usize,
    vmax: usize,
    mcus_x: usize,
    mcus_y: usize,
    components: Vec<Component>,
}

struct Decoder<'a> {
    data: &'a [u8],
    /// Quantization tables in natural order.
    qt: [Option<[u16; 64]>; 4],
    dc: [Option<Huffman>; 4],
    ac: [Option<Huffman>; 4],
    restart: u16,
    frame: Option<Frame>,
    adobe: Option<u8>,
    jfif: bool,
}

impl Decoder<'_> {
    fn start_of_frame(&mut self, b: &[u8], max_pixels: u64) -> Result<(), ImagingError> {
        if self.frame.is_some() {
            return Err(malformed("more than one frame header"));
        }
        let head = b.get(..6).ok_or_else(|| malformed("SOF is too short"))?;
        let precision = head[0];
        let height = usize::from(u16::from_be_bytes([head[1], head[2]]));
        let width = usize::from(u16::from_be_bytes([head[3], head[4]]));
        let nf = usize::from(head[5]);
        if !matches!(precision, 8 | 12) {
            return Err(ImagingError::not_previewable(format!(
                "JPEG with {precision}-bit samples is not supported"
            )));
        }
        if height == 0 {
            return Err(unsupported("DNL (height defined after the scan)"));
        }
        if width == 0 {
            return Err(malformed("zero width"));
        }
        if !matches!(nf, 1 | 3) {
            return Err(ImagingError::not_previewable(format!(
                "JPEG with {nf} components is not supported"
            )));
        }
        let pixels = (width as u64) * (height as u64);
        if pixels > max_pixels {
            return Err(ImagingError::too_large(format!(
                "the JPEG frame declares {width} × {height} pixels, over the limit of {max_pixels}"
            )));
        }
        let specs = b
            .get(6..6 + 3 * nf)
            .ok_or_else(|| malformed("SOF is too short"))?;
        let mut components: Vec<Component> = Vec::with_capacity(nf);
        for c in specs.chunks_exact(3) {
            let (h, v, tq) = (
                usize::from(c[1] >> 4),
                usize::from(c[1] & 15),
                usize::from(c[2]),
            );
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
                return Err(malformed("bad component in SOF"));
            }
            if components.iter().any(|k| k.id == c[0]) {
                return Err(malformed("duplicate component id"));
            }
            components.push(Component {
                id: c[0],
                h,
                v,
                tq,
                width: 0,
                height: 0,
                stride: 0,
                rows: 0,
                plane: Vec::new(),
                scanned: false,
            });
        }
        let hmax = components.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = components.iter().map(|c| c.v).max().unwrap_or(1);
        let mcus_x = width.div_ceil(8 * hmax);
        let mcus_y = height.div_ceil(8 * vmax);
        // Every coded block takes at least two bits (a DC and an end-of-block code), so a
        // codestream this long cannot describe more blocks than this: refuse before allocating.
        let mut blocks = 0usize;
        for c in &mut components {
            c.width = (width * c.h).div_ceil(hmax);
            c.height = (height * c.v).div_ceil(vmax);
            c.stride = mcus_x * c.h * 8;
            c.rows = mcus_y * c.v * 8;
            blocks += c.width.div_ceil(8) * c.height.div_ceil(8);
        }
        if blocks > self.data.len().saturating_mul(4) {
            return Err(malformed(format_args!(
                "{width} × {height} pixels cannot be coded in {} bytes",
                self.data.len()
            )));
        }
        for c in &mut components {
            c.plane = vec![0; c.stride * c.rows];
        }
        self.frame = Some(Frame {
            precision,
            width,
            height,
            hmax,
            vmax,
            mcus_x,
            mcus_y,
            components,
        });
        Ok(())
    }

    fn quantization_tables(&mut self, mut b: &[u8]) -> Result<(), ImagingError> {
        while let Some((&pq_tq, rest)) = b.split_first() {
            let (pq, tq) = (pq_tq >> 4, usize::from(pq_tq & 15));
            if pq > 1 || tq > 3 {
                return Err(malformed("bad quantization table"));
            }
            let n = if pq == 0 { 64 } else { 128 };
            let values = rest
                .get(..n)
                .ok_or_else(|| malformed("quantization table is cut off"))?;
            let mut table = [0u16; 64];
            for (k, &natural) in NATURAL.iter().enumerate() {
                table[natural] = if pq == 0 {
                    u16::from(values[k])
                } else {
                    u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
                };
            }
            self.qt[tq] = Some(table);
            b = &rest[n..];
        }
        Ok(())
    }

    fn huffman_tables(&mut self, mut b: &[u8]) -> Result<(), ImagingError> {
        while let Some((&tc_th, rest)) = b.split_first() {
            let (tc, th) = (tc_th >> 4, usize::from(tc_th & 15));
            if tc > 1 || th > 3 {
                return Err(malformed("bad Huffman table class or index"));
            }
            let counts: [u8; 16] = rest
                .get(..16)
                .and_then(|c| c.try_into().ok())
                .ok_or_else(|| malformed("Huffman table is cut off"))?;
            let total: usize = counts.iter().map(|&n| usize::from(n)).sum();
            if total > 256 {
                return Err(malformed("bad Huffman table"));
            }
            let values = rest
                .get(16..16 + total)
                .ok_or_else(|| malformed("Huffman table is cut off"))?
                .to_vec();
            let table = Some(Huffman::new(&counts, values)?);
            if tc == 0 {
                self.dc[th] = table;
            } else {
                self.ac[th] = table;
            }
            b = &rest[16 + total..];
        }
        Ok(())
    }

    /// Decodes the scan whose header is `b` and whose entropy-coded data starts at `pos`;
    /// returns the position after it.
    fn scan(&mut self, b: &[u8], pos: usize) -> Result<usize, ImagingError> {
        let frame = self
            .frame
            .as_mut()
            .ok_or_else(|| malformed("a scan before the frame header"))?;
        let ns = usize::from(*b.first().ok_or_else(|| malformed("SOS is too short"))?);
        let specs = b
            .get(1..1 + 2 * ns)
            .filter(|_| (1..=4).contains(&ns))
            .ok_or_else(|| malformed("bad scan header"))?;
        let mut members = Vec::with_capacity(ns);
        for s in specs.chunks_exact(2) {
            let index = frame
                .components
                .iter()
                .position(|c| c.id == s[0])
                .ok_or_else(|| malformed("a scan names an unknown component"))?;
            if members.iter().any(|m: &ScanComponent| m.index == index) {
                return Err(malformed("a scan names a component twice"));
            }
            let (td, ta) = (usize::from(s[1] >> 4), usize::from(s[1] & 15));
            let dc = self
                .dc
                .get(td)
                .cloned()
                .flatten()
                .ok_or_else(|| malformed("a scan uses an undefined DC table"))?;
            let ac = self
                .ac
                .get(ta)
                .cloned()
                .flatten()
                .ok_or_else(|| malformed("a scan uses an undefined AC table"))?;
            let c = &frame.components[index];
            let q = self.qt[c.tq]
                .ok_or_else(|| malformed("a component uses an undefined quantization table"))?;
            members.push(ScanComponent {
                index,
                dc,
                ac,
                q,
                pred: 0,
            });
        }
        let interleaved = ns > 1;
        let (mcus_x, mcus_y) = if interleaved {
            (frame.mcus_x, frame.mcus_y)
        } else {
            let c = &frame.components[members[0].index];
            (c.width.div_ceil(8), c.height.div_ceil(8))
        };
        let precision = frame.precision;
        let mut bits = Bits::new(self.data, pos);
        let total = mcus_x * mcus_y;
        let restart = usize::from(self.restart);
        let mut coef = [0i16; 64];
        for mcu in 0..total {
            if restart > 0 && mcu > 0 && mcu % restart == 0 {
                bits.restart()?;
                for m in &mut members {
                    m.pred = 0;
                }
            }
            let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
            for m in &mut members {
                let c = &mut frame.components[m.index];
                let (bw, bh) = if interleaved { (c.h, c.v) } else { (1, 1) };
                for by in 0..bh {
                    for bx in 0..bw {
                        decode_block(&mut bits, m, &mut coef)?;
                        let (x, y) = ((mx * bw + bx) * 8, (my * bh + by) * 8);
                        idct_islow(
                            &coef,
                            &m.q,
                            precision,
                            &mut c.plane,
                            y * c.stride + x,
                            c.stride,
                        );
                    }
                }
            }
        }
        for m in &members {
            frame.components[m.index].scanned = true;
        }
        Ok(bits.pos)
    }

    fn finish(self) -> Result<Image, ImagingError> {
        let frame = self.frame.ok_or_else(|| malformed("no frame header"))?;
        if frame.components.iter().any(|c| !c.scanned) {
            return Err(malformed("a component has no scan"));
        }
        let (w, h) = (frame.width, frame.height);
        let n = frame.components.len();
        let mut samples = Vec::with_capacity(w * h * n);
        for y in 0..h {
            for x in 0..w {
                for c in &frame.components {
                    let (cx, cy) = (x * c.h / frame.hmax, y * c.v / frame.vmax);
                    samples.push(c.plane[cy * c.stride + cx]);
                }
            }
        }
        let colour = if n == 1 {
            Colour::Grey
        } else {
            match self.adobe {
                Some(0) => Colour::Rgb,
                Some(_) => Colour::YCbCr,
                None if self.jfif => Colour::YCbCr,
                None => {
                    let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
                    if ids == b"RGB" {
                        Colour::Rgb
                    } else {
                        Colour::YCbCr
                    }
                }
            }
        };
        Ok(Image {
            width: u32::try_from(w).map_err(|_| malformed("width"))?,
            height: u32::try_from(h).map_err(|_| malformed("height"))?,
            precision: frame.precision,
            colour,
            components: u8::try_from(n).map_err(|_| malformed("components"))?,
            samples,
        })
    }
}

pub(super) struct ScanComponent {
    index: usize,
    dc: Huffman,
    ac: Huffman,
    q: [u16; 64],
    pred: i32,
}

#[cfg(test)]
mod tests;
