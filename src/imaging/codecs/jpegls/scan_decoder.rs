//! The entropy-coded segment of a scan (T.87 Annex A): context modelling, prediction, regular
//! and run mode, read bit by bit with the marker and bit-stuffing rules of A.1.

use super::{ByteReader, Frame, Malformed, Params, RST0, Result, Scan, Truncated};

/// J[RUNindex]: the order of run lengths coded by one bit in run mode (A.7.1.2).
const J: [u32; 32] = [
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13,
    14, 15,
];

/// Golomb parameters above this cannot come from a valid stream (A/N is at most RANGE).
const MAX_K: u32 = 24;

/// Reads the entropy-coded bits of a scan, dropping the stuffed 0 bit after each 0xFF (A.1).
/// Stops at a marker (0xFF followed by a byte with its high bit set).
struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte to load into `cache`.
    pos: usize,
    /// Bits not yet consumed, left-aligned.
    cache: u64,
    bits: u32,
    after_ff: bool,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            cache: 0,
            bits: 0,
            after_ff: false,
        }
    }

    fn fill(&mut self) {
        while self.bits <= 56 {
            let Some(&byte) = self.data.get(self.pos) else {
                return;
            };
            let (value, width) = if self.after_ff {
                if byte & 0x80 != 0 {
                    return; // 0xFF began a marker
                }
                (byte, 7)
            } else {
                if byte == 0xFF && self.data.get(self.pos + 1).is_none_or(|&b| b & 0x80 != 0) {
                    return; // a marker, or the end of the data
                }
                (byte, 8)
            };
            self.after_ff = byte == 0xFF;
            self.cache |= u64::from(value) << (64 - self.bits - width);
            self.bits += width;
            self.pos += 1;
        }
    }

    fn consume(&mut self, n: u32) {
        self.cache = self.cache.checked_shl(n).unwrap_or(0);
        self.bits -= n;
    }

    fn bits(&mut self, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        if self.bits < n {
            self.fill();
            if self.bits < n {
                return Err(Truncated);
            }
        }
        let v = u32::try_from(self.cache >> (64 - n)).map_err(|_| Malformed("bit count"))?;
        self.consume(n);
        Ok(v)
    }

    fn bit(&mut self) -> Result<bool> {
        Ok(self.bits(1)? == 1)
    }

    /// Counts 0 bits up to and including a 1 bit; more than `max` zeros is an error.
    fn unary(&mut self, max: u32) -> Result<u32> {
        let mut zeros = 0;
        loop {
            if self.bits == 0 {
                self.fill();
                if self.bits == 0 {
                    return Err(Truncated);
                }
            }
            let lz = self.cache.leading_zeros().min(self.bits);
            if lz < self.bits {
                self.consume(lz + 1);
                zeros += lz;
                break;
            }
            zeros += lz;
            self.consume(lz);
            if zeros > max {
                break;
            }
        }
        if zeros > max {
            return Err(Malformed("Golomb code too long"));
        }
        Ok(zeros)
    }

    /// A limited-length Golomb code of order k (A.5.3): MErrval.
    fn golomb(&mut self, k: u32, limit: u32, qbpp: u32) -> Result<i32> {
        let escape = limit.saturating_sub(qbpp + 1);
        let q = self.unary(escape)?;
        let v = if q < escape {
            (q << k) + self.bits(k)?
        } else {
            self.bits(qbpp)? + 1
        };
        i32::try_from(v).map_err(|_| Malformed("Golomb code"))
    }

    /// The offset just past the entropy-coded data: the next marker at or after the bytes read.
    fn end(&self) -> usize {
        let mut p = self.pos;
        while p + 1 < self.data.len() && !(self.data[p] == 0xFF && self.data[p + 1] & 0x80 != 0) {
            p += 1;
        }
        p
    }
}

/// Statistics of a regular-mode context (A.2.2): A, B, C, N.
#[derive(Debug, Clone, Copy)]
struct Context {
    a: i64,
    b: i64,
    c: i32,
    n: i64,
}

/// Statistics of a run-interruption context (indices 365 and 366): A, N, Nn.
#[derive(Debug, Clone, Copy)]
struct RunContext {
    a: i64,
    n: i64,
    nn: i64,
}

fn golomb_k(n: i64, a: i64) -> Result<u32> {
    let mut k = 0;
    while (n << k) < a {
        k += 1;
        if k > MAX_K {
            return Err(Malformed("context statistics"));
        }
    }
    Ok(k)
}

pub(super) struct ScanDecoder<'a> {
    p: Params,
    bits: BitReader<'a>,
    contexts: Vec<Context>,
    run_contexts: [RunContext; 2],
    /// RUNindex, one per component in line-interleaved mode.
    run_index: [usize; 3],
    width: usize,
    /// Samples a pixel position of a line holds: the component count in sample-interleaved
    /// mode, else 1.
    per_pixel: usize,
    /// Lines coded one after the other for each row: the component count in line-interleaved
    /// mode, else 1.
    lines_per_row: usize,
    components: Vec<usize>,
    restart_interval: u32,
}

