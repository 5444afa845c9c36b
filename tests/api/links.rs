//! Consultant links with real tokens: issuing, landing without consuming, opening with and without a
//! passcode, sessions, scopes, revocation, expiry, uses, downloads, return channels and the audit trail.
//! Each test runs on both backends (fs + SQLite, S3 + PostgreSQL).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{Backend, TestApp, assert_problem, file, on_both_backends, patient_form};

/// A case with a PDF; returns (case id, document id).
pub(crate) async fn case_with_pdf(app: &TestApp, pdf: Vec<u8>) -> (String, String) {
    let response = app
        .post_request(patient_form().part("report", file("letter.pdf", pdf)))
        .await;
    assert_eq!(response.status(), 201);
    let receipt: Value = response.json().await.unwrap();
    (
        receipt["case_id"].as_str().unwrap().to_owned(),
        receipt["documents"][0]["id"].as_str().unwrap().to_owned(),
    )
}

/// The link's path (`/l/{token}`) from an issued link's `url`.
pub(crate) fn path_of(issued: &Value) -> String {
    issued["url"]
        .as_str()
        .unwrap()
        .strip_prefix("http://127.0.0.1:8080")
        .expect("issued on the public URL")
        .to_owned()
}

/// Issues a link and returns (link id, path `/l/{token}`, passcode).
pub(crate) async fn link(
    app: &TestApp,
    case: &str,
    scopes: &[&str],
    max_uses: Option<u32>,
    passcode: bool,
) -> (String, String, Option<String>) {
    let response = app
        .create_link(
            case,
            &json!({"recipient": "Dr A Khan", "role": "consultant", "scopes": scopes,
                    "expires_in_seconds": 3600, "max_uses": max_uses, "passcode": passcode}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        path_of(&body),
        body["passcode"].as_str().map(str::to_owned),
    )
}

/// Opens the link and returns the session cookie (`name=value`).
pub(crate) async fn session(app: &TestApp, path: &str, passcode: Option<&str>) -> String {
    let response = app.open_link(path, passcode).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("{path}/case").as_str()
    );
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", &format!("Path={path}")] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

async fn links_of(app: &TestApp, case: &str) -> Value {
    let response = app.list_links(case).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn a_valid_link_lands_opens_and_shows_the_case(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, doc) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view", "download"], None, false).await;

    let landing = app.link_landing(&path).await;
    assert_eq!(landing.status(), 200);
    let page = landing.text().await.unwrap();
    assert!(
        page.contains("Dr A Khan") && page.contains("Open the case"),
        "{page}"
    );

    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    assert_eq!(summary["documents"][0]["id"], doc.as_str());
    assert_eq!(summary["patient"]["full_name"], "Amelia Zanzibar-Quint");
    let html = app
        .link_case_html(&path, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("letter.pdf") && html.contains("Download"),
        "{html}"
    );
}
on_both_backends!(a_valid_link_lands_opens_and_shows_the_case);

async fn forged_or_edited_tokens_are_not_found(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let token = path.trim_start_matches("/l/");
    let (payload, mac) = token.split_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(payload).unwrap();
    raw[23] = raw[23].wrapping_add(100); // a later expiry, same MAC
    let edited = format!("/l/{}.{mac}", URL_SAFE_NO_PAD.encode(&raw));
    let forged = format!("/l/{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    for bad in [edited, forged, "/l/not-a-token".to_owned()] {
        assert_problem(app.link_landing(&bad).await, 404, "not-found").await;
        assert_problem(app.open_link(&bad, None).await, 404, "not-found").await;
    }
}
on_both_backends!(forged_or_edited_tokens_are_not_found);

async fn scanner_gets_consume_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], Some(1), false).await;
    for _ in 0..10 {
        assert_eq!(app.link_landing(&path).await.status(), 200);
    }
    assert_eq!(links_of(&app, &case).await["links"][0]["uses"], 0);
    session(&app, &path, None).await;
    assert_eq!(links_of(&app, &case).await["links"][0]["uses"], 1);
}
on_both_backends!(scanner_gets_consume_nothing);

