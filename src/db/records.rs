//! Rows as stored: ids and wire names in clear, personal data as encrypted bytes.

use chrono::{DateTime, Utc};

use crate::domain::{
    CaseId, CaseStatus, ContactPreference, DocumentCategory, DocumentId, LinkId, LinkRole,
    LinkScope, Reference, ServiceTier, Sponsor,
};

/// A case row. The `*_enc` fields are sealed with `crypto::encrypt_field` under the case key.
#[derive(Clone, Debug)]
pub struct CaseRecord {
    pub id: CaseId,
    pub reference: Reference,
    pub status: CaseStatus,
    pub service: ServiceTier,
    pub contact_preference: ContactPreference,
    pub sponsor: Sponsor,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
    pub kek_id: String,
    pub wrapped_key: Vec<u8>,
    pub full_name_enc: Vec<u8>,
    pub email_enc: Vec<u8>,
    pub phone_enc: Option<Vec<u8>>,
    pub condition_enc: Vec<u8>,
    pub sponsor_reference_enc: Option<Vec<u8>>,
}

/// What a case list shows: nothing personal.
#[derive(Clone, Debug)]
pub struct CaseSummary {
    pub id: CaseId,
    pub reference: Reference,
    pub status: CaseStatus,
    pub service: ServiceTier,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
}

/// A document row. `filename_enc` is sealed under the case key.
#[derive(Clone, Debug)]
pub struct DocumentRecord {
    pub id: DocumentId,
    pub case_id: CaseId,
    pub category: DocumentCategory,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
    pub filename_enc: Vec<u8>,
    pub object_key: String,
    pub created_at: DateTime<Utc>,
    /// The archive this document was unpacked from.
    pub parent_id: Option<DocumentId>,
    /// For DICOM: its index as JSON, sealed under the case key.
    pub dicom_index_enc: Option<Vec<u8>>,
}

/// A link row. `recipient_enc` is sealed under the case key; the passcode is an Argon2id hash.
#[derive(Clone, Debug)]
pub struct LinkRecord {
    pub id: LinkId,
    pub case_id: CaseId,
    pub recipient_enc: Vec<u8>,
    pub role: LinkRole,
    pub scopes: Vec<LinkScope>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub passcode_hash: Option<String>,
    pub failed_attempts: i64,
    pub locked_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}
