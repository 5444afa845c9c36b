//! The repositories, run against both SQLite and PostgreSQL (a fresh database per test), and the
//! audit chain with `consilium audit verify`.

use std::process::Command;
use std::sync::Arc;

use consilium::db::{PasscodeAttempt, Repository, SqlRepository};
use consilium::domain::audit::verify_chain;
use consilium::domain::{AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId};

use crate::helpers::postgres_database;

async fn sqlite() -> (SqlRepository, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/consilium.db", dir.path().display());
    (SqlRepository::connect(&url, 5).await.unwrap(), dir)
}

async fn postgres() -> SqlRepository {
    SqlRepository::connect(&postgres_database().await, 5)
        .await
        .unwrap()
}

async fn concurrent_appends_keep_one_unbroken_chain(repo: Arc<SqlRepository>) {
    let case = CaseId::new();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let repo = Arc::clone(&repo);
            tokio::spawn(async move {
                let event = AuditEvent::new(
                    AuditActor::Admin(format!("a{i}")),
                    AuditAction::DocumentDownloaded,
                    AuditOutcome::Success,
                )
                .case(case)
                .client(Some("127.0.0.1".into()));
                repo.append_audit(&event).await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let records = repo.audit_records(None).await.unwrap();
    assert_eq!(records.len(), 40);
    assert_eq!(verify_chain(&records), Ok(40));
    assert_eq!(repo.audit_records(Some(case)).await.unwrap().len(), 40);
    assert_eq!(
        repo.audit_records(Some(CaseId::new())).await.unwrap().len(),
        0
    );
}

#[tokio::test]
async fn concurrent_audit_appends_chain_on_sqlite() {
    let (repo, _dir) = sqlite().await;
    concurrent_appends_keep_one_unbroken_chain(Arc::new(repo)).await;
}

#[tokio::test]
async fn concurrent_audit_appends_chain_on_postgres() {
    concurrent_appends_keep_one_unbroken_chain(Arc::new(postgres().await)).await;
}

async fn admin_tokens_are_unique_and_found_by_hash(repo: &dyn Repository) {
    let token = consilium::services::admin::create_token(repo, "ops")
        .await
        .unwrap();
    assert_eq!(
        consilium::services::admin::authenticate(repo, &token)
            .await
            .unwrap(),
        "ops"
    );
    assert!(
        consilium::services::admin::authenticate(repo, &format!("{token}x"))
            .await
            .is_err()
    );
    assert!(
        consilium::services::admin::create_token(repo, "ops")
            .await
            .is_err(),
        "names are unique"
    );
}

#[tokio::test]
async fn admin_tokens_on_sqlite() {
    let (repo, _dir) = sqlite().await;
    admin_tokens_are_unique_and_found_by_hash(&repo).await;
}

#[tokio::test]
async fn admin_tokens_on_postgres() {
    admin_tokens_are_unique_and_found_by_hash(&postgres().await).await;
}

fn consilium(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_consilium"))
        .args(args)
        .env("CONSILIUM__DATA_DIR", data_dir)
        .env("CONSILIUM__LOG__FILTER", "warn")
        .current_dir(data_dir)
        .output()
        .unwrap()
}

#[tokio::test]
async fn audit_verify_passes_then_names_the_tampered_row() {
    let dir = tempfile::tempdir().unwrap();
    let created = consilium(
        dir.path(),
        &["admin", "create-token", "--name", "night-shift"],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    assert!(
        stdout
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("cat_"),
        "{stdout}"
    );

    let url = format!("sqlite://{}/consilium.db", dir.path().display());
    let repo = SqlRepository::connect(&url, 2).await.unwrap();
    for outcome in [
        AuditOutcome::Success,
        AuditOutcome::Denied,
        AuditOutcome::Success,
    ] {
        let event = AuditEvent::new(AuditActor::Patient, AuditAction::RequestSubmitted, outcome)
            .case(CaseId::new());
        repo.append_audit(&event).await.unwrap();
    }
    let ok = consilium(dir.path(), &["audit", "verify"]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("3 rows verified"));

    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_events SET outcome = 'success' WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let broken = consilium(dir.path(), &["audit", "verify"]);
    assert!(!broken.status.success());
    let out = String::from_utf8_lossy(&broken.stdout);
    assert!(out.contains("seq=2"), "{out}");
}

#[tokio::test]
async fn keys_rewrap_moves_every_case_key_to_the_active_kek_and_cases_still_open() {
    use crate::helpers::{TestApp, file, patient_form};
    let app = TestApp::spawn().await;
    let response = app
        .post_request(patient_form().part("report", file("a.txt", b"hello".to_vec())))
        .await;
    assert_eq!(response.status(), 201);
    let receipt: serde_json::Value = response.json().await.unwrap();
    let data_dir = app.data_dir.path().to_path_buf();
    let dev_key = std::fs::read_to_string(data_dir.join("dev-kek.key")).unwrap();
    let new_key = consilium::crypto::encode_kek_base64(&consilium::crypto::generate_kek());
    let app = app.restart().await;
    drop(app.services.repo.ping().await);

    let out = Command::new(env!("CARGO_BIN_EXE_consilium"))
        .args(["keys", "rewrap"])
        .env("CONSILIUM__DATA_DIR", &data_dir)
        .env("CONSILIUM__KEYS__ACTIVE", "k2027")
        .env("CONSILIUM__KEYS__KEKS__DEV", dev_key.trim())
        .env("CONSILIUM__KEYS__KEKS__K2027", &new_key)
        .env("CONSILIUM__LOG__FILTER", "warn")
        .current_dir(&data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-wrapped 1 case keys under `k2027`"));
    let keys = app.services.repo.wrapped_case_keys().await.unwrap();
    assert_eq!(keys[0].1, "k2027");
    assert_eq!(keys[0].0.to_string(), receipt["case_id"].as_str().unwrap());
}

async fn concurrent_uses_never_exceed_max_uses(repo: Arc<SqlRepository>) {
    use consilium::db::{CaseRecord, LinkRecord, LinkRepository};
    use consilium::domain::{
        CaseStatus, ContactPreference, LinkId, LinkRole, LinkScope, Reference, ServiceTier, Sponsor,
    };
    let now = chrono::Utc::now();
    let case = CaseRecord {
        id: CaseId::new(),
        reference: Reference::generate(),
        status: CaseStatus::Received,
        service: ServiceTier::RecordsReview,
        contact_preference: ContactPreference::Email,
        sponsor: Sponsor::SelfFunded,
        received_at: now,
        contact_by: now,
        kek_id: "dev".into(),
        wrapped_key: vec![1; 60],
        full_name_enc: vec![1],
        email_enc: vec![1],
        phone_enc: None,
        condition_enc: vec![1],
        sponsor_reference_enc: None,
    };
    repo.create_case(&case, &[], &[]).await.unwrap();
    let link = LinkRecord {
        id: LinkId::new(),
        case_id: case.id,
        recipient_enc: vec![1],
        role: LinkRole::Consultant,
        scopes: vec![LinkScope::View],
        created_by: "admin".into(),
        created_at: now,
        expires_at: now + chrono::Duration::hours(1),
        max_uses: Some(3),
        uses: 0,
        passcode_hash: None,
        failed_attempts: 0,
        locked_at: None,
        revoked_at: None,
    };
    let event = AuditEvent::new(
        AuditActor::Admin("a".into()),
        AuditAction::LinkCreated,
        AuditOutcome::Success,
    );
    repo.create_link(&link, &event).await.unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let repo = Arc::clone(&repo);
            tokio::spawn(async move {
                repo.consume_link_use(link.id, chrono::Utc::now())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.unwrap() {
            granted += 1;
        }
    }
    assert_eq!(granted, 3);
    assert_eq!(repo.get_link(link.id).await.unwrap().unwrap().uses, 3);
    // Twenty parallel passcode attempts with a limit of five: five are taken, the fifth locks,
    // the rest are refused without being counted.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let repo = Arc::clone(&repo);
            tokio::spawn(async move {
                repo.claim_passcode_attempt(link.id, 5, chrono::Utc::now())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut attempts = Vec::new();
    for task in tasks {
        attempts.push(task.await.unwrap());
    }
    let taken = |locks| {
        attempts
            .iter()
            .filter(|a| **a == PasscodeAttempt::Taken { locks })
            .count()
    };
    assert_eq!((taken(false), taken(true)), (4, 1), "{attempts:?}");
    let stored = repo.get_link(link.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_attempts, 5);
    assert!(stored.locked_at.is_some());
    // The locking attempt was right after all: given back, the lock lifts; a wrong one locks again.
    repo.refund_passcode_attempt(link.id, 5).await.unwrap();
    let stored = repo.get_link(link.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_attempts, stored.locked_at), (4, None));
    assert_eq!(
        repo.claim_passcode_attempt(link.id, 5, chrono::Utc::now())
            .await
            .unwrap(),
        PasscodeAttempt::Taken { locks: true }
    );
    assert_eq!(
        repo.claim_passcode_attempt(link.id, 5, chrono::Utc::now())
            .await
            .unwrap(),
        PasscodeAttempt::Refused
    );
    // A right passcode on a link out of uses (three of three taken above) opens nothing and
    // changes nothing.
    assert!(
        !repo
            .consume_link_use_with_passcode(link.id, 5, chrono::Utc::now())
            .await
            .unwrap()
    );
    let stored = repo.get_link(link.id).await.unwrap().unwrap();
    assert_eq!((stored.uses, stored.failed_attempts), (3, 5));
}

#[tokio::test]
async fn concurrent_link_uses_are_atomic_on_sqlite() {
    let (repo, _dir) = sqlite().await;
    concurrent_uses_never_exceed_max_uses(Arc::new(repo)).await;
}

#[tokio::test]
async fn concurrent_link_uses_are_atomic_on_postgres() {
    concurrent_uses_never_exceed_max_uses(Arc::new(postgres().await)).await;
}
