//! Partners: API keys per organisation, idempotent case creation, documents put to client ids,
//! and `consilium push` (the real binary) against a real server process that is killed and
//! restarted while a push runs, and a push client that is killed part-way and run again.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use consilium::domain::Sponsor;
use consilium::services::partners;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{Backend, PartnerDocument, TestApp, assert_problem, on_both_backends};

// ---- the API, in process --------------------------------------------------------------------

async fn key(app: &TestApp, name: &str, org: &str) -> String {
    partners::create_key(app.services.repo.as_ref(), name, org, Sponsor::Embassy)
        .await
        .unwrap()
}

fn new_case(external: &str) -> Value {
    json!({
        "full_name": "Amelia Zanzibar-Quint",
        "email": "amelia.quint@example.org",
        "phone": "+44 20 7946 0958",
        "contact_preference": "phone",
        "service": "records_review",
        "condition": "Suspected sarcoidosis; the embassy asks for a review of the CT and biopsy.",
        "sponsor": "embassy",
        "sponsor_reference": "LG-2026-0417",
        "external_reference": external,
    })
}

/// The case's audit trail, as the administrator reads it.
async fn audit_trail(app: &TestApp, case: &str) -> Value {
    let response = app.case_audit(case).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Moves a case's status in the database (no API moves a partner's case yet).
async fn set_status(app: &TestApp, case: &str, status: &str) {
    let updated = app
        .execute_sql(
            "UPDATE cases SET status = $1 WHERE id = $2",
            &[status, case],
        )
        .await;
    assert_eq!(updated, 1);
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

async fn created_case(app: &TestApp, key: &str) -> String {
    let response = app
        .partner_create_case(key, Some("k-1"), &new_case("EMB-1"))
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["case_id"].as_str().unwrap().to_owned()
}

async fn a_retried_create_returns_the_same_case_and_a_changed_body_is_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let first = app
        .partner_create_case(&key, Some("case-0417"), &new_case("EMB-0417"))
        .await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let first: Value = first.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/cases/{}", first["case_id"].as_str().unwrap())
    );

    // The same key and body (spaced differently): the same case, the same body.
    let mut respaced = new_case("EMB-0417");
    respaced["full_name"] = json!("  Amelia Zanzibar-Quint ");
    let again = app
        .partner_create_case(&key, Some("case-0417"), &respaced)
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    // The same key with another body: refused, nothing created.
    let mut changed = new_case("EMB-0417");
    changed["condition"] = json!("Something else entirely.");
    assert_problem(
        app.partner_create_case(&key, Some("case-0417"), &changed)
            .await,
        422,
        "idempotency-conflict",
    )
    .await;
    assert_eq!(app.row_counts().await, (1, 0));

    // Another organisation using the same key text gets its own case.
    let other = self::key(&app, "ins-b", "insurer-b").await;
    assert_eq!(
        app.partner_create_case(&other, Some("case-0417"), &new_case("X"))
            .await
            .status(),
        201
    );
    assert_eq!(app.row_counts().await.0, 2);

    // The audit trail names the partner key.
    let trail = audit_trail(&app, first["case_id"].as_str().unwrap()).await;
    assert_eq!(trail["events"][0]["actor"], "partner:emb-a");
    assert_eq!(trail["events"][0]["action"], "request.submitted");
}

on_both_backends!(a_retried_create_returns_the_same_case_and_a_changed_body_is_refused);

