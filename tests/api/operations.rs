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
    let metrics = app.metrics().await;
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

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_not_on_the_public_one() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_problem(app.get("/metrics").await, 404, "not-found").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "consilium_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    // The metrics listener serves nothing of the API.
    let api = app
        .client
        .get(format!("{}/api/v1/cases", app.metrics_address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/metrics"].is_null(), "not a public route");
}

/// Audit rows of refused accesses, as (client, count) with a missing count as 1.
async fn denial_rows(app: &TestApp) -> Vec<(Option<String>, Option<String>, i64)> {
    app.services
        .repo
        .audit_records(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "access.denied")
        .map(|r| (r.client, r.case_id, r.count.unwrap_or(1)))
        .collect()
}

async fn bad_token_read(app: &TestApp, path: &str, forwarded_for: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .bearer_auth("cat_not-a-token-anyone-was-given")
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_flood_of_bad_tokens_is_rate_limited_per_client_and_audited_as_a_few_counted_rows() {
    let app = TestApp::spawn_with(
        Backend::FsSqlite,
        &[
            ("CONSILIUM__SERVER__FAILED_AUTH_BURST", "5"),
            ("CONSILIUM__SERVER__FAILED_AUTH_PER_MINUTE", "1"),
            ("CONSILIUM__SERVER__DENIAL_AUDIT_WINDOW_SECONDS", "2"),
            // The test client's own address plays the proxy: X-Forwarded-For names the client.
            ("CONSILIUM__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let receipt: Value = app.post_request(patient_form()).await.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    let rows_before = app.services.repo.audit_records(None).await.unwrap().len();

    // One client, 200 tries at a real case. Whatever it puts in front of the chain, our proxy's
    // entry (the rightmost) decides who it is.
    let mut statuses = Vec::new();
    for n in 0..200 {
        let response = bad_token_read(
            &app,
            &format!("/api/v1/cases/{case}"),
            &format!("10.{}.0.1, 198.51.100.7", n % 250),
        )
        .await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_problem(response, 429, "rate-limited").await;
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    assert_eq!(statuses[..5], [401; 5], "the burst is answered");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");

    // Another client has its own bucket; it tries ids that do not exist, which write nothing.
    for _ in 0..5 {
        let missing = consilium::domain::CaseId::new();
        let response =
            bad_token_read(&app, &format!("/api/v1/cases/{missing}"), "198.51.100.8").await;
        assert_problem(response, 401, "unauthorized").await;
    }
    let missing_document = consilium::domain::DocumentId::new();
    assert_problem(
        bad_token_read(
            &app,
            &format!("/api/v1/documents/{missing_document}/content"),
            "198.51.100.8",
        )
        .await,
        429,
        "rate-limited",
    )
    .await;

    // The five refusals that reached the token check are audited as the first one now and the
    // repeats as one row with their count when the window closes.
    let mut denials = denial_rows(&app).await;
    for _ in 0..100 {
        if denials.iter().map(|(_, _, n)| n).sum::<i64>() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        denials = denial_rows(&app).await;
    }
    assert_eq!(
        denials.iter().map(|(_, _, n)| n).sum::<i64>(),
        5,
        "{denials:?}"
    );
    assert!(
        denials.len() <= 3,
        "a few rows, not one per try: {denials:?}"
    );
    assert!(
        denials
            .iter()
            .all(|(client, c, _)| client.as_deref() == Some("198.51.100.7")
                && c.as_deref() == Some(case.as_str())),
        "{denials:?}"
    );
    let all_rows = app.services.repo.audit_records(None).await.unwrap().len();
    assert_eq!(
        all_rows - rows_before,
        denials.len(),
        "no other rows were written"
    );

    // The administrator sees them with their client and count.
    let trail: Value = app
        .client
        .get(format!("{}/api/v1/cases/{case}/audit", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access.denied")
        .collect();
    assert_eq!(shown.len(), denials.len(), "{trail}");
    assert!(
        shown.iter().all(|e| e["client"] == "198.51.100.7"),
        "{trail}"
    );
    assert!(
        shown.iter().any(|e| e["count"].as_i64() > Some(1)),
        "{trail}"
    );
    assert_eq!(trail["chain_valid"], true);
}

#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let app = TestApp::spawn_with(
        Backend::FsSqlite,
        &[
            ("CONSILIUM__SERVER__FAILED_AUTH_BURST", "3"),
            ("CONSILIUM__SERVER__FAILED_AUTH_PER_MINUTE", "1"),
        ],
    )
    .await;
    let receipt: Value = app.post_request(patient_form()).await.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    // A new address in every header: still one client, the peer.
    for n in 0..3 {
        let response = bad_token_read(
            &app,
            &format!("/api/v1/cases/{case}"),
            &format!("203.0.113.{n}"),
        )
        .await;
        assert_problem(response, 401, "unauthorized").await;
    }
    let response = bad_token_read(&app, &format!("/api/v1/cases/{case}"), "203.0.113.99").await;
    assert_problem(response, 429, "rate-limited").await;
    let denials = denial_rows(&app).await;
    assert!(!denials.is_empty());
    assert!(
        denials
            .iter()
            .all(|(client, _, _)| client.as_deref() == Some("127.0.0.1")),
        "{denials:?}"
    );
    // The rate limit is per client address: the administrator, from the same address, waits too,
    // and a valid token is not looked at meanwhile.
    assert_problem(app.get_case(&case).await, 429, "rate-limited").await;
}

#[tokio::test]
async fn reading_a_case_is_audited_with_the_administrator_and_client() {
    let app = TestApp::spawn().await;
    let receipt: Value = app.post_request(patient_form()).await.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    assert_eq!(app.get_case(&case).await.status(), 200);
    // The list carries no personal data (ids, references, status, dates): not audited.
    assert_eq!(app.list_cases("").await.status(), 200);
    let trail: Value = app
        .client
        .get(format!("{}/api/v1/cases/{case}/audit", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["request.submitted", "case.viewed"], "{trail}");
    let viewed = &trail["events"][1];
    assert_eq!(viewed["actor"], "admin:test-admin");
    assert_eq!(viewed["client"], "127.0.0.1");
    assert_eq!(viewed["outcome"], "success");
}

async fn audit_page(app: &TestApp, case: &str, query: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/cases/{case}/audit{query}", app.address))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_audit_trail_is_paged_and_a_tampered_row_it_serves_fails_the_chain() {
    let app = TestApp::spawn().await;
    let other: Value = app.post_request(patient_form()).await.json().await.unwrap();
    let receipt: Value = app.post_request(patient_form()).await.json().await.unwrap();
    let case = receipt["case_id"].as_str().unwrap().to_owned();
    for _ in 0..6 {
        assert_eq!(app.get_case(&case).await.status(), 200);
        // Rows of another case interleave in the one chain.
        assert_eq!(
            app.get_case(other["case_id"].as_str().unwrap())
                .await
                .status(),
            200
        );
    }
    let whole: Value = audit_page(&app, &case, "?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let all: Vec<i64> = whole["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(all.len(), 7, "{whole}");
    assert!(whole["next_after"].is_null());

    let mut paged = Vec::new();
    let mut query = "?limit=3".to_owned();
    let mut page_count = 0;
    loop {
        let page: Value = audit_page(&app, &case, &query).await.json().await.unwrap();
        assert_eq!(page["chain_valid"], true, "{page}");
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 3);
        paged.extend(events.iter().map(|e| e["seq"].as_i64().unwrap()));
        page_count += 1;
        match page["next_after"].as_i64() {
            Some(after) => query = format!("?limit=3&after={after}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    assert_eq!(page_count, 3);

    assert_problem(
        audit_page(&app, &case, "?limit=0").await,
        422,
        "invalid-field",
    )
    .await;
    assert_problem(
        audit_page(&app, &case, "?limit=1001").await,
        422,
        "invalid-field",
    )
    .await;
    assert_problem(
        audit_page(&app, &case, "?after=-1").await,
        422,
        "invalid-field",
    )
    .await;

    // Edit a row of this case that was verified before: the page serving it says so.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}/consilium.db",
        app.data_dir.path().display()
    ))
    .await
    .unwrap();
    sqlx::query("UPDATE audit_events SET client = '10.9.9.9' WHERE seq = $1")
        .bind(all[3])
        .execute(&pool)
        .await
        .unwrap();
    let page: Value = audit_page(&app, &case, &format!("?limit=2&after={}", all[2]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"][0]["client"], "10.9.9.9");
    assert_eq!(page["chain_valid"], false, "{page}");
}
