//! `intake::inspect` on every file kind: the first byte picks the field and the extension, the
//! rest is the file. Policy as in production with the imaging tier (DICOM allowed).
#![no_main]

use consilium::intake::{Field, Filename, Policy, inspect};
use libfuzzer_sys::fuzz_target;

/// (field, filename) pairs: every extension a field accepts, plus a few it refuses.
const CASES: &[(Field, &str)] = &[
    (Field::Report, "f.gif"),
    (Field::Report, "f.jpg"),
    (Field::Report, "f.png"),
    (Field::Report, "f.bmp"),
    (Field::Report, "f.eps"),
    (Field::Report, "f.tif"),
    (Field::Report, "f.txt"),
    (Field::Report, "f.rtf"),
    (Field::Report, "f.html"),
    (Field::Report, "f.pdf"),
    (Field::Report, "f.doc"),
    (Field::Report, "f.docx"),
    (Field::Report, "f.odt"),
    (Field::Report, "f.ppt"),
    (Field::Report, "f.pptx"),
    (Field::Report, "f.odp"),
    (Field::Report, "f.zip"),
    (Field::Image, "f.dcm"),
    (Field::Image, "f.zip"),
    (Field::Image, "f.jpeg"),
    (Field::GuaranteeLetter, "f.pdf"),
    (Field::Image, "f.exe"),
];

fuzz_target!(
    init: {
        // `index_dicom` turns a panic inside dicom-object into an error on purpose (the service
        // answers 422); libFuzzer's hook would abort on it. A panic that escapes still aborts.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    },
    |data: &[u8]| {
        let Some((&pick, bytes)) = data.split_first() else {
            return;
        };
        let (field, name) = CASES[usize::from(pick) % CASES.len()];
        let policy = Policy {
            allow_dicom: true,
            ..Policy::default()
        };
        let filename = Filename::parse(name).expect("a valid name");
        if let Ok(inspected) = inspect(field, &filename, bytes, &policy) {
            if let Some((w, h)) = inspected.dimensions {
                assert!(w > 0 && h > 0, "accepted an image without pixels");
                assert!(u64::from(w) * u64::from(h) <= policy.max_pixels);
            }
        }
    }
);
