//! The DICOM pre-scan (src/imaging/scan.rs): container split (meta group, deflated data sets)
//! and the element walk that checks every declared length before dicom-object reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = consilium::imaging::is_dicom(data);
    let _ = consilium::fuzzing::dicom_prescan(data);
});
