//! DICOM indexing (`index_dicom`: pre-scan, then dicom-object up to the pixel data), as intake
//! and the viewer index run it on every uploaded object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // `index_dicom` turns a panic inside dicom-object into an error on purpose (the service
        // answers 422); libFuzzer's hook would abort on it. A panic that escapes still aborts.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    },
    |data: &[u8]| {
        if let Ok(index) = consilium::imaging::index_dicom(data) {
            assert!(index.frames > 0 || !index.has_pixel_data);
        }
    }
);
