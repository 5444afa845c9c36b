//! Health, readiness, metrics, the OpenAPI document, problem pages and security headers.

use serde_json::Value;

use crate::fixtures;
use crate::helpers::{Backend, TestApp, assert_problem, file, patient_form};

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["storage"], "fs");
}

#[tokio::test]
async fn readiness_fails_with_unavailable_when_the_bucket_is_gone() {
    let app = TestApp::spawn_with(Backend::S3Postgres, &[]).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let s3 = app.s3.as_ref().unwrap();
    s3.remove_bucket().await;
    let response = app.get("/readyz").await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_problem(response, 503, "unavailable").await;
    assert!(
        !body.to_string().contains(&s3.bucket),
        "no internal detail in a 5xx body: {body}"
    );
}

#[tokio::test]
async fn a_missing_bucket_is_a_clear_startup_error() {
    let s3 = crate::helpers::S3Server::start().await;
    let store = consilium::storage::s3::S3Store::from_client(s3.client(), "no-such-bucket".into());
    let err = consilium::storage::BlobStore::check(&store)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-bucket"), "{err}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    for path in ["/", "/healthz", "/api/v1/cases", "/no-such-page"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'"),
            "{path}"
        );
        assert_eq!(h["x-request-id"].to_str().unwrap().len(), 36, "{path}");
    }
    assert_problem(app.get("/no-such-page").await, 404, "not-found").await;
}

#[tokio::test]
async fn metrics_count_requests_bytes_and_rejections() {
    let app = TestApp::spawn().await;
    let jpeg = fixtures::jpeg();
    assert_eq!(
        app.post_request(patient_form().part("image", file("a.jpg", jpeg.clone())))
            .await
            .status(),
        201
    );
    let refused = app
        .post_request(patient_form().part("report", file("a.pdf", fixtures::exe())))
        .await;
    assert_eq!(refused.status(), 415);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!("consilium_ingested_bytes_total {}", jpeg.len())),
        "{metrics}"
    );
    assert!(
        metrics.contains("consilium_rejections_total{code=\"content-mismatch\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("consilium_http_requests_total{method=\"POST\",route=\"/api/v1/requests\",status=\"201\"} 1"), "{metrics}");
    assert!(
        metrics.contains("consilium_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for path in [
        "/api/v1/requests",
        "/api/v1/cases",
        "/api/v1/cases/{case_id}",
        "/api/v1/documents/{document_id}/content",
        "/readyz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["Receipt"].is_object());
}

#[tokio::test]
async fn each_problem_code_has_a_page() {
    let app = TestApp::spawn().await;
    for code in [
        "file-too-large",
        "content-mismatch",
        "archive-rejected",
        "integrity-error",
        "unavailable",
    ] {
        let response = app.get(&format!("/problems/{code}")).await;
        assert_eq!(response.status(), 200);
        let page = response.text().await.unwrap();
        assert!(page.contains(code), "{code}");
    }
    assert_eq!(app.get("/problems/nonsense").await.status(), 404);
}

#[tokio::test]
async fn the_request_form_is_served() {
    let app = TestApp::spawn().await;
    let page = app.get("/").await.text().await.unwrap();
    for name in [
        "full_name",
        "email",
        "service",
        "condition",
        "report",
        "image",
        "terms_accepted",
    ] {
        assert!(page.contains(&format!("name=\"{name}\"")), "{name}");
    }
}