async fn concurrent_creates_with_one_idempotency_key_make_one_case(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let body = new_case("EMB-7");
    let answers = futures_util::future::join_all(
        (0..8).map(|_| app.partner_create_case(&key, Some("same-key"), &body)),
    )
    .await;
    let mut ids = HashSet::new();
    for answer in answers {
        let status = answer.status().as_u16();
        assert!(matches!(status, 200 | 201 | 409), "{status}");
        if status == 409 {
            assert!(answer.headers().contains_key("retry-after"));
            continue;
        }
        let body: Value = answer.json().await.unwrap();
        ids.insert(body["case_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.row_counts().await.0, 1);
}
on_both_backends!(concurrent_creates_with_one_idempotency_key_make_one_case);

async fn documents_are_idempotent_by_client_id_and_bytes(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &key).await;
    let pdf = fixtures::pdf();
    let first = app
        .partner_put_document(
            &key,
            &case,
            "referral",
            PartnerDocument::new("referral letter.pdf", "report", pdf.clone())
                .sha256(&sha256(&pdf)),
        )
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["sha256"], sha256(&pdf));
    assert_eq!(first["client_document_id"], "referral");
    assert_eq!(first["filename"], "referral letter.pdf");

    let again = app
        .partner_put_document(
            &key,
            &case,
            "referral",
            PartnerDocument::new("referral letter.pdf", "report", pdf.clone()),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    let body = assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "referral",
            PartnerDocument::new("referral letter.pdf", "report", fixtures::pdf_of_size(900)),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    assert!(
        body["reason"].as_str().unwrap().contains("different bytes"),
        "{body}"
    );
    assert_eq!(app.row_counts().await, (1, 1));
    assert_eq!(
        app.stored_keys().await.len(),
        1,
        "the refused bytes left no blob"
    );

    // The bytes come back as sent.
    let content = app
        .get_document_content(first["id"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(content.to_vec(), pdf);

    // The partner reads its case: status and documents by its own ids.
    let view: Value = app
        .partner_get_case(&key, &case)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "received");
    assert_eq!(view["external_reference"], "EMB-1");
    assert_eq!(view["documents"][0], first);
    // An administrator on the same path still sees the whole case.
    let admin: Value = app.get_case(&case).await.json().await.unwrap();
    assert_eq!(admin["patient"]["full_name"], "Amelia Zanzibar-Quint");
    assert_eq!(admin["sponsor_reference"], "LG-2026-0417");
}

on_both_backends!(documents_are_idempotent_by_client_id_and_bytes);

async fn concurrent_identical_puts_store_one_document(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &key).await;
    let png = fixtures::png();
    let answers = futures_util::future::join_all((0..8).map(|_| {
        app.partner_put_document(
            &key,
            &case,
            "scan",
            PartnerDocument::new("scan.png", "image", png.clone()),
        )
    }))
    .await;
    let mut created = 0;
    for answer in answers {
        match answer.status().as_u16() {
            201 => created += 1,
            200 => {}
            409 => assert!(answer.headers().contains_key("retry-after")),
            other => panic!("status {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.row_counts().await, (1, 1));
}
on_both_backends!(concurrent_identical_puts_store_one_document);

async fn a_tampered_content_sha256_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &key).await;
    let pdf = fixtures::pdf();
    let mut tampered = sha256(&pdf);
    tampered.replace_range(0..1, if tampered.starts_with('0') { "1" } else { "0" });
    let body = assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "referral",
            PartnerDocument::new("referral.pdf", "report", pdf.clone()).sha256(&tampered),
        )
        .await,
        422,
        "checksum-mismatch",
    )
    .await;
    assert_eq!(body["sha256"], sha256(&pdf));
    assert_eq!(app.row_counts().await, (1, 0));
    assert!(app.stored_keys().await.is_empty());
    // The id is still free for the right bytes.
    assert_eq!(
        app.partner_put_document(
            &key,
            &case,
            "referral",
            PartnerDocument::new("referral.pdf", "report", pdf.clone()).sha256(&sha256(&pdf))
        )
        .await
        .status(),
        201
    );
}
on_both_backends!(a_tampered_content_sha256_is_refused_and_nothing_is_stored);

async fn one_partner_cannot_read_or_write_another_partners_case(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let owner = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &owner).await;
    let colleague = key(&app, "emb-a-2", "embassy-a").await;
    let stranger = key(&app, "ins-b", "insurer-b").await;

    assert_problem(
        app.partner_get_case(&stranger, &case).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.partner_put_document(
            &stranger,
            &case,
            "x",
            PartnerDocument::new("x.pdf", "report", fixtures::pdf()),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.row_counts().await, (1, 0));
    // Another key of the same organisation shares its cases.
    assert_eq!(app.partner_get_case(&colleague, &case).await.status(), 200);
    assert_eq!(
        app.partner_put_document(
            &colleague,
            &case,
            "x",
            PartnerDocument::new("x.pdf", "report", fixtures::pdf())
        )
        .await
        .status(),
        201
    );
    // A patient's case is not any partner's; an unknown case is not found.
    let patient = app
        .post_request(crate::helpers::patient_form())
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_problem(
        app.partner_get_case(&owner, patient["case_id"].as_str().unwrap())
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        app.partner_get_case(&owner, &consilium::domain::CaseId::new().to_string())
            .await,
        404,
        "not-found",
    )
    .await;

    // Refusals are audited under the key that tried.
    let trail = audit_trail(&app, &case).await;
    let denied: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access.denied")
        .collect();
    assert_eq!(denied.len(), 2, "{trail}");
    assert!(denied.iter().all(|e| e["actor"] == "partner:ins-b"));
    assert!(
        trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "partner:emb-a-2" && e["action"] == "document.stored")
    );
}
on_both_backends!(one_partner_cannot_read_or_write_another_partners_case);

async fn unknown_and_revoked_keys_are_unauthorized(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    assert_problem(
        app.partner_create_case("csk_nonsense", None, &new_case("A"))
            .await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(
        app.partner_create_case(&app.admin_token, None, &new_case("A"))
            .await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.partner_create_case(&key, None, &new_case("A"))
            .await
            .status(),
        201
    );
    assert!(
        partners::revoke_key(app.services.repo.as_ref(), "emb-a")
            .await
            .unwrap()
    );
    assert_problem(
        app.partner_create_case(&key, None, &new_case("B")).await,
        401,
        "unauthorized",
    )
    .await;
}
on_both_backends!(unknown_and_revoked_keys_are_unauthorized);

async fn partner_uploads_follow_the_intake_rules(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, &[("CONSILIUM__PARTNERS__MAX_FILE_BYTES", "4096")]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &key).await;
    assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "a",
            PartnerDocument::new("a.pdf", "report", fixtures::exe()),
        )
        .await,
        415,
        "content-mismatch",
    )
    .await;
    assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "b",
            PartnerDocument::new("b.exe", "report", fixtures::exe()),
        )
        .await,
        415,
        "extension-not-allowed",
    )
    .await;
    let body = assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "c",
            PartnerDocument::new("c.pdf", "report", fixtures::pdf_of_size(5000)),
        )
        .await,
        413,
        "file-too-large",
    )
    .await;
    assert_eq!(body["limit_bytes"], 4096);
    assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "d",
            PartnerDocument::new("d.pdf", "opinion", fixtures::pdf()),
        )
        .await,
        422,
        "invalid-field",
    )
    .await;
    assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "../e",
            PartnerDocument::new("e.pdf", "report", fixtures::pdf()),
        )
        .await,
        404,
        "not-found",
    )
    .await;
    // Images: at most intake.max_images per case, counted across uploads.
    for n in 0..3 {
        let image = fixtures::png();
        assert_eq!(
            app.partner_put_document(
                &key,
                &case,
                &format!("img-{n}"),
                PartnerDocument::new("scan.png", "image", image)
            )
            .await
            .status(),
            201
        );
    }
    assert_problem(
        app.partner_put_document(
            &key,
            &case,
            "img-3",
            PartnerDocument::new("scan.png", "image", fixtures::png()),
        )
        .await,
        422,
        "too-many-images",
    )
    .await;
    assert_eq!(app.row_counts().await, (1, 3));
}
on_both_backends!(partner_uploads_follow_the_intake_rules);

