//! Reading documents back: streaming decryption, integrity failures that send no unverified byte
//! and are audited, and refusals for the unauthenticated.

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{TestApp, assert_problem, file, patient_form};

/// Submits one report and returns (case id, document id, object key path on disk).
async fn one_document(
    app: &TestApp,
    name: &str,
    bytes: Vec<u8>,
) -> (String, String, std::path::PathBuf) {
    let response = app
        .post_request(patient_form().part("report", file(name, bytes)))
        .await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    let doc = receipt["documents"][0]["id"].as_str().unwrap().to_owned();
    let path = app
        .data_dir
        .path()
        .join(format!("blobs/cases/{case}/documents/{doc}"));
    assert!(path.exists());
    (case, doc, path)
}

async fn audit_outcomes(app: &TestApp, action: &str) -> Vec<String> {
    app.services
        .repo
        .audit_records(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == action)
        .map(|r| r.outcome)
        .collect()
}

#[tokio::test]
async fn an_8_mib_document_streams_back_byte_identical_and_is_audited() {
    let app = TestApp::spawn().await;
    let original = fixtures::pdf_of_size(8 * 1024 * 1024);
    let (_, doc, _) = one_document(&app, "scan-report.pdf", original.clone()).await;
    let response = app.get_document_content(&doc).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        original.len().to_string().as_str()
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"scan-report.pdf\"; filename*=UTF-8''scan-report.pdf"
    );
    assert!(response.bytes().await.unwrap().as_ref() == original.as_slice());
    assert_eq!(
        audit_outcomes(&app, "document.downloaded").await,
        vec!["success"]
    );
}

#[tokio::test]
async fn a_tampered_first_chunk_is_an_integrity_error_with_no_bytes_and_an_audit_row() {
    let app = TestApp::spawn().await;
    let (_, doc, path) = one_document(&app, "letter.pdf", fixtures::pdf()).await;
    let mut sealed = std::fs::read(&path).unwrap();
    let last = sealed.len() - 20;
    sealed[last] ^= 0x01;
    std::fs::write(&path, sealed).unwrap();

    let body = assert_problem(app.get_document_content(&doc).await, 500, "integrity-error").await;
    assert!(!body.to_string().contains("PDF"), "{body}");
    assert_eq!(
        audit_outcomes(&app, "document.downloaded").await,
        vec!["integrity-error"]
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("consilium_integrity_failures_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_tampered_later_chunk_ends_the_download_with_an_error_before_any_bad_byte() {
    let app = TestApp::spawn().await;
    let original = fixtures::pdf_of_size(1024 * 1024);
    let (_, doc, path) = one_document(&app, "big.pdf", original.clone()).await;
    let mut sealed = std::fs::read(&path).unwrap();
    let middle = sealed.len() / 2;
    sealed[middle] ^= 0x80;
    std::fs::write(&path, sealed).unwrap();

    let mut response = app.get_document_content(&doc).await;
    assert_eq!(
        response.status(),
        200,
        "the first chunks verify, so the response starts"
    );
    let mut received = Vec::new();
    let mut failed = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client sees the download fail");
    assert!(received.len() < original.len());
    assert!(
        received.as_slice() == &original[..received.len()],
        "every byte sent was verified plaintext"
    );
    // The failure is audited after the (successful) start.
    let mut outcomes = Vec::new();
    for _ in 0..50 {
        outcomes = audit_outcomes(&app, "document.downloaded").await;
        if outcomes.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(outcomes, vec!["success", "integrity-error"]);
}

#[tokio::test]
async fn a_missing_blob_is_an_integrity_error() {
    let app = TestApp::spawn().await;
    let (_, doc, path) = one_document(&app, "letter.pdf", fixtures::pdf()).await;
    std::fs::remove_file(path).unwrap();
    assert_problem(app.get_document_content(&doc).await, 500, "integrity-error").await;
}

#[tokio::test]
async fn admin_routes_refuse_missing_or_wrong_tokens_and_audit_the_denial() {
    let app = TestApp::spawn().await;
    let (case, doc, _) = one_document(&app, "letter.pdf", fixtures::pdf()).await;
    for token in [None, Some("cat_wrong"), Some("Bearer-less")] {
        for path in [
            format!("/api/v1/documents/{doc}/content"),
            format!("/api/v1/cases/{case}"),
            "/api/v1/cases".to_owned(),
        ] {
            assert_problem(app.get_as(&path, token).await, 401, "unauthorized").await;
        }
    }
    let denied = app.services.repo.audit_records(None).await.unwrap();
    let denied: Vec<_> = denied
        .iter()
        .filter(|r| r.action == "access.denied")
        .collect();
    // Three tries at each: the first is written at once, the repeats are counted into one more row
    // when the window (`server.denial_audit_window_seconds`) closes.
    assert_eq!(
        denied.len(),
        2,
        "document and case reads are audited as denied: {denied:?}"
    );
    assert!(denied.iter().all(|r| r.outcome == "denied"));
    assert!(
        denied
            .iter()
            .any(|r| r.document_id.as_deref() == Some(doc.as_str()))
    );
    assert!(
        denied
            .iter()
            .any(|r| r.case_id.as_deref() == Some(case.as_str()))
    );
}

#[tokio::test]
async fn unknown_documents_and_cases_are_not_found() {
    let app = TestApp::spawn().await;
    let unknown = consilium::domain::DocumentId::new();
    assert_problem(
        app.get_document_content(&unknown.to_string()).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        app.get_document_content("not-a-uuid").await,
        404,
        "not-found",
    )
    .await;
    assert_problem(app.get_case(&unknown.to_string()).await, 404, "not-found").await;
}

#[tokio::test]
async fn the_case_audit_trail_lists_submission_storage_and_download_in_order() {
    let app = TestApp::spawn().await;
    let (case, doc, _) = one_document(&app, "letter.pdf", fixtures::pdf()).await;
    assert_eq!(app.get_document_content(&doc).await.status(), 200);
    let trail: Value = app.case_audit(&case).await.json().await.unwrap();
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "request.submitted",
            "document.stored",
            "document.downloaded"
        ]
    );
    assert_eq!(trail["events"][2]["actor"], "admin:test-admin");
    assert_eq!(trail["events"][2]["document_id"], doc.as_str());
    assert_eq!(trail["chain_valid"], true);

    // Editing a row in the database breaks the chain, and the API says so.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}/consilium.db",
        app.data_dir.path().display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'patient' WHERE action = 'document.downloaded'")
        .execute(&pool)
        .await
        .unwrap();
    let trail: Value = app.case_audit(&case).await.json().await.unwrap();
    assert_eq!(trail["chain_valid"], false);
}
