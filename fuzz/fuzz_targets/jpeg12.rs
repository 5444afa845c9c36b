//! The in-house 8/12-bit sequential JPEG decoder (src/imaging/jpeg12.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = consilium::fuzzing::jpeg12_decode(data, 1 << 22);
});