async fn requests_over_the_rate_limit_get_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("CONSILIUM__PARTNERS__REQUESTS_BURST", "2"),
            ("CONSILIUM__PARTNERS__REQUESTS_PER_MINUTE", "1"),
        ],
    )
    .await;
    let key = key(&app, "emb-a", "embassy-a").await;
    for n in 0..2 {
        assert_eq!(
            app.partner_create_case(&key, None, &new_case(&format!("R{n}")))
                .await
                .status(),
            201
        );
    }
    let refused = app.partner_create_case(&key, None, &new_case("R2")).await;
    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_problem(refused, 429, "rate-limited").await;
    // Another key has its own bucket.
    let other = self::key(&app, "ins-b", "insurer-b").await;
    assert_eq!(
        app.partner_create_case(&other, None, &new_case("R3"))
            .await
            .status(),
        201
    );
}
on_both_backends!(requests_over_the_rate_limit_get_429_with_retry_after);

async fn the_daily_case_quota_is_per_organisation(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[(
            "CONSILIUM__PARTNERS__ORGANISATIONS__EMBASSY_A__MAX_CASES_PER_DAY",
            "2",
        )],
    )
    .await;
    let key = key(&app, "emb-a", "embassy_a").await;
    for n in 0..2 {
        assert_eq!(
            app.partner_create_case(&key, Some(&format!("q{n}")), &new_case(&format!("Q{n}")))
                .await
                .status(),
            201
        );
    }
    let refused = app
        .partner_create_case(&key, Some("q2"), &new_case("Q2"))
        .await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_problem(refused, 429, "rate-limited").await;
    // A retry of a case already created is not a new case.
    assert_eq!(
        app.partner_create_case(&key, Some("q0"), &new_case("Q0"))
            .await
            .status(),
        200
    );
}
on_both_backends!(the_daily_case_quota_is_per_organisation);

/// Twenty creates at once against a quota of five: exactly five cases, the rest 429.
async fn parallel_creates_never_pass_the_daily_quota(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[(
            "CONSILIUM__PARTNERS__ORGANISATIONS__EMBASSY_A__MAX_CASES_PER_DAY",
            "5",
        )],
    )
    .await;
    let key = key(&app, "emb-a", "embassy_a").await;
    let attempts = (0..20).map(|n| {
        let (app, key) = (&app, &key);
        async move {
            let with_key = (n % 2 == 0).then(|| format!("par-{n}"));
            app.partner_create_case(key, with_key.as_deref(), &new_case(&format!("P{n}")))
                .await
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for response in responses {
        if response.status() == 201 {
            created += 1;
        } else {
            assert!(response.headers().contains_key("retry-after"));
            assert_problem(response, 429, "rate-limited").await;
        }
    }
    assert_eq!(created, 5);
    assert_eq!(app.row_counts().await.0, 5, "five case rows");
}

on_both_backends!(parallel_creates_never_pass_the_daily_quota);

async fn a_partner_reading_its_case_is_audited_under_its_key(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let owner = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &owner).await;
    assert_eq!(app.partner_get_case(&owner, &case).await.status(), 200);
    let trail = audit_trail(&app, &case).await;
    let viewed: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "case.viewed")
        .collect();
    assert_eq!(viewed.len(), 1, "{trail}");
    assert_eq!(viewed[0]["actor"], "partner:emb-a");
    assert_eq!(viewed[0]["client"], "127.0.0.1");
    assert_eq!(viewed[0]["outcome"], "success");
}
on_both_backends!(a_partner_reading_its_case_is_audited_under_its_key);