async fn a_used_up_link_says_so_and_an_open_session_keeps_working(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], Some(1), false).await;
    let cookie = session(&app, &path, None).await;
    assert_problem(app.open_link(&path, None).await, 410, "link-used-up").await;
    assert_problem(app.link_landing(&path).await, 410, "link-used-up").await;
    assert_eq!(app.link_case(&path, &cookie).await.status(), 200);
}
on_both_backends!(a_used_up_link_says_so_and_an_open_session_keeps_working);

async fn twenty_concurrent_opens_of_a_three_use_link_grant_exactly_three(backend: Backend) {
    let app = Arc::new(TestApp::spawn_with(backend, &[]).await);
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], Some(3), false).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = Arc::clone(&app);
            let path = path.clone();
            tokio::spawn(async move { app.open_link(&path, None).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 410).count(),
        17,
        "{statuses:?}"
    );
    assert_eq!(links_of(&app, &case).await["links"][0]["uses"], 3);
}
on_both_backends!(twenty_concurrent_opens_of_a_three_use_link_grant_exactly_three);

async fn revoking_a_link_refuses_it_at_once_even_with_a_session_open(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (id, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    assert_eq!(app.link_case(&path, &cookie).await.status(), 200);
    assert_eq!(app.revoke_link(&id).await.status(), 204);
    assert_problem(app.link_case(&path, &cookie).await, 410, "link-revoked").await;
    assert_problem(app.link_landing(&path).await, 410, "link-revoked").await;
    let page = app.link_landing_html(&path).await;
    assert_eq!(page.status(), 410);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("withdrawn") && !text.contains("letter.pdf"),
        "{text}"
    );
}
on_both_backends!(revoking_a_link_refuses_it_at_once_even_with_a_session_open);

async fn an_expired_link_is_refused_as_expired(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (id, path, _) = link(&app, &case, &["view"], None, false).await;
    let updated = app
        .execute_sql(
            "UPDATE links SET expires_at = '2020-01-01T00:00:00.000000Z' WHERE id = $1",
            &[&id],
        )
        .await;
    assert_eq!(updated, 1);
    assert_problem(app.link_landing(&path).await, 410, "link-expired").await;
    assert_problem(app.open_link(&path, None).await, 410, "link-expired").await;
}
on_both_backends!(an_expired_link_is_refused_as_expired);

async fn lifetimes_over_the_maximum_and_empty_scopes_are_invalid(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    for (body, field) in [
        (
            json!({"recipient": "Dr A", "role": "consultant", "scopes": ["view"], "expires_in_seconds": 2_592_001}),
            "expires_in_seconds",
        ),
        (
            json!({"recipient": "Dr A", "role": "consultant", "scopes": [], "expires_in_seconds": 600}),
            "scopes",
        ),
        (
            json!({"recipient": "", "role": "consultant", "scopes": ["view"], "expires_in_seconds": 600}),
            "recipient",
        ),
    ] {
        let problem =
            assert_problem(app.create_link(&case, &body).await, 422, "invalid-field").await;
        assert_eq!(problem["field"], field);
    }
    assert_problem(
        app.create_link_anonymously(&case, &json!({})).await,
        401,
        "unauthorized",
    )
    .await;
}
on_both_backends!(lifetimes_over_the_maximum_and_empty_scopes_are_invalid);

