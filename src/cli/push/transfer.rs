//! The transfers of a push: creating (or correcting) cases and uploading their documents, with
//! retries, backoff and `Retry-After`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use indicatif::HumanBytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::progress::Progress;
use super::report::document_report;
use super::{CaseReport, DocumentReport, Failure, PlannedCase, PlannedDocument};

pub(super) const BACKOFF_BASE: Duration = Duration::from_millis(250);
pub(super) const BACKOFF_CAP: Duration = Duration::from_secs(30);

pub(super) struct Transfer {
    pub(super) http: reqwest::Client,
    pub(super) server: String,
    pub(super) key: String,
    pub(super) retries: u32,
    /// One permit per transfer in flight (a create, a listing, or one document's upload).
    pub(super) permits: Semaphore,
    pub(super) jobs: usize,
    pub(super) progress: Progress,
    pub(super) uploaded_bytes: AtomicU64,
    /// `--update`: correct the details of cases that exist with other ones.
    pub(super) update: bool,
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
pub(super) fn backoff(attempt: u32) -> Duration {
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

    pub(super) async fn push_case(&self, case: PlannedCase) -> CaseReport {
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
pub(super) fn percent_encode(name: &str) -> String {
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
