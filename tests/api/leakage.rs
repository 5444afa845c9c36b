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

/// The marker every refused file is named with; no log line may carry it.
const MARKER: &str = "Jane_Doe_HIV_positive_result";

/// `consilium serve` (the real binary, its real subscriber) with its stderr captured to a file.
struct LoggedServer {
    child: std::process::Child,
    address: String,
    log: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl LoggedServer {
    fn command(dir: &std::path::Path) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_consilium"));
        command
            .env_remove("RUST_LOG")
            .env("CONSILIUM__DATA_DIR", dir.join("data"))
            .env("CONSILIUM__SERVER__ENVIRONMENT", "test")
            .env("CONSILIUM__SERVER__BIND", "127.0.0.1:0")
            .env("CONSILIUM__SERVER__METRICS_BIND", "127.0.0.1:0")
            .env("CONSILIUM__SERVER__WORKERS", "2")
            // Everything the service and its libraries say, not only what ships by default.
            .env("CONSILIUM__LOG__FILTER", "debug")
            .current_dir(dir);
        command
    }

    fn start() -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut child = Self::command(dir.path())
            .arg("serve")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // "Consilium listening on http://127.0.0.1:PORT (public URL …)"
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        Self {
            child,
            address,
            log,
            dir,
        }
    }

    /// Runs a `consilium` command on the server's data, returning its last line of stdout.
    fn last_line(&self, args: &[&str]) -> String {
        let out = Self::command(self.dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Stops the server and returns everything it logged.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

#[tokio::test]
async fn refused_file_names_never_reach_the_log() {
    use crate::fixtures;
    use crate::helpers::patient_form;

    let server = LoggedServer::start();
    let client = reqwest::Client::new();
    let submit = |form: reqwest::multipart::Form| {
        let client = client.clone();
        let url = format!("{}/api/v1/requests", server.address);
        async move { client.post(url).multipart(form).send().await.unwrap() }
    };
    let mut refusals = Vec::new();
    let named = |ext: &str| format!("{MARKER}.{ext}");
    // Each kind of refusal a file name travels with.
    for (form, code) in [
        (
            patient_form().part("report", file(&named("exe"), fixtures::exe())),
            "extension-not-allowed",
        ),
        (
            patient_form().part("report", file(&named("pdf"), fixtures::exe())),
            "content-mismatch",
        ),
        (
            patient_form().part(
                "image",
                file(
                    "scans.zip",
                    fixtures::zip_of(&[(&named("exe"), &fixtures::exe())]),
                ),
            ),
            "archive-rejected",
        ),
        (
            patient_form().part(
                "report",
                file(&named("pdf"), fixtures::pdf_of_size(8 * 1024 * 1024 + 1)),
            ),
            "file-too-large",
        ),
    ] {
        let response = submit(form).await;
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body.to_string().contains(MARKER),
            "the client is told which file: {body}"
        );
        refusals.push(code);
    }

    // A partner's upload, named in a header.
    let key = server.last_line(&[
        "partner",
        "create-key",
        "--name",
        "emb-a",
        "--org",
        "embassy-a",
    ]);
    let created: serde_json::Value = client
        .post(format!("{}/api/v1/cases", server.address))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "full_name": NAME, "email": EMAIL, "service": "records_review",
            "condition": CONDITION, "sponsor_reference": "LG-1",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case = created["case_id"].as_str().unwrap();
    let refused = client
        .put(format!(
            "{}/api/v1/cases/{case}/documents/d1",
            server.address
        ))
        .bearer_auth(&key)
        .header("Content-Type", "application/octet-stream")
        .header("X-Filename", named("exe"))
        .header("X-Category", "report")
        .body(fixtures::exe())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 415);
    refusals.push("extension-not-allowed");

    let log = server.stop();
    // The capture holds the refusals (by code), so its silence about the names means something.
    assert!(
        log.contains("Error encountered while processing the incoming HTTP request"),
        "{log}"
    );
    for code in &refusals {
        assert!(log.contains(code), "{code} is logged");
    }
    for secret in [MARKER, "HIV", NAME, EMAIL, CONDITION, "Zanzibar-Quint"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}