#[tokio::test]
async fn the_openapi_document_describes_the_partner_routes() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/cases"]["post"].is_object());
    assert!(
        doc["paths"]["/api/v1/cases/{case_id}/documents/{client_document_id}"]["put"].is_object()
    );
    assert!(doc["components"]["schemas"]["PartnerCaseView"].is_object());
    assert!(doc["paths"]["/api/v1/cases/{case_id}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["CaseCorrection"].is_object());
    assert!(doc["components"]["schemas"]["CorrectedCase"].is_object());
    assert!(doc["components"]["securitySchemes"]["partner_key"].is_object());
}

// ---- corrections and references -------------------------------------------------------------

/// The case as an administrator reads it (decrypted patient details, sponsor reference).
async fn admin_view(app: &TestApp, case: &str) -> Value {
    let response = app.get_case(case).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn corrections(trail: &Value) -> Vec<&Value> {
    trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "case.corrected")
        .collect()
}

/// A reference as a person might type it: lower case, with O for 0 and L for 1.
fn typed(reference: &str) -> String {
    reference
        .to_ascii_lowercase()
        .replace('0', "o")
        .replace('1', "l")
}

async fn a_partner_corrects_contact_details_audited_by_field_name(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let first = app
        .partner_create_case(&key, Some("case-0417"), &new_case("EMB-0417"))
        .await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let case = first["case_id"].as_str().unwrap().to_owned();
    let reference = first["reference"].as_str().unwrap().to_owned();

    // By id: a new email and phone number.
    let response = app
        .partner_correct_case(
            &key,
            &case,
            &json!({"email": "amelia.q@example.net", "phone": "+44 20 7946 0000"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["changed"], json!(["email", "phone"]));
    assert_eq!(body["case_id"], case.as_str());
    assert_eq!(body["reference"], reference.as_str());
    assert_eq!(body["status"], "received");
    let view = admin_view(&app, &case).await;
    assert_eq!(view["patient"]["email"], "amelia.q@example.net");
    assert_eq!(view["patient"]["phone"], "+44 20 7946 0000");
    assert_eq!(view["patient"]["contact_preference"], "phone");
    assert_eq!(view["sponsor_reference"], "LG-2026-0417");

    // By its reference as typed (any case, O for 0, L for 1): the sponsor reference.
    let response = app
        .partner_correct_case(
            &key,
            &typed(&reference),
            &json!({"sponsor_reference": " LG-2026-0417-B "}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["changed"],
        json!(["sponsor_reference"])
    );
    assert_eq!(
        admin_view(&app, &case).await["sponsor_reference"],
        "LG-2026-0417-B"
    );
    // null removes the phone once contact is by email; the same values again change nothing.
    let response = app
        .partner_correct_case(
            &key,
            &case,
            &json!({"phone": null, "contact_preference": "email"}),
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["changed"],
        json!(["phone", "contact_preference"])
    );
    assert!(admin_view(&app, &case).await["patient"]["phone"].is_null());
    let again = app
        .partner_correct_case(
            &key,
            &case,
            &json!({"contact_preference": "email", "full_name": "Amelia Zanzibar-Quint"}),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["changed"], json!([]));

    // Audited: who, and which fields, never the values; the chain still verifies.
    let trail = audit_trail(&app, &case).await;
    let rows = corrections(&trail);
    let details: Vec<&str> = rows.iter().map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(
        details,
        [
            "fields=email,phone",
            "fields=sponsor_reference",
            "fields=phone,contact_preference"
        ]
    );
    assert!(rows.iter().all(|e| e["actor"] == "partner:emb-a"));
    assert_eq!(trail["chain_valid"], true);
    let text = trail.to_string();
    for secret in ["amelia.q@example.net", "7946 0000", "LG-2026-0417-B"] {
        assert!(!text.contains(secret), "{secret} in the audit trail");
    }
    // Sealed at rest: no new value in clear anywhere on disk or in the bucket.
    for (place, bytes) in app.bytes_at_rest().await {
        for secret in ["amelia.q@example.net", "LG-2026-0417-B"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in clear in {place}"
            );
        }
    }

    // A create retried with the corrected body is the same case; the old body is now a conflict
    // that names the case.
    let mut corrected = new_case("EMB-0417");
    corrected["email"] = json!("amelia.q@example.net");
    corrected["phone"] = Value::Null;
    corrected["contact_preference"] = json!("email");
    corrected["sponsor_reference"] = json!("LG-2026-0417-B");
    let retried = app
        .partner_create_case(&key, Some("case-0417"), &corrected)
        .await;
    assert_eq!(retried.status(), 200);
    assert_eq!(
        retried.json::<Value>().await.unwrap()["case_id"],
        case.as_str()
    );
    let stale = assert_problem(
        app.partner_create_case(&key, Some("case-0417"), &new_case("EMB-0417"))
            .await,
        422,
        "idempotency-conflict",
    )
    .await;
    assert_eq!(stale["case_id"], case.as_str());
    assert_eq!(app.row_counts().await, (1, 0));
}

on_both_backends!(a_partner_corrects_contact_details_audited_by_field_name);

async fn a_correction_follows_the_rules_of_a_new_case_and_changes_nothing_when_refused(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &key).await;
    let before = admin_view(&app, &case).await;
    for (body, field) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": null}), "email"),
        (json!({"phone": "call me"}), "phone"),
        // Contact is by phone: the number cannot go.
        (json!({"phone": null}), "phone"),
        (
            json!({"contact_preference": "pigeon"}),
            "contact_preference",
        ),
        (json!({"sponsor_reference": ""}), "sponsor_reference"),
        (
            json!({"sponsor_reference": "x".repeat(201)}),
            "sponsor_reference",
        ),
        // Not correctable: a different name, condition or service is a new case.
        (json!({"full_name": "Someone Else"}), "full_name"),
        (json!({"condition": "Another question."}), "condition"),
        (json!({"service": "records_and_images_review"}), "service"),
        (json!({"external_reference": "EMB-9"}), "external_reference"),
        (
            json!({"email": "ok@example.org", "sponsor": "insurer"}),
            "sponsor",
        ),
    ] {
        let problem = assert_problem(
            app.partner_correct_case(&key, &case, &body).await,
            422,
            "invalid-field",
        )
        .await;
        assert_eq!(problem["field"], field, "{body}");
    }
    // A field no case has is refused too, naming it.
    let unknown = assert_problem(
        app.partner_correct_case(&key, &case, &json!({"documents": []}))
            .await,
        422,
        "invalid-field",
    )
    .await;
    assert_eq!(unknown["field"], "documents");
    let closed = assert_problem(
        app.partner_correct_case(&key, &case, &json!({"contact_preference": 7}))
            .await,
        422,
        "invalid-field",
    )
    .await;
    assert_eq!(closed["field"], "contact_preference");
    assert_eq!(closed["allowed"], json!(["email", "phone"]));
    assert_eq!(admin_view(&app, &case).await, before);
    assert!(corrections(&audit_trail(&app, &case).await).is_empty());
}
on_both_backends!(a_correction_follows_the_rules_of_a_new_case_and_changes_nothing_when_refused);

async fn a_case_past_ready_is_not_corrected(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let key = key(&app, "emb-a", "embassy-a").await;
    let case = created_case(&app, &key).await;
    let before = admin_view(&app, &case).await;
    for status in ["in_review", "opinion_delivered", "closed"] {
        set_status(&app, &case, status).await;
        let problem = assert_problem(
            app.partner_correct_case(&key, &case, &json!({"email": "late@example.org"}))
                .await,
            409,
            "invalid-transition",
        )
        .await;
        assert_eq!(problem["case_status"], status);
        assert_eq!(
            problem["allowed"],
            json!(["received", "contacted", "awaiting_payment"])
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(status),
            "{problem}"
        );
    }
    assert_eq!(admin_view(&app, &case).await["patient"], before["patient"]);
    // The rule follows the status: a contacted case can still be corrected.
    set_status(&app, &case, "contacted").await;
    let response = app
        .partner_correct_case(&key, &case, &json!({"email": "late@example.org"}))
        .await;
    assert_eq!(response.status(), 200);
}
on_both_backends!(a_case_past_ready_is_not_corrected);

async fn a_partner_names_its_case_by_reference_and_others_cannot_correct_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let owner = key(&app, "emb-a", "embassy-a").await;
    let stranger = key(&app, "ins-b", "insurer-b").await;
    let created: Value = app
        .partner_create_case(&owner, Some("k-1"), &new_case("EMB-1"))
        .await
        .json()
        .await
        .unwrap();
    let case = created["case_id"].as_str().unwrap().to_owned();
    let reference = created["reference"].as_str().unwrap().to_owned();

    // GET and PUT by reference, as shown and as typed.
    for named in [reference.clone(), typed(&reference)] {
        let view = app.partner_get_case(&owner, &named).await;
        assert_eq!(view.status(), 200, "{named}");
        assert_eq!(
            view.json::<Value>().await.unwrap()["case_id"],
            case.as_str()
        );
    }
    let stored = app
        .partner_put_document(
            &owner,
            &typed(&reference),
            "referral",
            PartnerDocument::new("referral.pdf", "report", fixtures::pdf()),
        )
        .await;
    assert_eq!(stored.status(), 201);
    let view: Value = app
        .partner_get_case(&owner, &case)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["documents"][0]["client_document_id"], "referral");

    // Another organisation: forbidden, by id or by reference, and nothing changes.
    let before = admin_view(&app, &case).await;
    for named in [case.clone(), reference.clone()] {
        assert_problem(
            app.partner_correct_case(&stranger, &named, &json!({"email": "x@example.org"}))
                .await,
            403,
            "forbidden",
        )
        .await;
        assert_problem(
            app.partner_get_case(&stranger, &named).await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(admin_view(&app, &case).await, before);
    // Unknown ids and references, and anything else, are not found.
    for unknown in [
        consilium::domain::CaseId::new().to_string(),
        "SMO-0000-0000".to_owned(),
        "SMO-UUUU-0000".to_owned(),
        "not-a-case".to_owned(),
    ] {
        assert_problem(
            app.partner_correct_case(&owner, &unknown, &json!({"email": "x@example.org"}))
                .await,
            404,
            "not-found",
        )
        .await;
        assert_problem(
            app.partner_get_case(&owner, &unknown).await,
            404,
            "not-found",
        )
        .await;
    }
    assert!(corrections(&audit_trail(&app, &case).await).is_empty());
}
on_both_backends!(a_partner_names_its_case_by_reference_and_others_cannot_correct_it);

// ---- consilium push against a consilium serve process ----------------------------------------

const CASES: usize = 30;
const DOCUMENTS_PER_CASE: usize = 4;

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_consilium"));
    command.env("CONSILIUM__LOG__FILTER", "warn");
    command
}

