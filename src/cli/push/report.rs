//! What a push reports: per case and per document, the summary, and how it is printed.

use std::time::Instant;

use indicatif::HumanBytes;
use serde::Serialize;

use super::{PlannedCase, PlannedDocument, Problem};

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

pub(super) fn checked_case(case: &PlannedCase) -> CaseReport {
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

pub(super) fn document_report(
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
pub(super) fn summarise(report: &mut Report, started: Instant) {
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

pub(super) fn print_problems(report: &Report, json: bool) {
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

pub(super) fn finish(report: &Report, json: bool) {
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
