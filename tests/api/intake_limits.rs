//! What an attack run found in intake, each sent through the HTTP API with the real bytes: deflate
//! bombs inside DICOM, zip entries whose headers lie, highly compressible members of real CD
//! exports, text fields beyond the contract, bodies that stall, and slow bodies that used to hold
//! the whole upload budget.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bombs::{
    deflated_dicom, deflated_dicom_cd, mask_dicom, repeated_deflate, zip_with_raw_entry,
};
use crate::fixtures;
use crate::helpers::{TestApp, assert_problem, file, form_with, patient_form};

const MIB: u64 = 1024 * 1024;

fn imaging_form() -> reqwest::multipart::Form {
    form_with(&[("service", "records_and_images_review")])
}

#[tokio::test]
async fn a_deflated_dicom_bomb_stops_at_the_requests_inflated_cap_and_stores_nothing() {
    let app = TestApp::spawn().await;
    // 256 MiB of pixel data in a file of about a quarter of a MiB.
    let bomb = deflated_dicom(256);
    assert!(bomb.len() < 512 * 1024, "{}", bomb.len());
    let form = imaging_form().part("image", file("ct.dcm", bomb));
    let body = assert_problem(app.post_request(form).await, 422, "image-rejected").await;
    assert_eq!(body["filename"], "ct.dcm");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("inflates beyond {}", 64 * MIB)),
        "{body}"
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn deflated_dicom_counts_against_one_inflated_budget_for_the_whole_request() {
    let app = TestApp::spawn().await;
    // One that inflates to 40 MiB is a real (if large) object: accepted, and indexed once.
    let form = imaging_form().part("image", file("ct.dcm", deflated_dicom(40)));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201);
    let receipt: serde_json::Value = response.json().await.unwrap();
    let case: serde_json::Value = app
        .get_case(receipt["case_id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["documents"].as_array().unwrap().len(), 1, "{case}");

    // Two in one request are 80 MiB together, over the request's 64 MiB: the second is refused
    // and the first is not kept either.
    let (cases_before, documents_before) = app.row_counts().await;
    let blobs_before = app.stored_keys().await;
    let form = imaging_form()
        .part("image", file("first.dcm", deflated_dicom(40)))
        .part("image", file("second.dcm", deflated_dicom(40)));
    let body = assert_problem(app.post_request(form).await, 422, "image-rejected").await;
    assert_eq!(body["filename"], "second.dcm");
    assert_eq!(app.row_counts().await, (cases_before, documents_before));
    assert_eq!(app.stored_keys().await, blobs_before);
}

#[tokio::test]
async fn a_zip_of_deflated_dicom_bombs_is_refused_within_the_budget() {
    let app = TestApp::spawn().await;
    // 250 members of a CD export, each inflating to 4 MiB: a 1 GiB request in a small zip.
    let zip = deflated_dicom_cd(250, 4);
    assert!(zip.len() < 8 * 1024 * 1024, "{}", zip.len());
    let form = imaging_form().part("image", file("cd.zip", zip));
    let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    assert!(
        body["reason"].as_str().unwrap().contains("inflates beyond"),
        "{body}"
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_zip_entry_whose_header_lies_about_its_compressed_size_is_refused() {
    let app = TestApp::spawn().await;
    // 60 MiB of text in a deflate stream of about 60 KiB (ratio ~1000), padded so that the header
    // claims 1 MiB compressed: by the header the ratio is 60, by the bytes read it is ~1000.
    let stream = repeated_deflate(b'a', 60);
    let text = vec![b'a'; 60 * usize::try_from(MIB).unwrap()];
    let crc = crc32fast::hash(&text);
    let size = u32::try_from(text.len()).unwrap();
    let lying = zip_with_raw_entry("notes.txt", &stream, 1024 * 1024, size, crc);
    let form = patient_form().part("report", file("notes.zip", lying));
    let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("header does not match its data"),
        "{body}"
    );

    // A header that understates the inflated size, or carries the wrong CRC, is refused too.
    let short = u32::try_from(stream.len()).unwrap();
    for (declared_size, crc) in [(1000, crc), (size, crc ^ 1)] {
        let lying = zip_with_raw_entry("notes.txt", &stream, short, declared_size, crc);
        let form = patient_form().part("report", file("notes.zip", lying));
        assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    }
    app.assert_nothing_stored().await;

    // The same entry with honest headers is refused for its ratio, measured on real bytes.
    let honest = zip_with_raw_entry("notes.txt", &stream, short, size, crc);
    let form = patient_form().part("report", file("notes.zip", honest));
    let body = assert_problem(app.post_request(form).await, 422, "archive-rejected").await;
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("compression ratio over 100"),
        "{body}"
    );
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn small_highly_compressible_members_of_a_cd_export_are_accepted() {
    let app = TestApp::spawn().await;
    // A 512 x 512 all-zero mask (512 KiB, compressing ~500:1) beside a CT slice: real exports
    // carry such secondary captures and masks, and they stay under 1 MiB inflated.
    let mask = mask_dicom();
    let zip = fixtures::zip_of(&[
        ("DICOM/IM0001", &fixtures::ct_slice(1, 0)),
        ("DICOM/MASK0001", &mask),
    ]);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.as_slice())).unwrap();
    let entry = archive.by_name("DICOM/MASK0001").unwrap();
    assert!(
        entry.size() > 100 * entry.compressed_size() && entry.size() < MIB,
        "the mask must compress over 100:1 and stay under 1 MiB: {} / {}",
        entry.size(),
        entry.compressed_size()
    );
    drop(entry);
    let form = imaging_form().part("image", file("cd.zip", zip));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn text_fields_outside_the_contract_or_over_the_cap_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let form = patient_form()
        .text("nickname", "Amy")
        .part("report", file("letter.pdf", fixtures::pdf()));
    let body = assert_problem(app.post_request(form).await, 422, "invalid-field").await;
    assert_eq!(body["field"], "nickname");

    let form = patient_form()
        .text("email", "second@example.org")
        .part("report", file("letter.pdf", fixtures::pdf()));
    let body = assert_problem(app.post_request(form).await, 422, "invalid-field").await;
    assert_eq!(body["field"], "email");

    // The condition may be 5000 characters; 40,000 bytes of answers is past the 32 KiB cap,
    // refused as soon as it is crossed.
    let long = "x".repeat(40_000);
    let form =
        form_with(&[("condition", &long)]).part("report", file("letter.pdf", fixtures::pdf()));
    let body = assert_problem(app.post_request(form).await, 422, "invalid-field").await;
    assert_eq!(body["field"], "condition");
    app.assert_nothing_stored().await;
}

