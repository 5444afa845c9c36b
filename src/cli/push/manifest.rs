//! The push manifest (JSON) and the local check of everything it names, with the server's own
//! intake code, before anything is sent.
//!
//! ```json
//! {"cases": [{"external_reference": "EMB-2026-0001", "full_name": "…", "email": "…",
//!             "service": "records_review", "condition": "…", "sponsor_reference": "LG-1",
//!             "documents": [{"path": "emb-2026-0001/referral.pdf", "category": "report"},
//!                           {"path": "emb-2026-0001/scan.jpg", "category": "image", "id": "scan-1"}]}]}
//! ```
//! Paths are relative to the manifest's folder. A document's `id` (its client document id) defaults
//! to one derived from its path, so the same manifest always addresses the same ids; each case's
//! `Idempotency-Key` is derived from its `external_reference`. That is what makes a second run
//! resume instead of duplicating.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use ring::digest;
use serde::Deserialize;

use crate::config::Settings;
use crate::domain::{ServiceTier, Sponsor};
use crate::intake::{self, ArchiveLimits, Filename, Policy};
use crate::services::ServiceError;
use crate::services::partners::{NewCase, category_field, valid_client_document_id};
use crate::services::submit::intake_error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub cases: Vec<ManifestCase>,
}

/// One case: the fields of `POST /api/v1/cases`, and its documents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestCase {
    /// Required here: it identifies the case across runs.
    pub external_reference: String,
    pub full_name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub contact_preference: Option<String>,
    pub service: String,
    pub condition: String,
    #[serde(default)]
    pub sponsor: Option<String>,
    pub sponsor_reference: String,
    #[serde(default)]
    pub documents: Vec<ManifestDocument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDocument {
    pub path: String,
    /// `report`, `image` or `guarantee_letter`.
    pub category: String,
    /// The client document id; default: derived from `path`.
    #[serde(default)]
    pub id: Option<String>,
}

/// A case that passed the local check.
#[derive(Debug, Clone)]
pub struct PlannedCase {
    pub external_reference: String,
    pub idempotency_key: String,
    pub body: NewCase,
    pub documents: Vec<PlannedDocument>,
}

/// A document that passed the local check.
#[derive(Debug, Clone)]
pub struct PlannedDocument {
    /// As written in the manifest.
    pub path: String,
    pub file: PathBuf,
    pub client_document_id: String,
    pub filename: String,
    pub category: String,
    pub size: u64,
    pub sha256: String,
}

/// Something the local check refused.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub case: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub code: String,
    pub detail: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// The `Idempotency-Key` of a case: from its external reference only, so that a corrected field
/// is refused as `idempotency-conflict` (naming the case, which `--update` then corrects) instead of
/// creating a second case.
pub fn idempotency_key(external_reference: &str) -> String {
    format!(
        "push-{}",
        &sha256_hex(external_reference.trim().as_bytes())[..40]
    )
}

/// The client document id of a document without one: stable for the same path.
pub fn derived_document_id(path: &str) -> String {
    let normalised = path.trim().replace('\\', "/");
    let normalised = normalised.trim_start_matches("./");
    format!("p-{}", &sha256_hex(normalised.as_bytes())[..24])
}

/// The rules the server applies, from the same configuration layers.
pub fn policy(settings: &Settings, allow_dicom: bool) -> Policy {
    let i = &settings.intake;
    Policy {
        max_file_bytes: i.max_file_bytes.min(settings.partners.max_file_bytes),
        allow_dicom,
        max_pixels: i.max_pixels,
        max_dicom_voxels: i.max_dicom_voxels,
        archive: ArchiveLimits {
            max_entries: i.archive_max_entries,
            max_total_inflated: i.archive_max_inflated_bytes,
            max_ratio: i.archive_max_ratio,
            max_depth: i.archive_max_depth,
        },
    }
}

