//! Partner organisations: API keys, the cases each organisation owns, idempotent case creation and
//! documents addressed by the partner's own ids.
//!
//! Exactly-once is decided here. A create with an `Idempotency-Key`, and an upload to a client
//! document id, first *claim* their key (a row with a random claim token and a lease); the case is
//! then inserted in the same transaction that completes the claim, and a document's claim is
//! completed right after its row is committed. A claim whose holder died (server killed mid-request)
//! is taken over once its lease has run out; a document that was committed but not yet linked to
//! its claim is adopted rather than stored twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::DbError;
use super::records::CaseRecord;
use super::repository::SqlRepository;
use crate::domain::{
    AuditEvent, CaseId, CaseStatus, ContactPreference, DocumentCategory, DocumentId, Reference,
    Sponsor,
};

mod cases;
mod documents;
mod keys;

/// A partner API key as stored (the key itself is never stored, only its SHA-256).
#[derive(Clone, Debug)]
pub struct PartnerKeyRecord {
    pub name: String,
    pub organisation: String,
    /// `Embassy` or `Insurer`.
    pub kind: Sponsor,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Which organisation owns a case created through the partner API.
#[derive(Clone, Debug)]
pub struct PartnerCaseRecord {
    pub case_id: CaseId,
    pub organisation: String,
    pub key_name: String,
    /// The partner's own reference, sealed under the case key.
    pub external_reference_enc: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
}

/// An `Idempotency-Key` held while a create runs.
#[derive(Clone, Copy, Debug)]
pub struct IdempotencyRef<'a> {
    pub organisation: &'a str,
    pub key: &'a str,
    pub claim_token: &'a str,
}

/// What claiming an `Idempotency-Key` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The caller holds the key and must create the case (or release the key).
    Claimed,
    /// A case was created with this key.
    Completed {
        request_hash: String,
        case_id: CaseId,
    },
    /// Another request holds the key.
    InProgress {
        request_hash: String,
        lease_until: DateTime<Utc>,
    },
}

/// An upload about to claim `(case, client document id)`.
#[derive(Clone, Debug)]
pub struct DocumentClaimRequest<'a> {
    pub case_id: CaseId,
    pub client_document_id: &'a str,
    pub sha256: &'a str,
    pub category: DocumentCategory,
    pub claim_token: &'a str,
    pub now: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub max_documents: i64,
    pub max_images: i64,
}

/// What claiming a client document id found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentClaim {
    /// The caller holds the id and must store the document (or release the id).
    Claimed,
    /// A document is stored under this id.
    Completed {
        sha256: String,
        document_id: DocumentId,
    },
    /// Another upload to this id is running.
    InProgress {
        sha256: String,
        lease_until: DateTime<Utc>,
    },
    /// The case was not created through the partner API.
    NoCase,
    TooManyDocuments,
    TooManyImages,
}

/// The details a partner may correct, as stored (sealed under the case key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedContact {
    pub email_enc: Vec<u8>,
    pub phone_enc: Option<Vec<u8>>,
    pub contact_preference: ContactPreference,
    pub sponsor_reference_enc: Option<Vec<u8>>,
}

/// A correction, written only if the case still has the status and details it was read with.
#[derive(Clone, Debug)]
pub struct CaseCorrectionWrite<'a> {
    pub case_id: CaseId,
    pub status: CaseStatus,
    pub before: &'a SealedContact,
    pub after: &'a SealedContact,
    /// The request hash of the case as corrected: a create retried with the corrected body is
    /// then the same case again, not an `idempotency-conflict`.
    pub request_hash: &'a str,
}

/// The daily case quota a create is checked against, inside the transaction that inserts.
#[derive(Clone, Copy, Debug)]
pub struct CaseQuota {
    /// Cases the organisation may hold created after `since` (this one included).
    pub max_cases: i64,
    pub since: DateTime<Utc>,
}

/// What `create_partner_case` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartnerCaseInsert {
    Created,
    /// The idempotency claim was lost (nothing stored).
    ClaimLost,
    /// The organisation's quota is full (nothing stored); `oldest` is its oldest case in the window.
    OverQuota {
        oldest: Option<DateTime<Utc>>,
    },
}

#[async_trait]
pub trait PartnerRepository: Send + Sync {
    /// `Duplicate` when the name is taken.
    async fn create_partner_key(
        &self,
        key: &PartnerKeyRecord,
        key_hash: &str,
    ) -> Result<(), DbError>;

    /// Revokes the key (idempotent); `false` when there is no key of that name.
    async fn revoke_partner_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, DbError>;

    /// The key with this hash, revoked or not.
    async fn partner_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<PartnerKeyRecord>, DbError>;

    /// Every key, oldest first.
    async fn partner_keys(&self) -> Result<Vec<PartnerKeyRecord>, DbError>;

