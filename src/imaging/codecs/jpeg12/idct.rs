//! libjpeg's accurate integer inverse DCT (`jidctint.c`, "islow"), computed in 64 bits.

// libjpeg's jidctint.c constants: FIX(x) = round(x × 2^13).
const CONST_BITS: u32 = 13;
const FIX_0_298631336: i64 = 2446;
const FIX_0_390180644: i64 = 3196;
const FIX_0_541196100: i64 = 4433;
const FIX_0_765366865: i64 = 6270;
const FIX_0_899976223: i64 = 7373;
const FIX_1_175875602: i64 = 9633;
const FIX_1_501321110: i64 = 12299;
const FIX_1_847759065: i64 = 15137;
const FIX_1_961570560: i64 = 16069;
const FIX_2_053119869: i64 = 16819;
const FIX_2_562915447: i64 = 20995;
const FIX_3_072711026: i64 = 25172;

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// One dimension of libjpeg's accurate integer IDCT on eight values `v[0..8]` (already scaled
/// as the pass needs); returns the eight outputs before descaling. Names as in `jidctint.c`.
#[allow(clippy::similar_names)]
fn idct_1d(v: [i64; 8]) -> [i64; 8] {
    // Even part.
    let (z2, z3) = (v[2], v[6]);
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 + z3 * -FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (v[0] + v[4]) << CONST_BITS;
    let tmp1 = (v[0] - v[4]) << CONST_BITS;
    let (tmp10, tmp13) = (tmp0 + tmp3, tmp0 - tmp3);
    let (tmp11, tmp12) = (tmp1 + tmp2, tmp1 - tmp2);
    // Odd part.
    let (t0, t1, t2, t3) = (v[7], v[5], v[3], v[1]);
    let (z1, z2, z3, z4) = (t0 + t3, t1 + t2, t0 + t2, t1 + t3);
    let z5 = (z3 + z4) * FIX_1_175875602;
    let (t0, t1, t2, t3) = (
        t0 * FIX_0_298631336,
        t1 * FIX_2_053119869,
        t2 * FIX_3_072711026,
        t3 * FIX_1_501321110,
    );
    let z1 = z1 * -FIX_0_899976223;
    let z2 = z2 * -FIX_2_562915447;
    let z3 = z3 * -FIX_1_961570560 + z5;
    let z4 = z4 * -FIX_0_390180644 + z5;
    let (t0, t1, t2, t3) = (t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4);
    [
        tmp10 + t3,
        tmp11 + t2,
        tmp12 + t1,
        tmp13 + t0,
        tmp13 - t0,
        tmp12 - t1,
        tmp11 - t2,
        tmp10 - t3,
    ]
}

/// Dequantizes and inverse-transforms one block into `out[at..]` (rows `stride` apart), level
/// shifted and clamped to the sample range: libjpeg's `jpeg_idct_islow`, computed in 64 bits.
pub(super) fn idct_islow(
    coef: &[i16; 64],
    q: &[u16; 64],
    precision: u8,
    out: &mut [u16],
    at: usize,
    stride: usize,
) {
    // libjpeg keeps two extra bits of precision between the passes for 8-bit samples, one for
    // 12-bit ones.
    let pass1_bits: u32 = if precision == 8 { 2 } else { 1 };
    let max: i64 = (1 << precision) - 1;
    let center: i64 = 1 << (precision - 1);
    let mut ws = [0i64; 64];
    for col in 0..8 {
        let mut v = [0i64; 8];
        for (row, slot) in v.iter_mut().enumerate() {
            let i = row * 8 + col;
            *slot = i64::from(coef[i]) * i64::from(q[i]);
        }
        let r = idct_1d(v);
        for (row, x) in r.iter().enumerate() {
            ws[row * 8 + col] = descale(*x, CONST_BITS - pass1_bits);
        }
    }
    for row in 0..8 {
        let mut v = [0i64; 8];
        v.copy_from_slice(&ws[row * 8..row * 8 + 8]);
        let r = idct_1d(v);
        let line = at + row * stride;
        for (col, x) in r.iter().enumerate() {
            let sample = (descale(*x, CONST_BITS + pass1_bits + 3) + center).clamp(0, max);
            out[line + col] = u16::try_from(sample).unwrap_or(0);
        }
    }
}