impl<'a> ScanDecoder<'a> {
    pub(super) fn new(frame: &Frame, scan: &Scan, data: &'a [u8]) -> Self {
        let ns = scan.components.len();
        let (per_pixel, lines_per_row) = match scan.interleave {
            2 => (ns, 1),
            1 => (1, ns),
            _ => (1, 1),
        };
        let mut d = Self {
            p: scan.params,
            bits: BitReader::new(data, 0),
            contexts: Vec::new(),
            run_contexts: [RunContext { a: 0, n: 1, nn: 0 }; 2],
            run_index: [0; 3],
            width: frame.width as usize,
            per_pixel,
            lines_per_row,
            components: scan.components.clone(),
            restart_interval: scan.restart_interval,
        };
        d.reset_statistics();
        d
    }

    /// Initialisation (A.2.1), at the start of the scan and after each restart marker.
    fn reset_statistics(&mut self) {
        let a = i64::from(((self.p.range + 32) >> 6).max(2));
        self.contexts = vec![
            Context {
                a,
                b: 0,
                c: 0,
                n: 1
            };
            365
        ];
        self.run_contexts = [RunContext { a, n: 1, nn: 0 }; 2];
        self.run_index = [0; 3];
    }

    /// Decodes the scan into `out` (samples of all components, interleaved by pixel); returns
    /// the number of bytes of entropy-coded data (and restart markers) used.
    pub(super) fn decode(mut self, frame: &Frame, out: &mut [u8]) -> Result<usize> {
        let (w, nf, bytes) = (self.width, frame.components.len(), frame.bytes_per_sample());
        let stride = (w + 2) * self.per_pixel;
        // For each line of a row: the previous and the current line, with one pixel of margin
        // on each side for the edge rules of A.2.1.
        let mut lines = vec![0i32; 2 * self.lines_per_row * stride];
        let height = frame.height as usize;
        let interval = match self.restart_interval {
            0 => height,
            r => r as usize,
        };
        let mut restart_marker = 0u8;
        for y in 0..height {
            if y > 0 && y % interval == 0 {
                self.restart(restart_marker)?;
                restart_marker = (restart_marker + 1) % 8;
                lines.fill(0);
            }
            for l in 0..self.lines_per_row {
                let pair = &mut lines[2 * l * stride..2 * (l + 1) * stride];
                let (prev, cur) = pair.split_at_mut(stride);
                if y % interval != 0 {
                    prev.copy_from_slice(cur);
                }
                self.decode_line(prev, cur, l)?;
                for x in 0..w {
                    for s in 0..self.per_pixel {
                        let c = self.components[l + s];
                        let v = u16::try_from(cur[(x + 1) * self.per_pixel + s]).unwrap_or(0);
                        let at = ((y * w + x) * nf + c) * bytes;
                        out[at..at + bytes].copy_from_slice(&v.to_le_bytes()[..bytes]);
                    }
                }
            }
        }
        Ok(self.bits.end())
    }

    /// Skips to the restart marker RSTm after an interval and starts reading afresh.
    fn restart(&mut self, m: u8) -> Result<()> {
        let data = self.bits.data;
        let mut r = ByteReader {
            data,
            pos: self.bits.end(),
        };
        if r.marker()? != RST0 + m {
            return Err(Malformed("missing restart marker"));
        }
        self.bits = BitReader::new(data, r.pos);
        self.reset_statistics();
        Ok(())
    }

    /// Decodes one line; `prev` holds the line above (zeros for the first line).
    fn decode_line(&mut self, prev: &mut [i32], cur: &mut [i32], line: usize) -> Result<()> {
        let (n, w) = (self.per_pixel, self.width);
        // Edge rules (A.2.1): Rd past the end repeats Rb; Ra of the first pixel is Rb, and Rc
        // of the first pixel is the Ra of the line above, kept in prev[0..n].
        for s in 0..n {
            prev[(w + 1) * n + s] = prev[w * n + s];
            cur[s] = prev[n + s];
        }
        let mut x = 1;
        let mut qs = [0i32; 3];
        while x <= w {
            let mut all_zero = true;
            for (s, q) in qs.iter_mut().enumerate().take(n) {
                let ra = cur[(x - 1) * n + s];
                let (rc, rb, rd) = (
                    prev[(x - 1) * n + s],
                    prev[x * n + s],
                    prev[(x + 1) * n + s],
                );
                let p = &self.p;
                *q = (p.quantize(rd - rb) * 9 + p.quantize(rb - rc)) * 9 + p.quantize(rc - ra);
                all_zero &= *q == 0;
            }
            if all_zero {
                x += self.run_mode(prev, cur, x, line)?;
            } else {
                for (s, &q) in qs.iter().enumerate().take(n) {
                    let ra = cur[(x - 1) * n + s];
                    let (rc, rb) = (prev[(x - 1) * n + s], prev[x * n + s]);
                    cur[x * n + s] = self.regular(q, ra, rb, rc)?;
                }
                x += 1;
            }
        }
        Ok(())
    }

