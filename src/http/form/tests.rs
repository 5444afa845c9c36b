//! Tests of the form's labels, messages and refusal placement.

use super::messages::{MESSAGES, message};
use super::refusal::place_refusal;
use super::*;
use crate::config::Settings;
use crate::http::problem::{ApiError, ProblemDocument};
use crate::services::ServiceError;

#[test]
fn sizes_read_as_the_form_says_them() {
    assert_eq!(size_label(8_388_608), "8 MB");
    assert_eq!(size_label(9_437_184), "9 MB");
    assert_eq!(size_label(1_572_864), "1.5 MB");
    assert_eq!(size_label(269_564), "264 KB");
    assert_eq!(size_label(12), "12 bytes");
}

/// The problem document the service answers `error` with.
fn document(error: ServiceError) -> ProblemDocument {
    ApiError(error).document()
}

fn settings() -> Settings {
    let dir = tempfile::tempdir().unwrap();
    Settings::load_from(
        dir.path(),
        None,
        crate::config::environment_from(Some(HashMap::new())),
    )
    .unwrap()
}

#[test]
fn dicom_sent_with_the_records_review_is_told_to_choose_the_images_review() {
    let settings = settings();
    let answers = Answers {
        fields: HashMap::new(),
        files: vec![("image".into(), "ct.zip".into())],
    };
    let problem = document(ServiceError::DicomNeedsImagingReview {
        filename: "ct.zip".into(),
        in_archive: true,
        allowed: Vec::new(),
    });
    let placed = place_refusal(&problem, &answers, None, &settings);
    assert_eq!(placed.slot, "image");
    assert_eq!(placed.anchor, "service-records_and_images_review");
    assert_eq!(
        placed.message,
        "“ct.zip” contains DICOM scans. DICOM scans need the Medical Records and Images Review: choose it above."
    );
}

#[test]
fn a_refused_file_is_placed_at_the_field_it_was_sent_in() {
    let settings = settings();
    let answers = Answers {
        fields: HashMap::new(),
        files: vec![
            ("report".into(), "letter.pdf".into()),
            ("image".into(), "scan.jpg".into()),
        ],
    };
    let problem = document(ServiceError::ContentMismatch {
        filename: "scan.jpg".into(),
        detected: "exe".into(),
    });
    let placed = place_refusal(&problem, &answers, None, &settings);
    assert_eq!(placed.slot, "image");
    assert_eq!(placed.anchor, "image");
    assert!(
        placed.message.starts_with("“scan.jpg” does not contain"),
        "{}",
        placed.message
    );

    let problem = document(ServiceError::InvalidField {
        field: "phone".into(),
        message: "required when contact by phone is chosen".into(),
    });
    let placed = place_refusal(&problem, &answers, None, &settings);
    assert_eq!(placed.slot, "phone");
    assert_eq!(placed.message, message("required.phone"));

    let problem = document(ServiceError::FileTooLarge {
        filename: "letter.pdf".into(),
        limit_bytes: 8_388_608,
    });
    let placed = place_refusal(&problem, &answers, None, &settings);
    assert_eq!(placed.slot, "report");
    assert!(placed.message.contains("under 8 MB"), "{}", placed.message);

    let problem = document(ServiceError::RateLimited {
        retry_after_seconds: 10,
    });
    let placed = place_refusal(&problem, &answers, Some(10), &settings);
    assert_eq!(placed.slot, "general");
    assert!(
        placed.message.contains("Wait 10 seconds"),
        "{}",
        placed.message
    );
}

#[test]
fn every_message_key_is_unique() {
    for (i, (k, _)) in MESSAGES.iter().enumerate() {
        assert!(MESSAGES[i + 1..].iter().all(|(other, _)| other != k), "{k}");
    }
}
