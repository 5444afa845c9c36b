//! Documents a partner puts to its own document ids, and reading back its cases.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{DocumentClaim, DocumentClaimRequest};
use crate::domain::{
    AuditAction, AuditEvent, AuditOutcome, CaseId, CaseStatus, DocumentCategory, DocumentId,
    ServiceTier, Sponsor,
};
use crate::intake::{Field, Filename};
use crate::services::budget::Reservation;
use crate::services::cases::document_view;
use crate::services::submit::Submission;
use crate::services::{ServiceError, Services};

use super::{OwnedCase, PartnerIdentity, owned_case};
use super::{invalid, lease, quotas, random_token, seconds_until, sha256_hex};

// ---- documents --------------------------------------------------------------------------------

/// A stored partner document, as its uploader sees it (the same body on every identical retry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartnerDocument {
    pub client_document_id: String,
    pub id: DocumentId,
    pub filename: String,
    pub category: DocumentCategory,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
    pub received_at: DateTime<Utc>,
}

/// A partner's case: its state and the documents stored under the partner's ids.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerCaseView {
    pub case_id: CaseId,
    pub reference: String,
    pub status: CaseStatus,
    pub service: ServiceTier,
    pub sponsor: Sponsor,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
    pub external_reference: Option<String>,
    pub documents: Vec<PartnerDocument>,
}

/// A partner's client document id: 1-128 of letters, digits, `.`, `_`, `-`, `:`.
pub fn valid_client_document_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

/// The upload field a partner category is checked as.
pub fn category_field(raw: &str) -> Option<(Field, DocumentCategory)> {
    match raw {
        "report" => Some((Field::Report, DocumentCategory::Report)),
        "image" => Some((Field::Image, DocumentCategory::Image)),
        "guarantee_letter" => Some((Field::GuaranteeLetter, DocumentCategory::GuaranteeLetter)),
        _ => None,
    }
}

/// One document as received by `PUT /api/v1/cases/{id}/documents/{client_document_id}`.
pub struct DocumentUpload {
    pub client_document_id: String,
    pub filename: String,
    pub category: String,
    pub declared_sha256: Option<String>,
    pub bytes: Vec<u8>,
    /// The upload budget this body holds; the submission grows it for the sealed copy.
    pub held: Reservation,
}

/// Checks what can be checked before the body is read (so a bad upload is refused early).
pub fn check_upload_headers(
    client_document_id: &str,
    filename: &str,
    category: &str,
    declared_sha256: Option<&str>,
) -> Result<(), ServiceError> {
    if !valid_client_document_id(client_document_id) {
        return Err(invalid(
            "client_document_id",
            "1-128 characters of letters, digits, . _ - :",
        ));
    }
    Filename::parse(filename)
        .map_err(|e| invalid("X-Filename", format!("file name not accepted: {e}")))?;
    if category_field(category).is_none() {
        return Err(invalid(
            "X-Category",
            "must be report, image or guarantee_letter",
        ));
    }
    if let Some(declared) = declared_sha256
        && !(declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(invalid("X-Content-SHA256", "must be 64 hexadecimal digits"));
    }
    Ok(())
}

/// Fails unless the case exists and belongs to the partner (for refusing a body before reading it).
pub async fn authorize_case(
    services: &Services,
    partner: &PartnerIdentity,
    case_id: CaseId,
    client: Option<String>,
) -> Result<(), ServiceError> {
    owned_case(services, partner, case_id, client)
        .await
        .map(|_| ())
}

