//! After a request, nothing at rest (blob files, the SQLite database and its journal, the bucket)
//! holds the patient's name, email, condition, original file name or file content in clear.

use crate::helpers::{Backend, TestApp, file, form_with};

const NAME: &str = "Ottoline Marchbanks-Vey";
const EMAIL: &str = "ottoline.vey@example.org";
const CONDITION: &str = "Hypertrophic cardiomyopathy with syncope";
const FILENAME: &str = "ottoline-echocardiogram-report.txt";
const CONTENT: &str = "ECHO FINDINGS: septal thickness 19 mm, LVOT gradient 55 mmHg at rest.";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn nothing_personal_is_stored_in_clear(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[]).await;
    let form = form_with(&[
        ("full_name", NAME),
        ("email", EMAIL),
        ("condition", CONDITION),
    ])
    .part("report", file(FILENAME, CONTENT.as_bytes().to_vec()));
    assert_eq!(app.post_request(form).await.status(), 201);

    let at_rest = app.bytes_at_rest().await;
    assert!(
        at_rest
            .iter()
            .any(|(where_, _)| where_.contains("/documents/")),
        "the blob is at rest"
    );
    for (where_, bytes) in &at_rest {
        for secret in [NAME, EMAIL, CONDITION, FILENAME, CONTENT, "ECHO FINDINGS"] {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{secret:?} in clear in {where_}"
            );
        }
    }
    assert!(at_rest.len() >= 2, "scanned {} places", at_rest.len());

    if backend == Backend::S3Postgres {
        // PostgreSQL's own files are not ours to read; check every stored value instead.
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let dump: Vec<(String,)> = sqlx::query_as(
            "SELECT row_to_json(c)::text FROM cases c UNION ALL SELECT row_to_json(d)::text FROM documents d \
             UNION ALL SELECT row_to_json(a)::text FROM audit_events a",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(dump.len() >= 3);
        for (row,) in dump {
            for secret in [NAME, EMAIL, CONDITION, FILENAME] {
                assert!(!row.contains(secret), "{secret:?} in a PostgreSQL row");
            }
        }
    }
    // And the administrator still reads it all back.
    let list: serde_json::Value = app.list_cases("").await.json().await.unwrap();
    let case: serde_json::Value = app
        .get_case(list["cases"][0]["case_id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["patient"]["full_name"], NAME);
    assert_eq!(case["patient"]["email"], EMAIL);
    assert_eq!(case["condition"], CONDITION);
    assert_eq!(case["documents"][0]["filename"], FILENAME);
}

#[tokio::test]
async fn nothing_personal_is_in_clear_on_fs_and_sqlite() {
    nothing_personal_is_stored_in_clear(Backend::FsSqlite).await;
}

#[tokio::test]
async fn nothing_personal_is_in_clear_on_s3_and_postgres() {
    nothing_personal_is_stored_in_clear(Backend::S3Postgres).await;
}
