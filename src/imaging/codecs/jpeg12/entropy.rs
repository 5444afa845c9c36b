//! Huffman decoding of the entropy-coded segments (T.81 F.2.2), as libjpeg's `jdhuff.c` does it.

use super::{ScanComponent, malformed};
use crate::imaging::ImagingError;

/// Zigzag position → natural (row-major) position in an 8 × 8 block.
pub(super) const NATURAL: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Bits of the Huffman lookahead table.
const LOOKAHEAD: u32 = 9;

#[derive(Clone)]
pub(super) struct Huffman {
    /// Indexed by the next `LOOKAHEAD` bits: (code length, value), length 0 if longer.
    lookup: Vec<(u8, u8)>,
    /// Largest code of each length (index 1..=16), −1 if none.
    maxcode: [i32; 17],
    /// Value index minus code, by length.
    valoffset: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    /// Builds the decoding tables as libjpeg's `jpeg_make_d_derived_tbl` does.
    pub(super) fn new(counts: &[u8; 16], values: Vec<u8>) -> Result<Self, ImagingError> {
        let mut maxcode = [-1i32; 17];
        let mut valoffset = [0i32; 17];
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKAHEAD];
        let mut code: i32 = 0;
        let mut index: i32 = 0;
        for len in 1..=16u32 {
            let n = i32::from(counts[len as usize - 1]);
            if n > 0 {
                valoffset[len as usize] = index - code;
                for _ in 0..n {
                    if len <= LOOKAHEAD {
                        let shift = LOOKAHEAD - len;
                        let first = usize::try_from(code << shift).unwrap_or(usize::MAX);
                        let value = values[usize::try_from(index).unwrap_or(0)];
                        for slot in lookup
                            .get_mut(first..first + (1 << shift))
                            .ok_or_else(|| malformed("bad Huffman table"))?
                        {
                            *slot = (u8::try_from(len).unwrap_or(0), value);
                        }
                    }
                    code += 1;
                    index += 1;
                }
                maxcode[len as usize] = code - 1;
            }
            // The codes of a length must fit in it, and none may be all ones (as libjpeg checks).
            if code >= (1 << len) {
                return Err(malformed("bad Huffman table"));
            }
            code <<= 1;
        }
        Ok(Self {
            lookup,
            maxcode,
            valoffset,
            values,
        })
    }
}

/// Decodes one block's coefficients (natural order, not dequantized) as libjpeg does, keeping
/// them as 16-bit values (libjpeg's `JCOEF`).
pub(super) fn decode_block(
    bits: &mut Bits<'_>,
    m: &mut ScanComponent,
    coef: &mut [i16; 64],
) -> Result<(), ImagingError> {
    *coef = [0; 64];
    let s = bits.huffman(&m.dc)?;
    if s > 16 {
        return Err(malformed("bad DC difference category"));
    }
    let diff = bits.receive_extend(s)?;
    m.pred = m.pred.wrapping_add(diff);
    coef[0] = wrap16(m.pred);
    let mut k = 1;
    while k < 64 {
        let rs = bits.huffman(&m.ac)?;
        let (r, s) = (usize::from(rs >> 4), rs & 15);
        if s == 0 {
            if r != 15 {
                break;
            }
            k += 16;
            continue;
        }
        k += r;
        if k > 63 {
            return Err(malformed("AC coefficients run past the end of a block"));
        }
        coef[NATURAL[k]] = wrap16(bits.receive_extend(s)?);
        k += 1;
    }
    Ok(())
}

/// libjpeg keeps coefficients in 16 bits; valid data always fits.
#[allow(clippy::cast_possible_truncation)] // Deliberate: wraps as libjpeg's `(JCOEF)` cast does.
fn wrap16(v: i32) -> i16 {
    v as i16
}

/// Entropy-coded data, bit by bit, with byte stuffing removed. Reading stops at a marker; bits
/// past it read as zeros but consuming any of them is an error (a truncated scan).
pub(super) struct Bits<'a> {
    data: &'a [u8],
    pub(super) pos: usize,
    acc: u64,
    count: u32,
    /// How many of the low `count` bits of `acc` are padding past the end.
    phantom: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            acc: 0,
            count: 0,
            phantom: 0,
        }
    }

    fn fill(&mut self) {
        while self.count <= 56 {
            let byte = match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
                (Some(0xFF), Some(0)) => {
                    self.pos += 2;
                    0xFF
                }
                (Some(0xFF) | None, _) => {
                    self.phantom += 8;
                    0
                }
                (Some(&b), _) => {
                    self.pos += 1;
                    b
                }
            };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.fill();
        }
        u32::try_from(self.acc >> (64 - n)).unwrap_or(0)
    }

    fn consume(&mut self, n: u32) -> Result<(), ImagingError> {
        self.acc <<= n;
        self.count -= n;
        if self.count < self.phantom {
            return Err(malformed("the scan data is truncated"));
        }
        Ok(())
    }

    fn huffman(&mut self, t: &Huffman) -> Result<u8, ImagingError> {
        let (len, value) = t.lookup[self.peek(LOOKAHEAD) as usize];
        if len > 0 {
            self.consume(u32::from(len))?;
            return Ok(value);
        }
        let bits = self.peek(16);
        for len in LOOKAHEAD + 1..=16 {
            let code = i32::try_from(bits >> (16 - len)).unwrap_or(i32::MAX);
            if code <= t.maxcode[len as usize] {
                let index = usize::try_from(code + t.valoffset[len as usize])
                    .map_err(|_| malformed("bad Huffman code"))?;
                let value = *t
                    .values
                    .get(index)
                    .ok_or_else(|| malformed("bad Huffman code"))?;
                self.consume(len)?;
                return Ok(value);
            }
        }
        Err(malformed("bad Huffman code"))
    }

    /// Reads `s` bits and sign-extends them as T.81 F.2.2.1 (EXTEND) does.
    fn receive_extend(&mut self, s: u8) -> Result<i32, ImagingError> {
        if s == 0 {
            return Ok(0);
        }
        let s = u32::from(s);
        let v = i32::try_from(self.peek(s)).unwrap_or(0);
        self.consume(s)?;
        Ok(if v < 1 << (s - 1) {
            v - (1 << s) + 1
        } else {
            v
        })
    }

    /// Drops the padding bits of the interval just decoded and reads the restart marker.
    pub(super) fn restart(&mut self) -> Result<(), ImagingError> {
        self.acc = 0;
        self.count = 0;
        self.phantom = 0;
        let mut pos = self.pos;
        if self.data.get(pos) != Some(&0xFF) {
            return Err(malformed("a restart marker is missing"));
        }
        while self.data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        match self.data.get(pos) {
            Some(0xD0..=0xD7) => {
                self.pos = pos + 1;
                Ok(())
            }
            _ => Err(malformed("a restart marker is missing")),
        }
    }
}