async fn passcodes_open_wrong_ones_are_counted_and_five_lock_the_link(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, passcode) = link(&app, &case, &["view"], None, true).await;
    let passcode = passcode.expect("a generated passcode is shown once");
    assert_eq!(passcode.len(), 8);
    assert!(
        links_of(&app, &case)
            .await
            .to_string()
            .contains("\"passcode\":true")
    );
    assert!(!links_of(&app, &case).await.to_string().contains(&passcode));

    // Right passcode opens.
    session(&app, &path, Some(&passcode)).await;
    // Wrong ones: four are refused, the fifth locks.
    for _ in 0..4 {
        let problem = assert_problem(
            app.open_link(&path, Some("00000000")).await,
            422,
            "invalid-field",
        )
        .await;
        assert_eq!(problem["field"], "passcode");
    }
    let locked = assert_problem(
        app.open_link(&path, Some("11111111")).await,
        410,
        "link-revoked",
    )
    .await;
    assert!(
        locked["detail"].as_str().unwrap().contains("locked"),
        "{locked}"
    );
    // Even the right passcode is refused now, and the administrator sees the lock.
    assert_problem(
        app.open_link(&path, Some(&passcode)).await,
        410,
        "link-revoked",
    )
    .await;
    let view = links_of(&app, &case).await;
    assert_eq!(view["links"][0]["failed_passcode_attempts"], 5);
    assert!(view["links"][0]["locked_at"].is_string());
}
on_both_backends!(passcodes_open_wrong_ones_are_counted_and_five_lock_the_link);

async fn scopes_are_enforced_and_other_cases_documents_are_not_found(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, doc) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, other_doc) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, view_only, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &view_only, None).await;
    assert_problem(
        app.link_download(&view_only, &doc, &cookie).await,
        403,
        "forbidden",
    )
    .await;

    let (_, downloader, _) = link(&app, &case, &["view", "download"], None, false).await;
    let cookie = session(&app, &downloader, None).await;
    assert_problem(
        app.link_download(&downloader, &other_doc, &cookie).await,
        404,
        "not-found",
    )
    .await;
    // Without a session, nothing.
    assert_problem(
        app.get(&format!("{downloader}/documents/{doc}")).await,
        401,
        "unauthorized",
    )
    .await;
    // A session of one link does not open another.
    assert_problem(
        app.link_case(&view_only, &cookie).await,
        401,
        "unauthorized",
    )
    .await;
}
on_both_backends!(scopes_are_enforced_and_other_cases_documents_are_not_found);

async fn an_8_mib_download_through_a_link_is_byte_identical(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let original = fixtures::pdf_of_size(8 * 1024 * 1024);
    let (case, doc) = case_with_pdf(&app, original.clone()).await;
    let (_, path, _) = link(&app, &case, &["view", "download"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let response = app.link_download(&path, &doc, &cookie).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"letter.pdf\"; filename*=UTF-8''letter.pdf"
    );
    let body = response.bytes().await.unwrap();
    assert!(body.as_ref() == original.as_slice());
}
on_both_backends!(an_8_mib_download_through_a_link_is_byte_identical);

async fn an_html_upload_through_a_link_is_served_only_as_an_attachment(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view", "download", "upload"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
        .to_vec();
    let form = reqwest::multipart::Form::new().part("report", file("clinic.html", html.clone()));
    let uploaded = app.link_upload(&path, &cookie, form).await;
    assert_eq!(uploaded.status(), 201);
    let stored: Value = uploaded.json().await.unwrap();
    let id = stored["documents"][0]["id"].as_str().unwrap();
    let response = app.link_download(&path, id, &cookie).await;
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.bytes().await.unwrap().as_ref() == html.as_slice());
}
on_both_backends!(an_html_upload_through_a_link_is_served_only_as_an_attachment);

