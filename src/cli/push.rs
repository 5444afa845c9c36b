//! `consilium push --server URL --key KEY MANIFEST`: a partner's bulk upload.
//!
//! 1. The whole manifest is checked locally with the server's own intake code (`--dry-run` stops
//!    there); nothing is sent unless every case and file passes.
//! 2. Cases are created with an `Idempotency-Key` derived from their external reference, and
//!    documents are put to client document ids derived from their paths, `--jobs` transfers at a
//!    time, each with its SHA-256 declared. Network errors, 429 and 503 (and an upload the server
//!    says is still in progress) are retried with exponential backoff and jitter, honouring
//!    `Retry-After`.
//! 3. A second run resumes: the server answers a create it has seen with the same case, lists the
//!    documents it holds (skipped here, not sent again), and answers a repeated identical upload
//!    with the stored document. No local state is kept, so killing the client at any point is safe.
//!
//! 4. A manifest entry whose case exists with other details is refused by the server
//!    (`idempotency-conflict`, naming the case). With `--update` the case's contact details and
//!    sponsor reference are corrected to the manifest's (`PATCH /api/v1/cases/{id}`), and the fields
//!    changed are named; other details (name, condition, service) are never changed.
//!
//! Each case is shown with its reference (`SMO-…`, what the patient is told) and its case id.
//! Progress bars (overall and per file, with rate and ETA) on a terminal, plain lines otherwise;
//! a summary at the end, `--json` for a machine-readable report, and a non-zero exit when anything
//! failed (1) or the manifest did not pass its check (2).

mod manifest;
mod progress;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use indicatif::HumanBytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use progress::Progress;

pub use manifest::{
    Manifest, ManifestCase, ManifestDocument, PlannedCase, PlannedDocument, Problem,
    derived_document_id, idempotency_key,
};

use crate::config::Settings;

/// Bytes handed to the connection at a time (the per-file bars move by this much).
const UPLOAD_CHUNK: usize = 64 * 1024;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The server's base URL, e.g. https://consilium.example.org
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The partner API key (`csk_…`). Prefer the environment variable: command lines are visible
    /// to other users of the machine.
    #[arg(long, env = "CONSILIUM_PARTNER_KEY", hide_env_values = true)]
    pub key: String,
    /// The manifest (JSON; see the README, "Partners").
    pub manifest: PathBuf,
    /// Transfers in parallel.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Check the manifest and every file locally, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a machine-readable report on stdout (the summary and progress go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Retries of one request after a network error, 429, 503 or an upload in progress.
    #[arg(long, default_value_t = 8)]
    pub retries: u32,
    /// Give up on one request after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_seconds: u64,
    /// Correct the contact details and sponsor reference of cases that exist with other ones
    /// (email, phone, contact preference, sponsor reference), to the manifest's.
    #[arg(long)]
    pub update: bool,
}

/// Why something failed: the server's problem code (or `network-error`) and its words.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub detail: String,
    /// The case the problem names (an `idempotency-conflict` names the case the key created).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DocumentReport {
    pub path: String,
    pub client_document_id: String,
    pub size: u64,
    pub sha256: String,
    /// `uploaded`, `skipped` (the server had it), `failed`, or `checked` (dry run).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

#[derive(Debug, Serialize)]
pub struct CaseReport {
    pub external_reference: String,
    /// `created`, `existing` (created by an earlier run), `updated` (existing, details corrected
    /// by `--update`), `failed`, or `checked` (dry run).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The fields `--update` changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    pub documents: Vec<DocumentReport>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub cases: usize,
    pub cases_created: usize,
    pub cases_existing: usize,
    pub cases_updated: usize,
    pub cases_failed: usize,
    pub documents: usize,
    pub documents_uploaded: usize,
    pub documents_skipped: usize,
    pub documents_failed: usize,
    pub bytes_uploaded: u64,
    pub elapsed_seconds: f64,
    /// Documents uploaded per second of the run.
    pub documents_per_second: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub dry_run: bool,
    pub server: String,
    pub manifest: String,
    pub jobs: u16,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    pub cases: Vec<CaseReport>,
}

