//! Reading cases back for administrators, with personal fields decrypted.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::submit::{document_field_context, field_context};
use super::{ServiceError, Services};
use crate::crypto::{CaseKey, decrypt_field};
use crate::db::{CaseSummary, DocumentRecord};
use crate::domain::{
    CaseId, CaseStatus, ContactPreference, DocumentCategory, DocumentId, ServiceTier, Sponsor,
};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseListItem {
    pub case_id: CaseId,
    pub reference: String,
    pub status: CaseStatus,
    pub service: ServiceTier,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<CaseListItem>,
    /// The next page number, when there is one.
    pub next_page: Option<u32>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PatientDetails {
    pub full_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub contact_preference: ContactPreference,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DocumentView {
    pub id: DocumentId,
    pub filename: String,
    pub category: DocumentCategory,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
    pub received_at: DateTime<Utc>,
    /// The archive this document was unpacked from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<DocumentId>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub case_id: CaseId,
    pub reference: String,
    pub status: CaseStatus,
    pub service: ServiceTier,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
    pub patient: PatientDetails,
    pub condition: String,
    pub sponsor: Sponsor,
    pub sponsor_reference: Option<String>,
    pub documents: Vec<DocumentView>,
}

pub const PAGE_SIZE: u32 = 50;

pub async fn list(
    services: &Services,
    status: Option<CaseStatus>,
    page: u32,
) -> Result<CaseList, ServiceError> {
    let page = page.max(1);
    let offset = i64::from(page - 1) * i64::from(PAGE_SIZE);
    // One row more than a page tells whether another page follows.
    let mut rows = services
        .repo
        .list_cases(status, i64::from(PAGE_SIZE) + 1, offset)
        .await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    Ok(CaseList {
        cases: rows.iter().map(list_item).collect(),
        next_page: more.then_some(page + 1),
    })
}

fn list_item(row: &CaseSummary) -> CaseListItem {
    CaseListItem {
        case_id: row.id,
        reference: row.reference.as_str().to_owned(),
        status: row.status,
        service: row.service,
        received_at: row.received_at,
        contact_by: row.contact_by,
    }
}

fn open_text(key: &CaseKey, context: &str, sealed: &[u8]) -> Result<String, ServiceError> {
    let bytes = decrypt_field(key, context, sealed).map_err(|_| ServiceError::Integrity)?;
    String::from_utf8(bytes).map_err(|_| ServiceError::Integrity)
}

pub fn document_view(key: &CaseKey, doc: &DocumentRecord) -> Result<DocumentView, ServiceError> {
    Ok(DocumentView {
        id: doc.id,
        filename: open_text(
            key,
            &document_field_context(doc.id, "filename"),
            &doc.filename_enc,
        )?,
        category: doc.category,
        media_type: doc.media_type.clone(),
        size: doc.size,
        sha256: doc.sha256.clone(),
        received_at: doc.created_at,
        parent_id: doc.parent_id,
    })
}

pub async fn get(services: &Services, id: CaseId) -> Result<CaseView, ServiceError> {
    let case = services
        .repo
        .get_case(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = services.case_key(id, &case.kek_id, &case.wrapped_key)?;
    let field = |column: &str, sealed: &[u8]| open_text(&key, &field_context(id, column), sealed);
    let documents = services
        .repo
        .case_documents(id)
        .await?
        .iter()
        .map(|doc| document_view(&key, doc))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CaseView {
        case_id: case.id,
        reference: case.reference.as_str().to_owned(),
        status: case.status,
        service: case.service,
        received_at: case.received_at,
        contact_by: case.contact_by,
        patient: PatientDetails {
            full_name: field("full_name", &case.full_name_enc)?,
            email: field("email", &case.email_enc)?,
            phone: case
                .phone_enc
                .as_deref()
                .map(|p| field("phone", p))
                .transpose()?,
            contact_preference: case.contact_preference,
        },
        condition: field("condition", &case.condition_enc)?,
        sponsor: case.sponsor,
        sponsor_reference: case
            .sponsor_reference_enc
            .as_deref()
            .map(|r| field("sponsor_reference", r))
            .transpose()?,
        documents,
    })
}

/// One row of a case's audit trail.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub document_id: Option<String>,
    pub link_id: Option<String>,
    pub client: Option<String>,
    pub outcome: String,
    /// What else the row says (e.g. `fields=email,phone` for `case.corrected`); never personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many repeated events this row stands for (refusals from one client aggregated over a
    /// window); absent for a single event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Hex SHA-256 chaining this row to the one before it.
    pub hash: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditTrail {
    pub events: Vec<AuditEntry>,
    /// Whether the chain verifies: every row appended up to now (verified incrementally since the
    /// service started) and each row served here against the row before it.
    pub chain_valid: bool,
    /// The `after` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<i64>,
}

/// Events served per page of a case's audit trail, by default and at most.
pub const AUDIT_PAGE_DEFAULT: u32 = 100;
pub const AUDIT_PAGE_MAX: u32 = 1000;

/// A page of a case's audit trail: its events after sequence number `after`, at most `limit`.
pub async fn audit_trail(
    services: &Services,
    id: CaseId,
    after: i64,
    limit: u32,
) -> Result<AuditTrail, ServiceError> {
    services
        .repo
        .get_case(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let limit = limit.clamp(1, AUDIT_PAGE_MAX);
    // One row more than a page tells whether another page follows.
    let mut rows = services
        .repo
        .audit_page(Some(id), after.max(0), i64::from(limit) + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let chain_valid = super::audit::chain_holds(services, &rows).await?;
    let next_after = more.then(|| rows.last().map(|r| r.seq)).flatten();
    let events = rows
        .into_iter()
        .map(|r| AuditEntry {
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            document_id: r.document_id,
            link_id: r.link_id,
            client: r.client,
            outcome: r.outcome,
            detail: r.detail,
            count: r.count,
            hash: hex::encode(r.hash),
        })
        .collect();
    Ok(AuditTrail {
        events,
        chain_valid,
        next_after,
    })
}

/// The receipt of a patient's request as it was given when the request was stored: the reference,
/// the dates and the files sent with it (not documents added later), and how the patient asked to
/// be contacted. Nothing else personal.
pub async fn receipt(
    services: &Services,
    id: CaseId,
) -> Result<(super::submit::Receipt, ContactPreference), ServiceError> {
    let case = services
        .repo
        .get_case(id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let key = services.case_key(id, &case.kek_id, &case.wrapped_key)?;
    let documents = services
        .repo
        .case_documents(id)
        .await?
        .iter()
        .filter(|doc| doc.parent_id.is_none() && doc.created_at == case.received_at)
        .map(|doc| {
            document_view(&key, doc).map(|d| super::submit::StoredDocument {
                id: d.id,
                filename: d.filename,
                category: d.category,
                media_type: d.media_type,
                size: d.size,
                sha256: d.sha256,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        super::submit::Receipt {
            reference: case.reference.as_str().to_owned(),
            case_id: case.id,
            received_at: case.received_at,
            contact_by: case.contact_by,
            documents,
        },
        case.contact_preference,
    ))
}