/// Opens a connection and sends the head of a multipart request with `declared` bytes of body and
/// `first_bytes` of it; the rest never comes.
async fn stalled_upload(address: &str, declared: u64, first_bytes: &[u8]) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/v1/requests HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=XYZ0\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(first_bytes).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

const FIRST_PART: &[u8] =
    b"--XYZ0\r\nContent-Disposition: form-data; name=\"report\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\n";

/// Reads what the server answers on `stream`, up to the end of a problem body naming `code`
/// (bounded in time).
async fn answer_naming(stream: &mut TcpStream, code: &str) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0_u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&answer).contains(&format!("\"code\":\"{code}\"")) {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer naming {code}");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_huge_body_of_text_fields_is_refused_at_the_first_field_not_in_the_contract() {
    let app = TestApp::spawn().await;
    // The attack sent 95 MiB of text fields. The head of the body is enough for the answer; the
    // rest is never sent, and the server does not wait for it.
    let mut stream = stalled_upload(
        &app.address,
        95 * MIB,
        b"--XYZ0\r\nContent-Disposition: form-data; name=\"pad0\"\r\n\r\npppppppp",
    )
    .await;
    let text = answer_naming(&mut stream, "invalid-field").await;
    assert!(text.starts_with("HTTP/1.1 422"), "{text}");
    assert!(text.contains("\"field\":\"pad0\""), "{text}");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_ended_with_408_and_leaves_nothing() {
    let app = TestApp::spawn_with(
        crate::helpers::Backend::FsSqlite,
        &[("CONSILIUM__INTAKE__BODY_IDLE_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let mut stream = stalled_upload(&app.address, 4 * MIB, FIRST_PART).await;
    let text = answer_naming(&mut stream, "request-timeout").await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn slow_bodies_hold_only_what_they_sent_so_real_uploads_go_through() {
    // The smallest budget allowed (two files' worth), and room for twelve slow clients.
    let app = TestApp::spawn_with(
        crate::helpers::Backend::FsSqlite,
        &[
            ("CONSILIUM__INTAKE__UPLOAD_BUDGET_BYTES", "16777216"),
            ("CONSILIUM__INTAKE__MAX_UPLOADS_PER_CLIENT", "16"),
            ("CONSILIUM__INTAKE__BODY_IDLE_TIMEOUT_SECONDS", "60"),
        ],
    )
    .await;
    // Twelve connections that each declared 8 MiB and sent a few bytes (the attack held 2 x 8 MiB
    // apiece up front, so the budget was gone).
    let mut slow = Vec::new();
    for _ in 0..12 {
        slow.push(stalled_upload(&app.address, 8 * MIB, FIRST_PART).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let big = fixtures::pdf_of_size(7 * 1024 * 1024);
    let form = patient_form().part("report", file("scan.pdf", big));
    let response = app.post_request(form).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    drop(slow);
}

#[tokio::test]
async fn one_address_gets_its_limit_of_uploads_at_once() {
    let app = TestApp::spawn_with(
        crate::helpers::Backend::FsSqlite,
        &[
            ("CONSILIUM__INTAKE__MAX_UPLOADS_PER_CLIENT", "2"),
            ("CONSILIUM__INTAKE__BODY_IDLE_TIMEOUT_SECONDS", "60"),
        ],
    )
    .await;
    let first = stalled_upload(&app.address, MIB, FIRST_PART).await;
    let second = stalled_upload(&app.address, MIB, FIRST_PART).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let form = patient_form().part("report", file("letter.pdf", fixtures::pdf()));
    let response = app.post_request(form).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429, "rate-limited").await;
    // When one of them goes, its slot comes back.
    drop(first);
    let mut accepted = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let form = patient_form().part("report", file("letter.pdf", fixtures::pdf()));
        if app.post_request(form).await.status() == 201 {
            accepted = true;
            break;
        }
    }
    assert!(
        accepted,
        "the slot of a closed connection was not given back"
    );
    drop(second);
}

#[tokio::test]
async fn a_partner_document_body_that_stops_arriving_is_ended_with_408() {
    let app = TestApp::spawn_with(
        crate::helpers::Backend::FsSqlite,
        &[("CONSILIUM__INTAKE__BODY_IDLE_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let key = consilium::services::partners::create_key(
        app.services.repo.as_ref(),
        "embassy-x-ops",
        "embassy-x",
        consilium::domain::Sponsor::Embassy,
    )
    .await
    .unwrap();
    let created = app
        .client
        .post(format!("{}/api/v1/cases", app.address))
        .bearer_auth(&key)
        .header("Idempotency-Key", "k-408")
        .json(&serde_json::json!({
            "full_name": "Amelia Zanzibar-Quint",
            "email": "amelia.quint@example.org",
            "service": "records_review",
            "condition": "A review of the CT and biopsy.",
            "sponsor": "embassy",
            "sponsor_reference": "LG-2026-0417",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let case: serde_json::Value = created.json().await.unwrap();
    let case_id = case["case_id"].as_str().unwrap();
    let documents_before = app.row_counts().await.1;

    let host = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "PUT /api/v1/cases/{case_id}/documents/letter-1 HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/pdf\r\nX-Filename: letter.pdf\r\nX-Category: report\r\nContent-Length: 1048576\r\n\r\n%PDF-1.4\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let text = answer_naming(&mut stream, "request-timeout").await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(app.row_counts().await.1, documents_before);
}

#[tokio::test]
async fn a_boundary_too_short_for_the_multipart_reader_is_malformed_and_harms_nothing() {
    let app = TestApp::spawn().await;
    // actix-multipart 0.7 slices `line[2..len - 2]` of a line starting "--" once the line is
    // as long as the boundary: with a boundary under 4 characters, "--\n" panics the worker
    // (found by the multipart fuzz target; fuzz/regressions/multipart/).
    for boundary in ["ab", "a", ""] {
        let response = app
            .client
            .post(format!("{}/api/v1/requests", app.address))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(format!("--\n--{boundary}--\r\n"))
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "malformed-request").await;
    }
    // The server is whole: a real request goes through.
    let form = patient_form().part("report", file("letter.pdf", fixtures::pdf()));
    assert_eq!(app.post_request(form).await.status(), 201);
}

/// A body of `bytes` sent 64 KiB at a time, every 10 ms: uploads started together interleave.
fn paced(bytes: &[u8]) -> reqwest::multipart::Part {
    let len = bytes.len() as u64;
    let chunks: Vec<Vec<u8>> = bytes.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
        .file_name("scan.pdf")
}

#[tokio::test]
async fn many_uploads_at_once_wait_in_line_for_the_budget_and_all_go_through() {
    // Sixteen files of 900 KiB arriving together on a budget of 4 MiB. When each request's share
    // grew with its bytes in one pool, they each held a quarter of a MiB, all waited for more, and
    // all but a few gave up with 503 (the ingest bench's 64-in-flight phase: 7 of 64 got through).
    let app = TestApp::spawn_with(
        crate::helpers::Backend::FsSqlite,
        &[
            ("CONSILIUM__INTAKE__MAX_FILE_BYTES", "1048576"),
            ("CONSILIUM__INTAKE__UPLOAD_BUDGET_BYTES", "4194304"),
            ("CONSILIUM__INTAKE__UPLOAD_BUDGET_WAIT_SECONDS", "60"),
            ("CONSILIUM__INTAKE__MAX_UPLOADS_PER_CLIENT", "32"),
            ("CONSILIUM__FORM__SUBMISSION_BURST", "100"),
        ],
    )
    .await;
    let uploads: Vec<_> = (0..16)
        .map(|i| {
            let form = form_with(&[("email", &format!("patient{i}@example.org"))])
                .part("report", paced(&fixtures::pdf_of_size(900 * 1024)));
            app.post_request(form)
        })
        .collect();
    let statuses: Vec<u16> = futures_util::future::join_all(uploads)
        .await
        .into_iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(statuses, vec![201; 16]);
    assert_eq!(app.services.budget.available_bytes(), 4 * MIB);
}

#[tokio::test]
async fn a_bad_email_is_refused_as_it_arrives_before_the_files_after_it_are_read() {
    let app = TestApp::spawn().await;
    // The email, then the head of an 8 MiB file whose rest never comes: the answer does not wait
    // for it (before, every field was checked only once the whole body had been stored).
    let mut stream = stalled_upload(
        &app.address,
        8 * MIB,
        b"--XYZ0\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nnot-an-email\r\n\
          --XYZ0\r\nContent-Disposition: form-data; name=\"report\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\n",
    )
    .await;
    let text = answer_naming(&mut stream, "invalid-field").await;
    assert!(text.starts_with("HTTP/1.1 422"), "{text}");
    assert!(text.contains("\"field\":\"email\""), "{text}");
    app.assert_nothing_stored().await;
}

#[tokio::test]
async fn a_dicom_whose_lengths_split_its_values_is_refused_before_dicom_rs_allocates_for_it() {
    let app = TestApp::spawn().await;
    // Found by the intake fuzz target: 2,425 bytes (the target's first byte picks the field) on
    // which indexing took 4.2 GB and 17 s; a (0000,0000) UL of 6 bytes.
    let input = include_bytes!(
        "../../fuzz/regressions/dicom_index/intake-oom-1e3d60d42a5601d96d13291b8691d017a199e38b"
    );
    let form = imaging_form().part("image", file("plan.dcm", input[1..].to_vec()));
    let body = assert_problem(app.post_request(form).await, 422, "image-rejected").await;
    assert_eq!(body["filename"], "plan.dcm");
    assert_eq!(body["reason"], "header does not parse", "{body}");
    app.assert_nothing_stored().await;
}