pub async fn run(settings: Settings, args: PushArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    let server = args.server.trim_end_matches('/').to_owned();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(format!(
            "--server must be an http:// or https:// URL, not `{server}`"
        ));
    }
    let manifest_path = args.manifest.clone();
    let checked = tokio::task::spawn_blocking(move || manifest::check(&manifest_path, &settings))
        .await
        .map_err(|e| format!("manifest check: {e}"))?;
    let mut report = Report {
        ok: false,
        dry_run: args.dry_run,
        server: server.clone(),
        manifest: args.manifest.display().to_string(),
        jobs: args.jobs,
        summary: Summary::default(),
        problems: Vec::new(),
        cases: Vec::new(),
    };
    let cases = match checked {
        Ok(cases) => cases,
        Err(problems) => {
            report.problems = problems;
            print_problems(&report, args.json);
            return Ok(ExitCode::from(2));
        }
    };
    if args.dry_run {
        report.cases = cases.iter().map(checked_case).collect();
        report.ok = true;
        summarise(&mut report, started);
        finish(&report, args.json);
        return Ok(ExitCode::SUCCESS);
    }

    let http = reqwest::Client::builder()
        .user_agent(concat!("consilium-push/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(args.timeout_seconds.max(1)))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let total_docs = cases.iter().map(|c| c.documents.len()).sum();
    let total_bytes = cases
        .iter()
        .flat_map(|c| &c.documents)
        .map(|d| d.size)
        .sum();
    let transfer = Arc::new(Transfer {
        http,
        server,
        key: args.key.trim().to_owned(),
        retries: args.retries,
        permits: Semaphore::new(usize::from(args.jobs)),
        jobs: usize::from(args.jobs),
        progress: Progress::new(total_docs, total_bytes, args.json),
        uploaded_bytes: AtomicU64::new(0),
        update: args.update,
    });
    report.cases = stream::iter(cases)
        .map(|case| {
            let transfer = Arc::clone(&transfer);
            async move { transfer.push_case(case).await }
        })
        .buffered(usize::from(args.jobs))
        .collect()
        .await;
    transfer.progress.finish();
    report.summary.bytes_uploaded = transfer.uploaded_bytes.load(Ordering::Relaxed);
    summarise(&mut report, started);
    report.ok = report.summary.cases_failed == 0 && report.summary.documents_failed == 0;
    finish(&report, args.json);
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn checked_case(case: &PlannedCase) -> CaseReport {
    CaseReport {
        external_reference: case.external_reference.clone(),
        status: "checked",
        case_id: None,
        reference: None,
        changed: Vec::new(),
        error: None,
        documents: case
            .documents
            .iter()
            .map(|d| document_report(d, "checked", None, None))
            .collect(),
    }
}

fn document_report(
    doc: &PlannedDocument,
    status: &'static str,
    document_id: Option<String>,
    error: Option<Failure>,
) -> DocumentReport {
    DocumentReport {
        path: doc.path.clone(),
        client_document_id: doc.client_document_id.clone(),
        size: doc.size,
        sha256: doc.sha256.clone(),
        status,
        document_id,
        error,
    }
}

#[allow(clippy::cast_precision_loss)]
fn summarise(report: &mut Report, started: Instant) {
    let s = &mut report.summary;
    s.cases = report.cases.len();
    for case in &report.cases {
        match case.status {
            "created" => s.cases_created += 1,
            "existing" => s.cases_existing += 1,
            "updated" => s.cases_updated += 1,
            "failed" => s.cases_failed += 1,
            _ => {}
        }
        for doc in &case.documents {
            s.documents += 1;
            match doc.status {
                "uploaded" => s.documents_uploaded += 1,
                "skipped" => s.documents_skipped += 1,
                "failed" => s.documents_failed += 1,
                _ => {}
            }
        }
    }
    s.elapsed_seconds = started.elapsed().as_secs_f64();
    s.documents_per_second = if s.elapsed_seconds > 0.0 {
        s.documents_uploaded as f64 / s.elapsed_seconds
    } else {
        0.0
    };
}

fn print_problems(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    }
    eprintln!(
        "The manifest did not pass its check ({} problems); nothing was sent:",
        report.problems.len()
    );
    for p in &report.problems {
        let place = match &p.path {
            Some(path) => format!("{} {path}", p.case),
            None => p.case.clone(),
        };
        eprintln!("  {place}: {} ({})", p.detail, p.code);
    }
}

fn finish(report: &Report, json: bool) {
    let s = &report.summary;
    let mut text = if report.dry_run {
        format!(
            "Checked {}: {} cases, {} documents, all acceptable; nothing was sent (--dry-run).",
            report.manifest, s.cases, s.documents
        )
    } else {
        format!(
            "Pushed {} to {}: {} cases ({} created, {} already there, {} updated, {} failed); \
             {} documents ({} uploaded, {} already there, {} failed); {} in {:.1} s \
             ({:.1} documents/s).",
            report.manifest,
            report.server,
            s.cases,
            s.cases_created,
            s.cases_existing,
            s.cases_updated,
            s.cases_failed,
            s.documents,
            s.documents_uploaded,
            s.documents_skipped,
            s.documents_failed,
            HumanBytes(s.bytes_uploaded),
            s.elapsed_seconds,
            s.documents_per_second
        )
    };
    // Each case's reference and id, for looking it up later (either names it).
    let known: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| {
            let reference = c.reference.as_deref()?;
            let id = c.case_id.as_deref()?;
            Some(format!(
                "  {}  {reference}  {id}  {}",
                c.external_reference, c.status
            ))
        })
        .collect();
    if !known.is_empty() && !report.dry_run {
        text.push_str("\nCases (external reference, reference, case id):\n");
        text.push_str(&known.join("\n"));
    }
    let failures: Vec<String> = report
        .cases
        .iter()
        .flat_map(|c| {
            let case = c
                .error
                .iter()
                .map(move |e| format!("  {}: {} ({})", c.external_reference, e.detail, e.code));
            let docs = c.documents.iter().filter_map(move |d| {
                d.error.as_ref().map(|e| {
                    format!(
                        "  {} {}: {} ({})",
                        c.external_reference, d.path, e.detail, e.code
                    )
                })
            });
            case.chain(docs)
        })
        .collect();
    if !failures.is_empty() {
        text.push_str("\nFailed:\n");
        text.push_str(&failures.join("\n"));
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

// ---- transfers --------------------------------------------------------------------------------

struct Transfer {
    http: reqwest::Client,
    server: String,
    key: String,
    retries: u32,
    /// One permit per transfer in flight (a create, a listing, or one document's upload).
    permits: Semaphore,
    jobs: usize,
    progress: Progress,
    uploaded_bytes: AtomicU64,
    /// `--update`: correct the details of cases that exist with other ones.
    update: bool,
}

/// How a case of the manifest stands on the server, with the server's answer.
enum Settled {
    Created(Value),
    Existing(Value),
    /// Existing, and these fields were corrected.
    Updated(Value, Vec<String>),
}

/// A manifest case as a correction: its fields, with the optional contact fields it leaves out
/// sent as `null` (the manifest is the truth: a phone number it no longer has is removed).
fn correction_body(case: &PlannedCase) -> Value {
    let mut body = serde_json::to_value(&case.body).unwrap_or_default();
    if let Some(fields) = body.as_object_mut() {
        for optional in ["phone", "contact_preference"] {
            fields.entry(optional).or_insert(Value::Null);
        }
    }
    body
}

fn jitter_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return 1.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

/// Exponential backoff with jitter: a random wait in [½, 1] of `base · 2^attempt`, capped.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(0.5 + 0.5 * jitter_fraction())
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(3600)))
}