/// `consilium serve` in its own process, on a fixed port so that it can come back on it.
struct Server {
    child: Option<Child>,
    port: u16,
    data_dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            child: None,
            port,
            data_dir: tempfile::tempdir().unwrap(),
        };
        server.spawn();
        server
    }

    fn command(&self) -> Command {
        let mut command = binary();
        command
            .env("CONSILIUM__DATA_DIR", self.data_dir.path().join("data"))
            .env(
                "CONSILIUM__SERVER__BIND",
                format!("127.0.0.1:{}", self.port),
            )
            .env("CONSILIUM__SERVER__METRICS_BIND", "127.0.0.1:0")
            .env("CONSILIUM__SERVER__ENVIRONMENT", "test")
            .env("CONSILIUM__SERVER__WORKERS", "2")
            .env("CONSILIUM__PARTNERS__CLAIM_LEASE_SECONDS", "2")
            .current_dir(self.data_dir.path());
        command
    }

    fn spawn(&mut self) {
        let child = self
            .command()
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_mins(1);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    /// Runs a `consilium` command on the server's data (keys, tokens), returning its last line.
    fn last_line(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PNG unique to `seed`, a few KiB.
#[allow(clippy::cast_possible_truncation)]
fn png(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 24, |x, y| {
        image::Rgb([
            (x * 9 + seed) as u8,
            (y * 7 + seed * 3) as u8,
            ((x ^ y) + seed * 11) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A manifest of 30 cases with 4 documents each (report, notes, image, guarantee letter), every
/// file different. Returns the manifest's path and each file's bytes by (external ref, path).
fn write_manifest(dir: &Path) -> (PathBuf, HashMap<(String, String), Vec<u8>>) {
    let mut files = HashMap::new();
    let mut cases = Vec::new();
    for n in 0..CASES {
        let reference = format!("EMB-2026-{n:04}");
        let folder = format!("case-{n:04}");
        std::fs::create_dir_all(dir.join(&folder)).unwrap();
        let documents: Vec<(String, &str, Vec<u8>)> = vec![
            (
                format!("{folder}/referral.pdf"),
                "report",
                fixtures::pdf_of_size(3000 + n),
            ),
            (
                format!("{folder}/notes.txt"),
                "report",
                format!(
                    "Clinical notes for case {n}.\n{}",
                    "Observation. ".repeat(100 + n)
                )
                .into_bytes(),
            ),
            (
                format!("{folder}/scan.png"),
                "image",
                png(u32::try_from(n).unwrap()),
            ),
            (
                format!("{folder}/guarantee letter.pdf"),
                "guarantee_letter",
                fixtures::pdf_of_size(2000 + n),
            ),
        ];
        assert_eq!(documents.len(), DOCUMENTS_PER_CASE);
        let mut listed = Vec::new();
        for (path, category, bytes) in documents {
            std::fs::write(dir.join(&path), &bytes).unwrap();
            listed.push(json!({"path": path, "category": category}));
            files.insert((reference.clone(), path), bytes);
        }
        cases.push(json!({
            "external_reference": reference,
            "full_name": format!("Test Patient {n}"),
            "email": format!("patient{n}@example.org"),
            "service": "records_review",
            "condition": format!("Case {n}: second opinion requested by the embassy."),
            "sponsor_reference": format!("LG-{n:04}"),
            "documents": listed,
        }));
    }
    let manifest = dir.join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec_pretty(&json!({"cases": cases})).unwrap(),
    )
    .unwrap();
    (manifest, files)
}

fn push(server: &Server, key: &str, manifest: &Path, jobs: &str) -> Command {
    let mut command = binary();
    command
        .args(["push", "--server", &server.url(), "--jobs", jobs])
        .arg(manifest)
        .env("CONSILIUM_PARTNER_KEY", key)
        .current_dir(manifest.parent().unwrap());
    command
}

/// Runs a push to its end: its exit status and `--json` report.
fn push_to_end(server: &Server, key: &str, manifest: &Path) -> (bool, Value) {
    let out = push(server, key, manifest, "4")
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no report: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

/// Starts a push whose progress lines arrive on the returned channel.
fn push_in_background(
    server: &Server,
    key: &str,
    manifest: &Path,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = push(server, key, manifest, "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, receiver)
}

/// Waits until the push has reported `count` uploads.
fn wait_for_uploads(lines: &mpsc::Receiver<String>, count: usize) {
    let mut seen = 0;
    while seen < count {
        let line = lines
            .recv_timeout(Duration::from_mins(1))
            .expect("the push went quiet");
        if line.contains("] uploaded ") {
            seen += 1;
        }
    }
}

/// Every case of the manifest exists exactly once with exactly its documents, byte for byte.
async fn assert_exactly_once(
    server: &Server,
    key: &str,
    files: &HashMap<(String, String), Vec<u8>>,
    report: &Value,
) {
    let admin = server.last_line(&[
        "admin",
        "create-token",
        "--name",
        &format!("check-{}", uuid::Uuid::new_v4().simple()),
    ]);
    let client = reqwest::Client::new();
    let list: Value = client
        .get(format!("{}/api/v1/cases?page=1", server.url()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["cases"].as_array().unwrap().len(),
        CASES,
        "every case exactly once"
    );
    assert!(list["next_page"].is_null());
    let mut documents = 0;
    for case in report["cases"].as_array().unwrap() {
        let reference = case["external_reference"].as_str().unwrap();
        let view: Value = client
            .get(format!(
                "{}/api/v1/cases/{}",
                server.url(),
                case["case_id"].as_str().unwrap()
            ))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["external_reference"], reference);
        let held = view["documents"].as_array().unwrap();
        assert_eq!(held.len(), DOCUMENTS_PER_CASE, "{view}");
        let full: Value = client
            .get(format!(
                "{}/api/v1/cases/{}",
                server.url(),
                case["case_id"].as_str().unwrap()
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            full["documents"].as_array().unwrap().len(),
            DOCUMENTS_PER_CASE,
            "no stray document rows"
        );
        for doc in case["documents"].as_array().unwrap() {
            let path = doc["path"].as_str().unwrap();
            let stored = held
                .iter()
                .find(|h| h["client_document_id"] == doc["client_document_id"])
                .unwrap_or_else(|| panic!("{reference} {path} missing"));
            let bytes = client
                .get(format!(
                    "{}/api/v1/documents/{}/content",
                    server.url(),
                    stored["id"].as_str().unwrap()
                ))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert!(
                bytes.as_ref() == files[&(reference.to_owned(), path.to_owned())].as_slice(),
                "{reference} {path} differs"
            );
            documents += 1;
        }
    }
    assert_eq!(documents, CASES * DOCUMENTS_PER_CASE);
    let verify = server.command().args(["audit", "verify"]).output().unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

fn summary(report: &Value, field: &str) -> u64 {
    report["summary"][field].as_u64().unwrap()
}

#[tokio::test]
async fn a_push_killed_part_way_and_run_again_stores_everything_exactly_once() {
    let server = Server::start();
    let key = server.last_line(&[
        "partner",
        "create-key",
        "--name",
        "embassy-a",
        "--org",
        "embassy-a",
    ]);
    assert!(key.starts_with("csk_"), "{key}");
    let dir = tempfile::tempdir().unwrap();
    let (manifest, files) = write_manifest(dir.path());

    let (mut client, lines) = push_in_background(&server, &key, &manifest);
    wait_for_uploads(&lines, 25);
    client.kill().unwrap(); // SIGKILL: no chance to tidy up
    client.wait().unwrap();

    let (ok, report) = push_to_end(&server, &key, &manifest);
    assert!(ok, "{report}");
    assert_eq!(summary(&report, "documents_failed"), 0, "{report}");
    assert!(
        summary(&report, "documents_skipped") >= 25,
        "the second run resumed: {report}"
    );
    assert!(summary(&report, "cases_existing") >= 1, "{report}");
    assert_eq!(
        summary(&report, "documents_uploaded") + summary(&report, "documents_skipped"),
        (CASES * DOCUMENTS_PER_CASE) as u64
    );
    assert_exactly_once(&server, &key, &files, &report).await;

    // A third run has nothing left to do.
    let (ok, report) = push_to_end(&server, &key, &manifest);
    assert!(ok);
    assert_eq!(summary(&report, "documents_uploaded"), 0);
    assert_eq!(summary(&report, "cases_created"), 0);
}

#[tokio::test]
async fn a_push_through_a_server_restart_stores_everything_exactly_once() {
    let mut server = Server::start();
    let key = server.last_line(&[
        "partner",
        "create-key",
        "--name",
        "embassy-a",
        "--org",
        "embassy-a",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (manifest, files) = write_manifest(dir.path());

    let (mut client, lines) = push_in_background(&server, &key, &manifest);
    wait_for_uploads(&lines, 25);
    server.kill(); // SIGKILL mid-upload
    std::thread::sleep(Duration::from_millis(500));
    server.spawn();
    // The client retries through the outage and finishes on its own.
    let status = client.wait().unwrap();
    let output: Vec<String> = lines.iter().collect();
    assert!(status.success(), "{}", output.join("\n"));
    assert!(
        output.iter().any(|l| l.contains("retrying")),
        "{}",
        output.join("\n")
    );

    let (ok, report) = push_to_end(&server, &key, &manifest);
    assert!(ok, "{report}");
    assert_eq!(
        summary(&report, "documents_skipped"),
        (CASES * DOCUMENTS_PER_CASE) as u64,
        "{report}"
    );
    assert_exactly_once(&server, &key, &files, &report).await;
}

#[test]
fn the_example_manifest_passes_its_check_and_a_bad_one_names_every_problem() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/partner-manifest/manifest.json");
    let out = binary()
        .args([
            "push",
            "--server",
            "http://127.0.0.1:9",
            "--key",
            "csk_unused",
            "--dry-run",
            "--json",
        ])
        .arg(&example)
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["documents"], 5);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fake.pdf"), fixtures::exe()).unwrap();
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&json!({"cases": [
            {"external_reference": "A", "full_name": "A", "email": "not-an-email", "service": "records_review",
             "condition": "x", "sponsor_reference": "R", "documents": [{"path": "fake.pdf", "category": "report"},
             {"path": "missing.pdf", "category": "report"}]},
        ]}))
        .unwrap(),
    )
    .unwrap();
    let out = binary()
        .args([
            "push",
            "--server",
            "http://127.0.0.1:9",
            "--key",
            "csk_unused",
            "--json",
        ])
        .arg(dir.path().join("manifest.json"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["invalid-field", "content-mismatch", "invalid-field"],
        "{report}"
    );
}

/// Runs `consilium push --json` (with `extra` arguments): exit status, report, progress (stderr).
fn push_with(server: &Server, key: &str, manifest: &Path, extra: &[&str]) -> (bool, Value, String) {
    let out = push(server, key, manifest, "2")
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("no report: {progress}"));
    (out.status.success(), report, progress)
}

fn small_manifest(dir: &Path, first: &Value, second: &Value) -> PathBuf {
    let manifest = dir.join("manifest.json");
    std::fs::write(
        &manifest,
        serde_json::to_vec_pretty(&json!({"cases": [first, second]})).unwrap(),
    )
    .unwrap();
    manifest
}

#[tokio::test]
async fn push_update_corrects_changed_contact_details_and_names_each_case_by_reference_and_id() {
    let server = Server::start();
    let key = server.last_line(&[
        "partner",
        "create-key",
        "--name",
        "embassy-a",
        "--org",
        "embassy-a",
    ]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.pdf"), fixtures::pdf_of_size(3000)).unwrap();
    std::fs::write(dir.path().join("two.pdf"), fixtures::pdf_of_size(3100)).unwrap();
    let entry = |n: u32| {
        json!({
            "external_reference": format!("EMB-U-{n}"),
            "full_name": format!("Patient {n}"),
            "email": format!("patient{n}@example.org"),
            "service": "records_review",
            "condition": "Second opinion requested by the embassy.",
            "sponsor_reference": format!("LG-{n}"),
            "documents": [{"path": if n == 1 { "one.pdf" } else { "two.pdf" }, "category": "report"}],
        })
    };
    let manifest = small_manifest(dir.path(), &entry(1), &entry(2));
    let (ok, first, progress) = push_with(&server, &key, &manifest, &[]);
    assert!(ok, "{first}");
    let ids: Vec<(String, String)> = first["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "created");
            (
                c["reference"].as_str().unwrap().to_owned(),
                c["case_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Progress and summary name each case by its reference and its id.
    for (n, (reference, id)) in ids.iter().enumerate() {
        assert!(reference.starts_with("SMO-"), "{reference}");
        let external = format!("EMB-U-{}", n + 1);
        assert!(
            progress.contains(&format!(
                "case {external}: created: {reference} (case id {id})"
            )),
            "{progress}"
        );
        assert!(
            progress.contains(&format!("  {external}  {reference}  {id}  created")),
            "{progress}"
        );
    }

    // The manifest changes: case 1's email and phone (now the way to reach them), case 2's name.
    let mut changed = entry(1);
    changed["email"] = json!("patient1.new@example.org");
    changed["phone"] = json!("+44 20 7946 0111");
    changed["contact_preference"] = json!("phone");
    let mut renamed = entry(2);
    renamed["full_name"] = json!("Someone Else");
    let manifest = small_manifest(dir.path(), &changed, &renamed);

    // Without --update: refused as before, and the message says what would correct it.
    let (ok, report, _) = push_with(&server, &key, &manifest, &[]);
    assert!(!ok);
    let case1 = &report["cases"][0];
    assert_eq!(case1["status"], "failed", "{report}");
    assert_eq!(case1["error"]["code"], "idempotency-conflict");
    assert!(
        case1["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("--update"),
        "{report}"
    );
    assert_eq!(case1["case_id"], ids[0].1.as_str());

    // With --update: case 1 is corrected and says what changed; case 2's name cannot be.
    let (ok, report, progress) = push_with(&server, &key, &manifest, &["--update"]);
    assert!(!ok, "case 2 still differs");
    let case1 = &report["cases"][0];
    assert_eq!(case1["status"], "updated", "{report}");
    assert_eq!(
        case1["changed"],
        json!(["email", "phone", "contact_preference"])
    );
    assert_eq!(case1["reference"], ids[0].0.as_str());
    assert_eq!(case1["case_id"], ids[0].1.as_str());
    assert_eq!(case1["documents"][0]["status"], "skipped");
    assert!(
        progress.contains(&format!(
            "case EMB-U-1: updated email, phone, contact_preference: {} (case id {})",
            ids[0].0, ids[0].1
        )),
        "{progress}"
    );
    let case2 = &report["cases"][1];
    assert_eq!(case2["status"], "failed");
    assert_eq!(case2["error"]["code"], "invalid-field");
    assert!(
        case2["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("full_name"),
        "{report}"
    );
    assert_eq!(report["summary"]["cases_updated"], 1);

    let admin = server.last_line(&["admin", "create-token", "--name", "check"]);
    let view: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/cases/{}", server.url(), ids[0].1))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["patient"]["email"], "patient1.new@example.org");
    assert_eq!(view["patient"]["phone"], "+44 20 7946 0111");
    assert_eq!(view["patient"]["contact_preference"], "phone");

    // Once corrected, the entry is the case again: nothing left to change.
    let (_, report, _) = push_with(&server, &key, &manifest, &["--update"]);
    assert_eq!(report["cases"][0]["status"], "existing", "{report}");
    let verify = server.command().args(["audit", "verify"]).output().unwrap();
    assert!(verify.status.success());
}