async fn uploads_through_a_link_follow_the_intake_rules(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["upload"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let form = reqwest::multipart::Form::new().part("report", file("fake.pdf", fixtures::exe()));
    let refused = app.link_upload(&path, &cookie, form).await;
    assert_problem(refused, 415, "content-mismatch").await;
    assert_eq!(app.row_counts().await, (1, 1), "nothing added");
    assert_eq!(app.stored_keys().await.len(), 1, "no blob left behind");
}
on_both_backends!(uploads_through_a_link_follow_the_intake_rules);

async fn the_audit_trail_lists_every_link_event_in_order_and_verify_names_a_tampered_row(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, doc) = case_with_pdf(&app, fixtures::pdf()).await;
    let (id, path, passcode) =
        link(&app, &case, &["view", "download", "opinion"], Some(2), true).await;
    let passcode = passcode.unwrap();
    assert_eq!(app.open_link(&path, Some("99999999")).await.status(), 422);
    let cookie = session(&app, &path, Some(&passcode)).await;
    assert_eq!(app.link_download(&path, &doc, &cookie).await.status(), 200);
    let opinion =
        reqwest::multipart::Form::new().part("opinion", file("opinion.pdf", fixtures::pdf()));
    let sent = app.link_opinion(&path, &cookie, opinion).await;
    assert_eq!(sent.status(), 201);
    assert_eq!(app.revoke_link(&id).await.status(), 204);
    assert_eq!(app.link_case(&path, &cookie).await.status(), 410);

    let trail: Value = app.case_audit(&case).await.json().await.unwrap();
    let events: Vec<(String, String)> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("request.submitted", "success"),
        ("document.stored", "success"),
        ("link.created", "success"),
        ("link.denied", "wrong-passcode"),
        ("link.opened", "success"),
        ("document.downloaded", "success"),
        ("opinion.uploaded", "success"),
        ("link.revoked", "success"),
        ("link.denied", "revoked"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, o)| ((*a).to_owned(), (*o).to_owned()))
        .collect();
    assert_eq!(events, expected);
    assert_eq!(trail["chain_valid"], true);
    assert!(
        trail["events"].as_array().unwrap()[3..]
            .iter()
            .all(|e| e["link_id"] == id.as_str())
    );

    // Tamper with one row: the CLI names it.
    let seq = trail["events"][4]["seq"].as_i64().unwrap();
    let tampered = app
        .execute_sql(
            "UPDATE audit_events SET client = '10.9.9.9' WHERE seq = CAST($1 AS BIGINT) \
             AND action = 'link.opened'",
            &[&seq.to_string()],
        )
        .await;
    assert_eq!(tampered, 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_consilium"))
        .args(["audit", "verify"])
        .env("CONSILIUM__DATA_DIR", app.data_dir.path())
        .env("CONSILIUM__DATABASE__URL", &app.database_url)
        .env("CONSILIUM__LOG__FILTER", "warn")
        .current_dir(app.data_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("seq={seq}")));
}
on_both_backends!(the_audit_trail_lists_every_link_event_in_order_and_verify_names_a_tampered_row);

async fn link_routes_are_rate_limited_per_link_and_tokens_stay_out_of_metrics(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CONSILIUM__LINKS__PER_LINK_BURST", "3"),
            ("CONSILIUM__LINKS__PER_LINK_PER_MINUTE", "1"),
        ],
    )
    .await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    for _ in 0..3 {
        assert_eq!(app.link_landing(&path).await.status(), 200);
    }
    let limited = app.link_landing(&path).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429, "rate-limited").await;
    // Another link is not held back by this one.
    let (_, other, _) = link(&app, &case, &["view"], None, false).await;
    assert_eq!(app.link_landing(&other).await.status(), 200);

    let metrics = app.metrics().await;
    let token = path.trim_start_matches("/l/");
    assert!(
        !metrics.contains(token.split('.').next().unwrap()),
        "a token in the metrics"
    );
    assert!(metrics.contains("route=\"/l/{token}\""), "{metrics}");
}
on_both_backends!(link_routes_are_rate_limited_per_link_and_tokens_stay_out_of_metrics);

/// The case's audit trail through the API: (action, actor, outcome) of each event.
async fn audit_of(app: &TestApp, case: &str) -> Vec<(String, String, String)> {
    let response = app.case_audit(case).await;
    assert_eq!(response.status(), 200);
    let trail: Value = response.json().await.unwrap();
    trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("action"), text("actor"), text("outcome"))
        })
        .collect()
}

