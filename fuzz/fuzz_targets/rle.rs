//! The in-house RLE Lossless decoder (src/imaging/rle.rs). The first four bytes pick the
//! geometry (pixels, samples a pixel, bits allocated) that render passes from the data set; the
//! rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, frame)) = data.split_first_chunk::<4>() else {
        return;
    };
    let pixels = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let samples = if head[2] & 1 == 0 { 1 } else { 3 };
    // Mostly the sizes render accepts, sometimes one it refuses.
    let bits = match head[3] % 4 {
        0 => 8,
        1 => 16,
        2 => 32,
        _ => u16::from(head[3]),
    };
    let _ = consilium::fuzzing::rle_decode(frame, pixels, samples, bits);
});
