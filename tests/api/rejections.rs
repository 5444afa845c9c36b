//! Every problem code of the intake, with real bytes: the status, the `code`, and that the database
//! and the blob store hold nothing afterwards.

use reqwest::multipart::Part;

use crate::fixtures;
use crate::helpers::{Backend, TestApp, assert_problem, file, form_with, patient_form};

#[tokio::test]
async fn a_body_that_is_not_multipart_is_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/api/v1/requests", app.address))
        .json(&serde_json::json!({"full_name": "A"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported-media-type").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_broken_multipart_body_is_malformed_request() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/api/v1/requests", app.address))
        .header("content-type", "multipart/form-data; boundary=XYZ0")
        .body("--XYZ0\r\nContent-Disposition: form-data; name=\"full_name\"\r\n\r\nJane\r\n--XYZ0\r\nthis is not a part header\r\n")
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "malformed-request").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn missing_or_invalid_fields_name_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    for (changes, field) in [
        (vec![("full_name", "")], "full_name"),
        (vec![("email", "amelia-at-example")], "email"),
        (vec![("service", "platinum")], "service"),
        (vec![("condition", "")], "condition"),
        (
            vec![("contact_preference", "phone"), ("phone", "")],
            "phone",
        ),
        (vec![("sponsor", "insurer")], "sponsor_reference"),
    ] {
        let form = form_with(&changes).part("report", file("letter.pdf", fixtures::pdf()));
        let body = assert_problem(app.post_request(form).await, 422, "invalid-field").await;
        assert_eq!(body["field"], field);
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn request_without_accepted_terms_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    for value in ["", "false"] {
        let form = form_with(&[("terms_accepted", value)])
            .part("report", file("letter.pdf", fixtures::pdf()));
        assert_problem(app.post_request(form).await, 422, "terms-not-accepted").await;
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn request_with_four_images_is_rejected_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let mut form = patient_form();
    for i in 0..4 {
        form = form.part("image", file(&format!("scan{i}.jpg"), fixtures::jpeg()));
    }
    let body = assert_problem(app.post_request(form).await, 422, "too-many-images").await;
    assert_eq!(body["limit"], 3);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn request_with_eleven_reports_is_too_many_files() {
    let app = TestApp::spawn().await;
    let mut form = patient_form();
    for i in 0..11 {
        form = form.part("report", file(&format!("r{i}.txt"), fixtures::txt()));
    }
    assert_problem(app.post_request(form).await, 422, "too-many-files").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn imaging_tier_without_an_image_is_images_required() {
    let app = TestApp::spawn().await;
    let form = form_with(&[("service", "records_and_images_review")])
        .part("report", file("letter.pdf", fixtures::pdf()));
    assert_problem(app.post_request(form).await, 422, "images-required").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_file_one_byte_over_the_limit_is_file_too_large_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let limit = 8 * 1024 * 1024;
    let form = patient_form()
        .part("report", file("ok.pdf", fixtures::pdf()))
        .part("report", file("huge.pdf", fixtures::pdf_of_size(limit + 1)));
    let body = assert_problem(app.post_request(form).await, 413, "file-too-large").await;
    assert_eq!(body["filename"], "huge.pdf");
    assert_eq!(body["limit_bytes"], limit);
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_file_exactly_at_the_limit_is_accepted() {
    let app = TestApp::spawn().await;
    let form = patient_form().part(
        "report",
        file("max.pdf", fixtures::pdf_of_size(8 * 1024 * 1024)),
    );
    assert_eq!(app.post_request(form).await.status(), 201);
    assert_eq!(app.row_counts().await, (1, 1));
}

#[tokio::test]
async fn a_body_over_the_whole_request_cap_is_request_too_large() {
    // With 64 KiB files the cap is 14 files x 64 KiB + 1 MiB of framing, about 1.9 MiB.
    let app = TestApp::spawn_with(
        Backend::FsSqlite,
        &[
            ("CONSILIUM__INTAKE__MAX_FILE_BYTES", "65536"),
            ("CONSILIUM__INTAKE__UPLOAD_BUDGET_BYTES", "1048576"),
        ],
    )
    .await;
    let mut form = patient_form().part("report", file("letter.pdf", fixtures::pdf()));
    let filler = "x".repeat(60 * 1024);
    for i in 0..40 {
        form = form.text(format!("note{i}"), filler.clone());
    }
    assert_problem(app.post_request(form).await, 413, "request-too-large").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn extensions_outside_the_fields_allow_list_are_refused() {
    let app = TestApp::spawn().await;
    for (field, name, bytes) in [
        ("report", "setup.exe", fixtures::exe()),
        ("image", "letter.pdf", fixtures::pdf()),
        ("image", "ct.dcm", fixtures::dicom(8, 8)),
        ("report", "ct.dcm", fixtures::dicom(8, 8)),
    ] {
        let form = patient_form().part(field, file(name, bytes));
        let body = assert_problem(app.post_request(form).await, 415, "extension-not-allowed").await;
        assert_eq!(body["filename"], name);
        assert!(
            body["allowed"].as_array().is_some_and(|a| !a.is_empty()),
            "{body}"
        );
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn bytes_that_are_not_what_the_extension_claims_are_content_mismatch() {
    let app = TestApp::spawn().await;
    for (name, bytes) in [
        ("letter.pdf", fixtures::exe()),
        ("scan.jpg", fixtures::png()),
        ("report.doc", fixtures::docx()),
        ("report.docx", fixtures::docx_with_vba()),
        ("report.docx", fixtures::docx_with_remote_template()),
        ("referral.doc", fixtures::doc_with_macros()),
        ("results.txt", b"binary\0data".to_vec()),
        (
            "not-really.docx",
            fixtures::zip_of(&[("word/document.xml", b"<w/>")]),
        ),
    ] {
        let form = patient_form().part("report", file(name, bytes));
        let body = assert_problem(app.post_request(form).await, 415, "content-mismatch").await;
        assert_eq!(body["filename"], name);
        assert!(body["detected"].is_string(), "{body}");
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn unsafe_archives_are_archive_rejected() {
    let app = TestApp::spawn().await;
    let zeros = vec![0u8; 4 * 1024 * 1024];
    for (name, bytes) in [
        (
            "escape.zip",
            fixtures::zip_of(&[("../../etc/passwd.txt", b"x")]),
        ),
        ("absolute.zip", fixtures::zip_of(&[("/tmp/x.txt", b"x")])),
        ("bomb.zip", fixtures::zip_of(&[("zeros.txt", &zeros)])),
        (
            "exe.zip",
            fixtures::zip_of(&[("setup.exe", &fixtures::exe())]),
        ),
        (
            "nested.zip",
            fixtures::zip_of(&[("inner.zip", &fixtures::zip_of(&[("a.txt", b"a")]))]),
        ),
    ] {
        let form = patient_form().part("report", file(name, bytes));
        let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
        assert_eq!(body["filename"], name);
        assert!(body["reason"].is_string(), "{body}");
    }
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn oversized_or_unparseable_images_are_image_rejected() {
    let app = TestApp::spawn().await;
    let mut broken = fixtures::jpeg();
    broken.truncate(20);
    for (name, bytes) in [
        ("huge.png", fixtures::png_claiming(10_000, 10_000)),
        ("broken.jpg", broken),
    ] {
        let form = patient_form().part("image", file(name, bytes));
        let body = assert_problem(app.post_request(form).await, 422, "image-rejected").await;
        assert_eq!(body["filename"], name);
    }
    let absurd = form_with(&[("service", "records_and_images_review")])
        .part("image", file("ct.dcm", fixtures::dicom(65535, 65535)));
    assert_problem(app.post_request(absurd).await, 422, "image-rejected").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_good_file_next_to_a_bad_one_stores_neither() {
    let app = TestApp::spawn().await;
    // The good file comes first, so it has been sealed and stored by the time the bad one is read.
    let form = patient_form()
        .part("report", file("good.pdf", fixtures::pdf()))
        .part("image", file("good.jpg", fixtures::jpeg()))
        .part("report", file("bad.pdf", fixtures::exe()));
    assert_problem(app.post_request(form).await, 415, "content-mismatch").await;
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn dicom_arriving_before_the_service_field_is_judged_by_the_tier() {
    let app = TestApp::spawn().await;
    let dicom_first = |service: &str| {
        reqwest::multipart::Form::new()
            .part(
                "image",
                Part::bytes(fixtures::dicom(8, 8)).file_name("ct.dcm"),
            )
            .text("full_name", "A Patient")
            .text("email", "a@example.org")
            .text("service", service.to_owned())
            .text("condition", "Review please")
            .text("terms_accepted", "yes")
    };
    assert_problem(
        app.post_request(dicom_first("records_review")).await,
        415,
        "extension-not-allowed",
    )
    .await;
    app.assert_nothing_stored().await;
    assert_eq!(
        app.post_request(dicom_first("records_and_images_review"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn a_refused_browser_post_gets_an_html_page_with_the_same_status() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/api/v1/requests", app.address))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .multipart(form_with(&[("terms_accepted", "")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("Please accept the terms"), "{page}");
}