/// Limits high enough that a test of something else never meets them.
const NO_LIMITS: &[(&str, &str)] = &[
    ("CONSILIUM__LINKS__PER_CLIENT_BURST", "100000"),
    ("CONSILIUM__LINKS__PER_CLIENT_PER_MINUTE", "100000"),
    ("CONSILIUM__LINKS__PER_LINK_BURST", "100000"),
    ("CONSILIUM__LINKS__PER_LINK_PER_MINUTE", "100000"),
];

async fn parallel_wrong_passcodes_never_pass_the_limit_and_the_lock_answers_right_and_wrong_alike(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, NO_LIMITS).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, passcode) = link(&app, &case, &["view"], None, true).await;
    let passcode = passcode.unwrap();
    let app = Arc::new(app);
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let app = Arc::clone(&app);
            let path = path.clone();
            let guess = format!("{:08}", 10_000_000 + i);
            tokio::spawn(async move { app.open_link(&path, Some(&guess)).await.status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    // max_passcode_attempts is 5: four wrong answers, and the fifth locks.
    assert_eq!(
        statuses.iter().filter(|s| **s == 422).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 410).count(),
        36,
        "{statuses:?}"
    );
    let view = links_of(&app, &case).await;
    assert_eq!(view["links"][0]["failed_passcode_attempts"], 5);
    assert!(view["links"][0]["locked_at"].is_string());

    // After the lock, the right passcode is answered exactly as a wrong one.
    let right = app.open_link(&path, Some(&passcode)).await;
    let wrong = app.open_link(&path, Some("12345678")).await;
    assert_eq!(right.status(), wrong.status());
    assert_eq!(right.status(), 410);
    let (right, wrong): (Value, Value) = (right.json().await.unwrap(), wrong.json().await.unwrap());
    assert_eq!(right, wrong);
    assert_eq!(right["code"], "link-revoked");
    assert_eq!(
        links_of(&app, &case).await["links"][0]["failed_passcode_attempts"],
        5
    );
}
on_both_backends!(
    parallel_wrong_passcodes_never_pass_the_limit_and_the_lock_answers_right_and_wrong_alike
);

async fn a_right_passcode_gives_its_attempt_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, passcode) = link(&app, &case, &["view"], None, true).await;
    let passcode = passcode.unwrap();
    for _ in 0..4 {
        assert_eq!(app.open_link(&path, Some("00000000")).await.status(), 422);
    }
    // The last attempt allowed, and right: it opens, and does not count (nor lock).
    session(&app, &path, Some(&passcode)).await;
    let view = links_of(&app, &case).await;
    assert_eq!(view["links"][0]["failed_passcode_attempts"], 4);
    assert!(view["links"][0]["locked_at"].is_null());
    assert_eq!(view["links"][0]["uses"], 1);
    // The fifth wrong one locks.
    assert_problem(
        app.open_link(&path, Some("00000000")).await,
        410,
        "link-revoked",
    )
    .await;
}
on_both_backends!(a_right_passcode_gives_its_attempt_back);

async fn without_a_session_link_requests_are_held_tightly_and_a_session_is_not(backend: Backend) {
    // The shipped defaults: no overrides.
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let mut opened = 1;
    let limited = loop {
        let response = app.open_link(&path, None).await;
        if response.status() != 303 {
            break response;
        }
        opened += 1;
        assert!(opened <= 100, "opens are not limited");
    };
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429, "rate-limited").await;
    assert_eq!(opened, 20, "links.per_link_burst");
    // Landing pages and session-less reads of this link are held too...
    assert_problem(app.link_landing(&path).await, 429, "rate-limited").await;
    assert_problem(app.get(&format!("{path}/case")).await, 429, "rate-limited").await;
    // ...but the open session spends its own budget.
    for _ in 0..50 {
        assert_eq!(app.link_case(&path, &cookie).await.status(), 200);
    }
}
on_both_backends!(without_a_session_link_requests_are_held_tightly_and_a_session_is_not);