/// `PUT /api/v1/cases/{id}/documents/{client_document_id}`. Returns the document and whether this
/// call stored it (`false`: the same bytes were already there).
pub async fn put_document(
    services: Arc<Services>,
    partner: &PartnerIdentity,
    case_id: CaseId,
    upload: DocumentUpload,
    client: Option<String>,
) -> Result<(PartnerDocument, bool), ServiceError> {
    check_upload_headers(
        &upload.client_document_id,
        &upload.filename,
        &upload.category,
        upload.declared_sha256.as_deref(),
    )?;
    let (field, category) = category_field(&upload.category).expect("checked above");
    let owned = owned_case(&services, partner, case_id, client.clone()).await?;
    let quotas = quotas(&services, &partner.organisation);
    if upload.bytes.len() as u64 > quotas.max_file_bytes {
        return Err(ServiceError::FileTooLarge {
            filename: upload.filename,
            limit_bytes: quotas.max_file_bytes,
        });
    }
    let DocumentUpload {
        client_document_id,
        filename,
        declared_sha256,
        bytes,
        held,
        ..
    } = upload;
    let (bytes, sha256) = tokio::task::spawn_blocking(move || {
        let sha = sha256_hex(&bytes);
        (bytes, sha)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("hash task: {e}")))?;
    if let Some(declared) = declared_sha256
        && !declared.eq_ignore_ascii_case(&sha256)
    {
        return Err(ServiceError::ChecksumMismatch {
            filename,
            declared: declared.to_ascii_lowercase(),
            actual: sha256,
        });
    }

    let token = random_token()?;
    let now = Utc::now();
    let claim = DocumentClaimRequest {
        case_id,
        client_document_id: &client_document_id,
        sha256: &sha256,
        category,
        claim_token: &token,
        now,
        lease_until: lease(&services, now),
        max_documents: i64::from(quotas.max_documents_per_case),
        max_images: i64::try_from(quotas.max_images_per_case).unwrap_or(i64::MAX),
    };
    match services.repo.claim_partner_document(&claim).await? {
        DocumentClaim::Claimed => {}
        DocumentClaim::Completed {
            sha256: held,
            document_id,
        } => {
            if held != sha256 {
                return Err(ServiceError::Conflict {
                    reason: "this document id already holds different bytes",
                    retry_after_seconds: None,
                });
            }
            return Ok((
                stored_view(&services, &owned, &client_document_id, document_id).await?,
                false,
            ));
        }
        DocumentClaim::InProgress { lease_until, .. } => {
            return Err(ServiceError::Conflict {
                reason: "an upload to this document id is in progress",
                retry_after_seconds: Some(seconds_until(lease_until, now).min(5)),
            });
        }
        DocumentClaim::NoCase => return Err(ServiceError::Forbidden),
        DocumentClaim::TooManyDocuments => {
            return Err(ServiceError::TooManyFiles {
                field: "documents",
                limit: quotas.max_documents_per_case as usize,
            });
        }
        DocumentClaim::TooManyImages => {
            return Err(ServiceError::TooManyImages {
                limit: quotas.max_images_per_case,
            });
        }
    }

    let mut submission = Submission::for_case(
        Arc::clone(&services),
        case_id,
        owned.key.clone(),
        Some(owned.case.service),
        partner.actor(),
        client,
        held,
    );
    let stored = async {
        submission.claim_slot(field)?;
        submission
            .add_file(field, category, &filename, bytes)
            .await?;
        submission.commit_additions().await
    }
    .await;
    // The file sent is listed first (an image archive's members are stored, not listed).
    let stored = match stored.map(|mut list| (!list.is_empty()).then(|| list.remove(0))) {
        Ok(Some(stored)) => stored,
        outcome => {
            submission.abort().await;
            if let Err(release) = services
                .repo
                .release_partner_document(case_id, &client_document_id, &token)
                .await
            {
                tracing::warn!(error = %release, "could not release a document claim");
            }
            return Err(outcome.err().unwrap_or_else(|| {
                ServiceError::Internal("a stored upload listed no document".into())
            }));
        }
    };
    if !services
        .repo
        .complete_partner_document(case_id, &client_document_id, &token, stored.id)
        .await?
    {
        // Only when this upload outlived its lease and another took the id over.
        tracing::error!(case_id = %case_id, document_id = %stored.id, "document claim lost after commit");
    }
    tracing::info!(case_id = %case_id, document_id = %stored.id, "partner document stored");
    Ok((
        stored_view(&services, &owned, &client_document_id, stored.id).await?,
        true,
    ))
}

async fn stored_view(
    services: &Services,
    owned: &OwnedCase,
    client_document_id: &str,
    id: DocumentId,
) -> Result<PartnerDocument, ServiceError> {
    let record = services
        .repo
        .get_document(id)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("document {id} has no row")))?;
    let view = document_view(&owned.key, &record)?;
    Ok(PartnerDocument {
        client_document_id: client_document_id.to_owned(),
        id: view.id,
        filename: view.filename,
        category: view.category,
        media_type: view.media_type,
        size: view.size,
        sha256: view.sha256,
        received_at: view.received_at,
    })
}

/// `GET /api/v1/cases/{id}` with a partner key.
pub async fn get_case(
    services: &Services,
    partner: &PartnerIdentity,
    id: CaseId,
    client: Option<String>,
) -> Result<PartnerCaseView, ServiceError> {
    let owned = owned_case(services, partner, id, client.clone()).await?;
    let mut documents = Vec::new();
    for (client_id, document) in services.repo.partner_documents(id).await? {
        documents.push(stored_view(services, &owned, &client_id, document).await?);
    }
    let created = owned.created()?;
    // Reading a case's personal data is audited; no row, no data.
    let event = AuditEvent::new(
        partner.actor(),
        AuditAction::CaseViewed,
        AuditOutcome::Success,
    )
    .case(id)
    .client(client);
    services.repo.append_audit(&event).await?;
    Ok(PartnerCaseView {
        case_id: created.case_id,
        reference: created.reference,
        status: owned.case.status,
        service: created.service,
        sponsor: created.sponsor,
        received_at: created.received_at,
        contact_by: created.contact_by,
        external_reference: created.external_reference,
        documents,
    })
}
