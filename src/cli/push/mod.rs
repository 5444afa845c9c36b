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
mod report;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use tokio::sync::Semaphore;

use progress::Progress;

pub use manifest::{
    Manifest, ManifestCase, ManifestDocument, PlannedCase, PlannedDocument, Problem,
    derived_document_id, idempotency_key,
};

pub use report::{CaseReport, DocumentReport, Failure, Report, Summary};
use report::{checked_case, finish, print_problems, summarise};
use transfer::Transfer;

use crate::config::Settings;

/// Bytes handed to the connection at a time (the per-file bars move by this much).
const UPLOAD_CHUNK: usize = 64 * 1024;

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

#[cfg(test)]
mod tests {
    use super::transfer::{BACKOFF_BASE, BACKOFF_CAP, backoff, percent_encode};
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