fn refusal(case: &str, path: Option<&str>, error: &ServiceError) -> Problem {
    let detail = match error {
        ServiceError::InvalidField { field, message } => format!("`{field}`: {message}"),
        ServiceError::ContentMismatch { detected, .. } => format!("{error} (found: {detected})"),
        ServiceError::ExtensionNotAllowed { allowed, .. } => {
            format!("{error}: accepted are {}", allowed.join(", "))
        }
        other => other.to_string(),
    };
    Problem {
        case: case.to_owned(),
        path: path.map(str::to_owned),
        code: error.code().as_str().to_owned(),
        detail,
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Reads the manifest and checks every case and every file in it, as the server would. Either
/// every case is ready to send, or every problem found is returned.
pub fn check(manifest_path: &Path, settings: &Settings) -> Result<Vec<PlannedCase>, Vec<Problem>> {
    let whole = |detail: String| {
        vec![Problem {
            case: String::new(),
            path: None,
            code: "malformed-request".into(),
            detail,
        }]
    };
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| whole(format!("cannot read {}: {e}", manifest_path.display())))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        whole(format!(
            "{} is not a valid manifest: {e}",
            manifest_path.display()
        ))
    })?;
    let base = manifest_path.parent().unwrap_or_else(|| Path::new("."));
    let max_images = settings.intake.max_images;
    let max_documents = settings.partners.max_documents_per_case as usize;

    let mut problems = Vec::new();
    let mut planned = Vec::new();
    let mut references = HashSet::new();
    for (index, case) in manifest.cases.into_iter().enumerate() {
        let label = if case.external_reference.trim().is_empty() {
            format!("case #{}", index + 1)
        } else {
            case.external_reference.trim().to_owned()
        };
        let body = NewCase {
            full_name: case.full_name,
            email: case.email,
            phone: case.phone,
            contact_preference: case.contact_preference,
            service: case.service,
            condition: case.condition,
            sponsor: case.sponsor,
            sponsor_reference: case.sponsor_reference,
            external_reference: Some(case.external_reference.trim().to_owned()),
        };
        if case.external_reference.trim().is_empty() {
            problems.push(refusal(
                &label,
                None,
                &invalid("external_reference", "required in a manifest"),
            ));
        } else if !references.insert(case.external_reference.trim().to_owned()) {
            problems.push(refusal(
                &label,
                None,
                &invalid("external_reference", "appears twice in the manifest"),
            ));
        }
        // The sponsor defaults to the key's kind on the server; any valid kind checks the rest.
        let tier = match body.validate(Sponsor::Embassy) {
            Ok(valid) => Some(valid.service),
            Err(e) => {
                problems.push(refusal(&label, None, &e));
                ServiceTier::parse(body.service.trim())
            }
        };
        if case.documents.len() > max_documents {
            problems.push(refusal(
                &label,
                None,
                &ServiceError::TooManyFiles {
                    field: "documents",
                    limit: max_documents,
                },
            ));
        }
        let images = case
            .documents
            .iter()
            .filter(|d| d.category == "image")
            .count();
        if images > max_images {
            problems.push(refusal(
                &label,
                None,
                &ServiceError::TooManyImages { limit: max_images },
            ));
        }
        let allow_dicom = tier.is_none_or(ServiceTier::allows_dicom);
        let mut ids = HashSet::new();
        let mut documents = Vec::new();
        for doc in case.documents {
            let id = doc
                .id
                .clone()
                .unwrap_or_else(|| derived_document_id(&doc.path));
            if !valid_client_document_id(&id) {
                problems.push(refusal(
                    &label,
                    Some(&doc.path),
                    &invalid("id", "1-128 characters of letters, digits, . _ - :"),
                ));
                continue;
            }
            if !ids.insert(id.clone()) {
                problems.push(refusal(
                    &label,
                    Some(&doc.path),
                    &invalid("id", "two documents of the case have the same id"),
                ));
                continue;
            }
            match check_document(base, &doc, settings, allow_dicom) {
                Ok((file, filename, size, sha256)) => documents.push(PlannedDocument {
                    path: doc.path,
                    file,
                    client_document_id: id,
                    filename,
                    category: doc.category,
                    size,
                    sha256,
                }),
                Err(e) => problems.push(refusal(&label, Some(&doc.path), &e)),
            }
        }
        planned.push(PlannedCase {
            idempotency_key: idempotency_key(&label),
            external_reference: label,
            body,
            documents,
        });
    }
    if problems.is_empty() {
        Ok(planned)
    } else {
        Err(problems)
    }
}

/// One file: its path, name, size and SHA-256, once the intake rules accept it.
fn check_document(
    base: &Path,
    doc: &ManifestDocument,
    settings: &Settings,
    allow_dicom: bool,
) -> Result<(PathBuf, String, u64, String), ServiceError> {
    let (field, _) = category_field(&doc.category)
        .ok_or_else(|| invalid("category", "must be report, image or guarantee_letter"))?;
    let file = base.join(&doc.path);
    let raw_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| invalid("path", "names no file"))?;
    let filename = Filename::parse(&raw_name)
        .map_err(|e| invalid("path", format!("file name not accepted: {e}")))?;
    let policy = policy(settings, allow_dicom && field == intake::Field::Image);
    let size = std::fs::metadata(&file)
        .map_err(|e| invalid("path", format!("cannot read {}: {e}", file.display())))?
        .len();
    if size > policy.max_file_bytes {
        return Err(ServiceError::FileTooLarge {
            filename: raw_name,
            limit_bytes: policy.max_file_bytes,
        });
    }
    let bytes = std::fs::read(&file)
        .map_err(|e| invalid("path", format!("cannot read {}: {e}", file.display())))?;
    intake::inspect(field, &filename, &bytes, &policy).map_err(|e| intake_error(&filename, e))?;
    Ok((
        file,
        filename.as_str().to_owned(),
        bytes.len() as u64,
        sha256_hex(&bytes),
    ))
}