    /// One sample in regular mode (A.4 to A.6).
    fn regular(&mut self, q: i32, ra: i32, rb: i32, rc: i32) -> Result<i32> {
        let p = self.p;
        let sign = if q < 0 { -1 } else { 1 };
        let ctx = &mut self.contexts[q.unsigned_abs() as usize];
        // Edge-detecting predictor (A.4.1) and prediction correction (A.4.2).
        let px = if rc >= ra.max(rb) {
            ra.min(rb)
        } else if rc <= ra.min(rb) {
            ra.max(rb)
        } else {
            ra + rb - rc
        };
        let px = (px + sign * ctx.c).clamp(0, p.maxval);
        let k = golomb_k(ctx.n, ctx.a)?;
        let merrval = self.bits.golomb(k, p.limit, p.qbpp)?;
        // Error mapping (A.5.2), inverted.
        let mut errval = if merrval & 1 == 0 {
            merrval >> 1
        } else {
            -((merrval + 1) >> 1)
        };
        if p.near == 0 && k == 0 && 2 * ctx.b + ctx.n <= 0 {
            errval = -errval - 1;
        }
        if errval.abs() > p.range {
            return Err(Malformed("prediction error out of range"));
        }
        // Variable update (A.6.1) and bias computation (A.6.2).
        ctx.b += i64::from(errval * (2 * p.near + 1));
        ctx.a += i64::from(errval.abs());
        if ctx.n == i64::from(p.reset) {
            ctx.a >>= 1;
            ctx.b >>= 1;
            ctx.n >>= 1;
        }
        ctx.n += 1;
        if ctx.b <= -ctx.n {
            ctx.b = (ctx.b + ctx.n).max(-ctx.n + 1);
            if ctx.c > -128 {
                ctx.c -= 1;
            }
        } else if ctx.b > 0 {
            ctx.b = (ctx.b - ctx.n).min(0);
            if ctx.c < 127 {
                ctx.c += 1;
            }
        }
        Ok(p.reconstruct(px, sign * errval))
    }

    /// Run mode (A.7) from position `x`: the run, then the interruption sample unless the run
    /// reached the end of the line. Returns the number of pixels decoded.
    fn run_mode(&mut self, prev: &[i32], cur: &mut [i32], x: usize, line: usize) -> Result<usize> {
        let (n, w) = (self.per_pixel, self.width);
        let remaining = w + 1 - x;
        let mut ri = self.run_index[line];
        let mut len = 0;
        let mut to_end = false;
        while self.bits.bit()? {
            let full = 1usize << J[ri];
            let count = full.min(remaining - len);
            len += count;
            if count == full {
                ri = (ri + 1).min(31);
            }
            if len == remaining {
                to_end = true;
                break;
            }
        }
        if !to_end {
            len += self.bits.bits(J[ri])? as usize;
            if len > remaining {
                return Err(Malformed("run longer than the line"));
            }
        }
        for i in x..x + len {
            for s in 0..n {
                cur[i * n + s] = cur[(x - 1) * n + s];
            }
        }
        if x + len > w {
            self.run_index[line] = ri;
            return Ok(len);
        }
        // Run interruption sample (A.7.2).
        let i = x + len;
        for s in 0..n {
            let (ra, rb) = (cur[(x - 1) * n + s], prev[i * n + s]);
            cur[i * n + s] = if n == 1 && (ra - rb).abs() <= self.p.near {
                let errval = self.run_interruption_error(1, ri)?;
                self.p.reconstruct(ra, errval)
            } else {
                // Sample-interleaved scans code every component with RItype 0 (as CharLS).
                let errval = self.run_interruption_error(0, ri)?;
                self.p
                    .reconstruct(rb, if rb < ra { -errval } else { errval })
            };
        }
        self.run_index[line] = ri.saturating_sub(1);
        Ok(len + 1)
    }

    /// Errval of a run interruption sample (A.7.2.2), updating context 365 + RItype.
    fn run_interruption_error(&mut self, ri_type: usize, run_index: usize) -> Result<i32> {
        let p = self.p;
        let ctx = &mut self.run_contexts[ri_type];
        let ri_type_i = i32::from(ri_type == 1);
        let temp = ctx.a + (ctx.n >> 1) * i64::from(ri_type_i);
        let k = golomb_k(ctx.n, temp)?;
        let emerrval = self.bits.golomb(k, p.limit - J[run_index] - 1, p.qbpp)?;
        let t = emerrval + ri_type_i;
        let map = t & 1 == 1;
        let abs = (t + i32::from(map)) >> 1;
        let errval = if (k != 0 || 2 * ctx.nn >= ctx.n) == map {
            -abs
        } else {
            abs
        };
        if errval.abs() > p.range {
            return Err(Malformed("prediction error out of range"));
        }
        if errval < 0 {
            ctx.nn += 1;
        }
        ctx.a += i64::from((emerrval + 1 - ri_type_i) >> 1);
        if ctx.n == i64::from(p.reset) {
            ctx.a >>= 1;
            ctx.n >>= 1;
            ctx.nn >>= 1;
        }
        ctx.n += 1;
        Ok(errval)
    }
}