    /// Claims an `Idempotency-Key` for a create, or says who has it.
    async fn claim_idempotency_key(
        &self,
        claim: IdempotencyRef<'_>,
        request_hash: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, DbError>;

    /// Gives a claimed key back after a failed create.
    async fn release_idempotency_key(&self, claim: IdempotencyRef<'_>) -> Result<(), DbError>;

    /// Inserts the case, its partner row and its audit events in one transaction that also
    /// completes the idempotency claim and counts the organisation's cases against `quota`, so
    /// parallel creates cannot pass it together. `Duplicate` when the reference is taken (the
    /// caller draws another).
    async fn create_partner_case(
        &self,
        case: &CaseRecord,
        partner: &PartnerCaseRecord,
        claim: Option<IdempotencyRef<'_>>,
        quota: CaseQuota,
        events: &[AuditEvent],
    ) -> Result<PartnerCaseInsert, DbError>;

    async fn partner_case(&self, case: CaseId) -> Result<Option<PartnerCaseRecord>, DbError>;

    /// Cases the organisation created after `since`: how many, and when the oldest was.
    async fn partner_cases_since(
        &self,
        organisation: &str,
        since: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), DbError>;

    /// Claims a client document id within the per-case quotas, or says what holds it.
    async fn claim_partner_document(
        &self,
        request: &DocumentClaimRequest<'_>,
    ) -> Result<DocumentClaim, DbError>;

    /// Links a claimed id to its committed document. `false` when the claim was lost.
    async fn complete_partner_document(
        &self,
        case: CaseId,
        client_document_id: &str,
        claim_token: &str,
        document: DocumentId,
    ) -> Result<bool, DbError>;

    /// Gives a claimed id back after a failed upload (and its place in the quotas).
    async fn release_partner_document(
        &self,
        case: CaseId,
        client_document_id: &str,
        claim_token: &str,
    ) -> Result<(), DbError>;

    /// The case's stored documents by client document id: `(client id, document id)`.
    async fn partner_documents(&self, case: CaseId) -> Result<Vec<(String, DocumentId)>, DbError>;

    /// The case with this reference, if any.
    async fn case_id_by_reference(&self, reference: &Reference) -> Result<Option<CaseId>, DbError>;

    /// Writes a correction, the create's new request hash and its audit row in one transaction.
    /// `Ok(false)` (and nothing written) when the case changed since it was read.
    async fn correct_partner_case(
        &self,
        write: &CaseCorrectionWrite<'_>,
        event: &AuditEvent,
    ) -> Result<bool, DbError>;
}

#[async_trait]
impl PartnerRepository for SqlRepository {
    async fn create_partner_key(
        &self,
        key: &PartnerKeyRecord,
        key_hash: &str,
    ) -> Result<(), DbError> {
        keys::create_partner_key(self, key, key_hash).await
    }

    async fn revoke_partner_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
        keys::revoke_partner_key(self, name, at).await
    }

    async fn partner_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<PartnerKeyRecord>, DbError> {
        keys::partner_key_by_hash(self, key_hash).await
    }

    async fn partner_keys(&self) -> Result<Vec<PartnerKeyRecord>, DbError> {
        keys::partner_keys(self).await
    }

    async fn claim_idempotency_key(
        &self,
        claim: IdempotencyRef<'_>,
        request_hash: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, DbError> {
        cases::claim_idempotency_key(self, claim, request_hash, now, lease_until).await
    }

    async fn release_idempotency_key(&self, claim: IdempotencyRef<'_>) -> Result<(), DbError> {
        cases::release_idempotency_key(self, claim).await
    }

    async fn create_partner_case(
        &self,
        case: &CaseRecord,
        partner: &PartnerCaseRecord,
        claim: Option<IdempotencyRef<'_>>,
        quota: CaseQuota,
        events: &[AuditEvent],
    ) -> Result<PartnerCaseInsert, DbError> {
        cases::create_partner_case(self, case, partner, claim, quota, events).await
    }

    async fn partner_case(&self, case: CaseId) -> Result<Option<PartnerCaseRecord>, DbError> {
        cases::partner_case(self, case).await
    }

    async fn partner_cases_since(
        &self,
        organisation: &str,
        since: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
        cases::partner_cases_since(self, organisation, since).await
    }

    async fn claim_partner_document(
        &self,
        r: &DocumentClaimRequest<'_>,
    ) -> Result<DocumentClaim, DbError> {
        documents::claim_partner_document(self, r).await
    }

    async fn complete_partner_document(
        &self,
        case: CaseId,
        client_document_id: &str,
        claim_token: &str,
        document: DocumentId,
    ) -> Result<bool, DbError> {
        documents::complete_partner_document(self, case, client_document_id, claim_token, document)
            .await
    }

    async fn release_partner_document(
        &self,
        case: CaseId,
        client_document_id: &str,
        claim_token: &str,
    ) -> Result<(), DbError> {
        documents::release_partner_document(self, case, client_document_id, claim_token).await
    }

    async fn partner_documents(&self, case: CaseId) -> Result<Vec<(String, DocumentId)>, DbError> {
        documents::partner_documents(self, case).await
    }

    async fn case_id_by_reference(&self, reference: &Reference) -> Result<Option<CaseId>, DbError> {
        cases::case_id_by_reference(self, reference).await
    }

    async fn correct_partner_case(
        &self,
        w: &CaseCorrectionWrite<'_>,
        event: &AuditEvent,
    ) -> Result<bool, DbError> {
        cases::correct_partner_case(self, w, event).await
    }
}