async fn an_opinion_only_link_sees_its_page_without_documents_and_nothing_is_denied(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, doc) = case_with_pdf(&app, fixtures::pdf()).await;
    let (id, path, _) = link(&app, &case, &["opinion"], None, false).await;
    let cookie = session(&app, &path, None).await;
    let summary: Value = app.link_case(&path, &cookie).await.json().await.unwrap();
    assert_eq!(summary["documents"], json!([]));
    assert_eq!(summary["studies"], json!([]));
    assert_eq!(summary["scopes"], json!(["opinion"]));
    assert_eq!(summary["patient"]["full_name"], "Amelia Zanzibar-Quint");
    let page = app.link_case_html(&path, &cookie).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Upload your written opinion"), "{page}");
    assert!(
        !page.contains("letter.pdf") && !page.contains("<h2>Documents</h2>"),
        "{page}"
    );

    let trail = audit_of(&app, &case).await;
    assert!(
        !trail.iter().any(|(action, _, _)| action == "link.denied"),
        "{trail:?}"
    );
    let viewed: Vec<_> = trail
        .iter()
        .filter(|(action, _, _)| action == "case.viewed")
        .collect();
    assert_eq!(viewed.len(), 2, "the JSON and the HTML view: {trail:?}");
    for (_, actor, outcome) in viewed {
        assert_eq!(actor, &format!("link:{id}"));
        assert_eq!(outcome, "success");
    }
    // A scope it lacks is still refused, and that is audited.
    assert_eq!(app.link_download(&path, &doc, &cookie).await.status(), 403);
    assert!(
        audit_of(&app, &case)
            .await
            .iter()
            .any(|(action, _, outcome)| action == "link.denied" && outcome == "forbidden")
    );
}
on_both_backends!(an_opinion_only_link_sees_its_page_without_documents_and_nothing_is_denied);

async fn the_case_page_and_the_link_list_are_audited_with_their_actors(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (id, path, _) = link(&app, &case, &["view", "download"], None, false).await;
    let cookie = session(&app, &path, None).await;
    assert_eq!(app.link_case(&path, &cookie).await.status(), 200);
    let listed = links_of(&app, &case).await;
    assert_eq!(listed["links"].as_array().unwrap().len(), 1);
    let trail = audit_of(&app, &case).await;
    let last_two: Vec<(&str, &str)> = trail[trail.len() - 2..]
        .iter()
        .map(|(action, actor, _)| (action.as_str(), actor.as_str()))
        .collect();
    assert_eq!(
        last_two,
        [
            ("case.viewed", format!("link:{id}").as_str()),
            ("links.listed", "admin:test-admin"),
        ]
    );
}
on_both_backends!(the_case_page_and_the_link_list_are_audited_with_their_actors);

async fn a_link_post_from_any_origin_but_the_public_url_is_forbidden(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let (case, _) = case_with_pdf(&app, fixtures::pdf()).await;
    let (_, path, _) = link(&app, &case, &["view"], None, false).await;
    // The address the request was sent to (its `Host`), and a host a proxy header names, are not
    // the service's origin.
    assert_problem(
        app.open_link_from(&path, &app.address, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.open_link_from(&path, "https://evil.example", Some("evil.example"))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(links_of(&app, &case).await["links"][0]["uses"], 0);
    // The public URL's origin (any path or default port aside) is.
    let public = app.services.settings.server.public_url.clone();
    assert_eq!(app.open_link_from(&path, &public, None).await.status(), 303);
    assert_eq!(links_of(&app, &case).await["links"][0]["uses"], 1);
}
on_both_backends!(a_link_post_from_any_origin_but_the_public_url_is_forbidden);