fn network_failure(e: &reqwest::Error) -> Failure {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        detail = format!("{detail}: {inner}");
        source = inner.source();
    }
    Failure {
        code: "network-error".into(),
        status: None,
        detail,
        case_id: None,
    }
}

/// The problem a response carries (or its status, if it carries none).
async fn problem(response: reqwest::Response) -> Failure {
    let status = response.status();
    let body: Option<Value> = response.json().await.ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Failure {
        code: field("code").unwrap_or_else(|| format!("http-{}", status.as_u16())),
        status: Some(status.as_u16()),
        detail: field("detail")
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
        case_id: field("case_id"),
    }
}

impl Transfer {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// Sends the request `build` makes, again after network errors, 429, 502-504, and a 409 with
    /// `Retry-After` (the same request in progress), waiting with backoff and honouring
    /// `Retry-After`. The last response is returned as it is.
    async fn send(
        &self,
        what: &str,
        build: impl Fn(u32) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        let mut attempt = 0;
        loop {
            let result = build(attempt).send().await;
            let (wait, why) = match result {
                Ok(response) => {
                    let status = response.status();
                    let after = retry_after(&response);
                    let retryable = matches!(status.as_u16(), 429 | 502..=504)
                        || (status == StatusCode::CONFLICT && after.is_some());
                    if !retryable || attempt >= self.retries {
                        return Ok(response);
                    }
                    let wait = after.map_or_else(
                        || backoff(attempt),
                        // Honour the server's wait, plus a little jitter so that clients spread.
                        |after| after + Duration::from_millis(250).mul_f64(jitter_fraction()),
                    );
                    (wait, format!("HTTP {}", status.as_u16()))
                }
                Err(e) if e.is_builder() => return Err(network_failure(&e)),
                Err(e) => {
                    if attempt >= self.retries {
                        return Err(network_failure(&e));
                    }
                    (backoff(attempt), network_failure(&e).detail)
                }
            };
            self.progress.line(&format!(
                "retrying {what} in {:.1} s ({why})",
                wait.as_secs_f64()
            ));
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn push_case(&self, case: PlannedCase) -> CaseReport {
        let mut report = CaseReport {
            external_reference: case.external_reference.clone(),
            status: "failed",
            case_id: None,
            reference: None,
            changed: Vec::new(),
            error: None,
            documents: Vec::new(),
        };
        let settled = {
            let _permit = self.permits.acquire().await.expect("never closed");
            self.settle(&case).await
        };
        let (case_id, existing) = match settled {
            Ok(settled) => {
                let (body, status, said) = match settled {
                    Settled::Created(body) => (body, "created", "created".to_owned()),
                    Settled::Existing(body) => (body, "existing", "already there".to_owned()),
                    Settled::Updated(body, changed) => {
                        let said = format!("updated {}", changed.join(", "));
                        report.changed = changed;
                        (body, "updated", said)
                    }
                };
                report.status = status;
                let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
                report.reference = text("reference");
                let id = text("case_id").unwrap_or_default();
                report.case_id = Some(id.clone());
                self.progress.line(&format!(
                    "case {}: {said}: {} (case id {id})",
                    case.external_reference,
                    report.reference.as_deref().unwrap_or_default(),
                ));
                (id, status != "created")
            }
            Err(failure) => {
                report.case_id.clone_from(&failure.case_id);
                for doc in &case.documents {
                    self.progress.document_done(doc.size);
                }
                report.documents = case
                    .documents
                    .iter()
                    .map(|d| {
                        let why = Failure {
                            code: "case-not-created".into(),
                            status: None,
                            detail: format!("its case was not created: {}", failure.code),
                            case_id: None,
                        };
                        document_report(d, "failed", None, Some(why))
                    })
                    .collect();
                self.progress.line(&format!(
                    "case {} FAILED: {} ({})",
                    case.external_reference, failure.detail, failure.code
                ));
                report.error = Some(failure);
                return report;
            }
        };
        // Resuming: what the server already holds is not sent again.
        let held = if existing {
            let _permit = self.permits.acquire().await.expect("never closed");
            self.held_documents(&case_id).await
        } else {
            HashMap::new()
        };
        let held = &held;
        let case_id = &case_id;
        let reference = &case.external_reference;
        report.documents = stream::iter(case.documents.iter())
            .map(|doc| async move { self.push_document(case_id, reference, doc, held).await })
            .buffered(self.jobs)
            .collect()
            .await;
        report
    }

    /// Creates the case, or finds the one an earlier run created; with `--update`, corrects the
    /// details of one that exists with other ones.
    async fn settle(&self, case: &PlannedCase) -> Result<Settled, Failure> {
        let failure = match self.create(case).await {
            Ok((body, true)) => return Ok(Settled::Created(body)),
            Ok((body, false)) => return Ok(Settled::Existing(body)),
            Err(failure) => failure,
        };
        let Some(case_id) = failure
            .case_id
            .clone()
            .filter(|_| failure.code == "idempotency-conflict")
        else {
            return Err(failure);
        };
        if !self.update {
            return Err(Failure {
                detail: format!(
                    "the case exists (case id {case_id}) with other details than the manifest's; \
                     run again with --update to correct its contact details and sponsor reference"
                ),
                ..failure
            });
        }
        let url = self.url(&format!("/api/v1/cases/{case_id}"));
        let body = correction_body(case);
        let response = self
            .send(&format!("update {}", case.external_reference), |_| {
                self.http.patch(&url).bearer_auth(&self.key).json(&body)
            })
            .await?;
        if response.status() != StatusCode::OK {
            let mut failure = problem(response).await;
            failure.case_id = Some(case_id);
            return Err(failure);
        }
        let body: Value = response.json().await.map_err(|e| network_failure(&e))?;
        let changed: Vec<String> = body
            .get("changed")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        Ok(if changed.is_empty() {
            Settled::Existing(body)
        } else {
            Settled::Updated(body, changed)
        })
    }

    /// Creates the case (or finds the one an earlier run created): `(body, created now)`.
    async fn create(&self, case: &PlannedCase) -> Result<(Value, bool), Failure> {
        let url = self.url("/api/v1/cases");
        let response = self
            .send(&format!("create {}", case.external_reference), |_| {
                self.http
                    .post(&url)
                    .bearer_auth(&self.key)
                    .header("Idempotency-Key", &case.idempotency_key)
                    .json(&case.body)
            })
            .await?;
        let status = response.status();
        if status != StatusCode::CREATED && status != StatusCode::OK {
            return Err(problem(response).await);
        }
        let body: Value = response.json().await.map_err(|e| network_failure(&e))?;
        Ok((body, status == StatusCode::CREATED))
    }

    /// The documents the server holds for the case: client document id → SHA-256. Empty when it
    /// cannot be read (every document is then put, and the server answers for the ones it has).
    async fn held_documents(&self, case_id: &str) -> HashMap<String, (String, String)> {
        let url = self.url(&format!("/api/v1/cases/{case_id}"));
        let Ok(response) = self
            .send("read case", |_| self.http.get(&url).bearer_auth(&self.key))
            .await
        else {
            return HashMap::new();
        };
        if !response.status().is_success() {
            return HashMap::new();
        }
        let body: Value = response.json().await.unwrap_or_default();
        body.get("documents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                Some((
                    d.get("client_document_id")?.as_str()?.to_owned(),
                    (
                        d.get("sha256")?.as_str()?.to_owned(),
                        d.get("id")?.as_str()?.to_owned(),
                    ),
                ))
            })
            .collect()
    }

    async fn push_document(
        &self,
        case_id: &str,
        case_reference: &str,
        doc: &PlannedDocument,
        held: &HashMap<String, (String, String)>,
    ) -> DocumentReport {
        let label = format!("{case_reference} {}", doc.path);
        if let Some((sha256, id)) = held.get(&doc.client_document_id) {
            self.progress.document_done(doc.size);
            if *sha256 == doc.sha256 {
                self.progress
                    .line(&format!("skipped {label}: already there"));
                return document_report(doc, "skipped", Some(id.clone()), None);
            }
            let failure = Failure {
                code: "conflict".into(),
                status: None,
                detail: "the server holds different bytes under this document id (the file changed since it was sent)".into(),
                case_id: None,
            };
            self.progress
                .line(&format!("FAILED {label}: {}", failure.detail));
            return document_report(doc, "failed", None, Some(failure));
        }
        let _permit = self.permits.acquire().await.expect("never closed");
        let outcome = self.upload(case_id, doc, &label).await;
        self.progress.document_done(0);
        match outcome {
            Ok((status, id)) => {
                self.progress.line(&format!(
                    "{} {label} ({})",
                    if status == "uploaded" {
                        "uploaded"
                    } else {
                        "skipped"
                    },
                    HumanBytes(doc.size)
                ));
                document_report(doc, status, Some(id), None)
            }
            Err(failure) => {
                self.progress.line(&format!(
                    "FAILED {label}: {} ({})",
                    failure.detail, failure.code
                ));
                document_report(doc, "failed", None, Some(failure))
            }
        }
    }

    /// Puts one document: `("uploaded" | "skipped", document id)`.
    async fn upload(
        &self,
        case_id: &str,
        doc: &PlannedDocument,
        label: &str,
    ) -> Result<(&'static str, String), Failure> {
        let bytes = Bytes::from(tokio::fs::read(&doc.file).await.map_err(|e| Failure {
            code: "file-unreadable".into(),
            status: None,
            detail: format!("cannot read {}: {e}", doc.file.display()),
            case_id: None,
        })?);
        let sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
        if sha256 != doc.sha256 {
            return Err(Failure {
                code: "file-changed".into(),
                status: None,
                detail: "the file changed after the manifest was checked".into(),
                case_id: None,
            });
        }
        let url = self.url(&format!(
            "/api/v1/cases/{case_id}/documents/{}",
            doc.client_document_id
        ));
        let bar = self.progress.file_bar(label, doc.size);
        let sent = Arc::new(AtomicU64::new(0));
        let response = self
            .send(&format!("upload {label}"), |_| {
                // Each attempt starts its count again.
                self.progress.unsend(sent.swap(0, Ordering::Relaxed));
                bar.set_position(0);
                self.http
                    .put(&url)
                    .bearer_auth(&self.key)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, bytes.len())
                    .header("X-Filename", percent_encode(&doc.filename))
                    .header("X-Category", &doc.category)
                    .header("X-Content-SHA256", &doc.sha256)
                    .body(self.progress.body(&bytes, &bar, &sent))
            })
            .await;
        bar.finish_and_clear();
        let response = response?;
        let status = response.status();
        if status != StatusCode::CREATED && status != StatusCode::OK {
            self.progress.unsend(sent.swap(0, Ordering::Relaxed));
            return Err(problem(response).await);
        }
        let body: Value = response.json().await.map_err(|e| network_failure(&e))?;
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if status == StatusCode::CREATED {
            self.uploaded_bytes.fetch_add(doc.size, Ordering::Relaxed);
            Ok(("uploaded", id))
        } else {
            Ok(("skipped", id))
        }
    }
}

/// `X-Filename` travels percent-encoded (UTF-8): header values are ASCII.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b' ' | b'(' | b')') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push_str(&hex::encode_upper([b]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempt in 0..20 {
            let wait = backoff(attempt);
            let ceiling = BACKOFF_BASE
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_CAP);
            assert!(
                wait <= ceiling && wait >= ceiling / 2,
                "{attempt}: {wait:?}"
            );
        }
    }

    #[test]
    fn ids_and_keys_are_stable() {
        assert_eq!(
            derived_document_id("a/b.pdf"),
            derived_document_id("./a/b.pdf")
        );
        assert_ne!(
            derived_document_id("a/b.pdf"),
            derived_document_id("a/c.pdf")
        );
        assert_eq!(idempotency_key("EMB-1"), idempotency_key(" EMB-1 "));
        assert!(crate::services::partners::valid_idempotency_key(
            &idempotency_key("x")
        ));
    }

    #[test]
    fn file_names_are_percent_encoded() {
        assert_eq!(percent_encode("scan 1.jpg"), "scan 1.jpg");
        assert_eq!(percent_encode("é%.pdf"), "%C3%A9%25.pdf");
    }
}
