//! The in-house JPEG-LS decoder (src/imaging/jpegls.rs), with a sample limit as render uses.
#![no_main]

use libfuzzer_sys::fuzz_target;

const MAX_SAMPLES: u64 = 1 << 22;

fuzz_target!(|data: &[u8]| {
    if let Ok(image) = consilium::imaging::jpegls::decode(data, MAX_SAMPLES) {
        let samples =
            u64::from(image.width) * u64::from(image.height) * u64::from(image.components);
        assert!(samples <= MAX_SAMPLES, "decoded beyond the sample limit");
        let bytes = if image.bits_per_sample > 8 { 2 } else { 1 };
        assert_eq!(
            image.pixels.len() as u64,
            samples * bytes,
            "pixel buffer size"
        );
    }
});
