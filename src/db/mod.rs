//! Repositories over sqlx, for SQLite (the embedded default) and PostgreSQL, chosen by the URL
//! scheme. Both run the same SQL (`$n` placeholders work in both); the schema differs only in types.
//! Personal data arrives here already encrypted: this layer never sees it in clear.

/// Runs `$body` with `$p` bound to whichever pool this repository holds.
macro_rules! with_pool {
    ($self:ident, $p:ident => $body:expr) => {{
        $self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &$self.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    }};
}

/// Appends one audit event inside an open transaction. The head row is updated first, which takes
/// its lock before anything is read: concurrent appends queue up and the chain stays linear.
macro_rules! append_in_tx {
    ($tx:expr, $event:expr) => {{
        let event: &AuditEvent = $event;
        let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, last_hash")
            .fetch_one(&mut *$tx)
            .await?;
        let seq: i64 = head.try_get("seq")?;
        let previous: Vec<u8> = head.try_get("last_hash")?;
        let mut record = AuditRecord {
            seq,
            at: timestamp_text(event.at),
            actor: event.actor.to_wire(),
            action: event.action.as_str().to_owned(),
            case_id: event.case_id.map(|c| c.to_string()),
            document_id: event.document_id.map(|d| d.to_string()),
            link_id: event.link_id.clone(),
            client: event.client.clone(),
            outcome: event.outcome.as_str().to_owned(),
            detail: event.detail.clone(),
            count: event.count.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
            hash: Vec::new(),
        };
        record.hash = chain_hash(&previous, &record);
        sqlx::query(
            "INSERT INTO audit_events (seq, at, actor, action, case_id, document_id, link_id, client, outcome, hash, detail, count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(record.seq)
        .bind(&record.at)
        .bind(&record.actor)
        .bind(&record.action)
        .bind(&record.case_id)
        .bind(&record.document_id)
        .bind(&record.link_id)
        .bind(&record.client)
        .bind(&record.outcome)
        .bind(&record.hash)
        .bind(&record.detail)
        .bind(record.count)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
            .bind(&record.hash)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Inserts one case row inside an open transaction (patient requests and partner cases alike).
macro_rules! insert_case {
    ($tx:expr, $case:expr) => {{
        let case: &CaseRecord = $case;
        sqlx::query(
            "INSERT INTO cases (id, reference, status, service, contact_preference, sponsor, received_at, \
             contact_by, kek_id, wrapped_key, full_name, email, phone, condition, sponsor_reference) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(case.id.to_string())
        .bind(case.reference.as_str())
        .bind(case.status.as_str())
        .bind(case.service.as_str())
        .bind(case.contact_preference.as_str())
        .bind(case.sponsor.as_str())
        .bind(timestamp_text(case.received_at))
        .bind(timestamp_text(case.contact_by))
        .bind(&case.kek_id)
        .bind(&case.wrapped_key)
        .bind(&case.full_name_enc)
        .bind(&case.email_enc)
        .bind(&case.phone_enc)
        .bind(&case.condition_enc)
        .bind(&case.sponsor_reference_enc)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Inserts one document row inside an open transaction.
macro_rules! insert_document {
    ($tx:expr, $doc:expr) => {{
        let doc: &DocumentRecord = $doc;
        sqlx::query(&format!(
            "INSERT INTO documents ({DOCUMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(doc.id.to_string())
        .bind(doc.case_id.to_string())
        .bind(doc.category.as_str())
        .bind(&doc.media_type)
        .bind(i64::try_from(doc.size).map_err(|_| corrupt("size"))?)
        .bind(&doc.sha256)
        .bind(&doc.filename_enc)
        .bind(&doc.object_key)
        .bind(timestamp_text(doc.created_at))
        .bind(doc.parent_id.map(|p| p.to_string()))
        .bind(&doc.dicom_index_enc)
        .execute(&mut *$tx)
        .await?;
    }};
}

mod links;
mod partners;
mod records;
mod repository;

pub use links::{LinkRepository, PasscodeAttempt};
pub use partners::{
    CaseCorrectionWrite, CaseQuota, DocumentClaim, DocumentClaimRequest, IdempotencyClaim,
    IdempotencyRef, PartnerCaseInsert, PartnerCaseRecord, PartnerKeyRecord, PartnerRepository,
    SealedContact,
};
pub use records::{CaseRecord, CaseSummary, DocumentRecord, LinkRecord};
pub use repository::SqlRepository;

use async_trait::async_trait;

use crate::domain::audit::AuditRecord;
use crate::domain::{AuditEvent, CaseId, CaseStatus, DocumentId};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unreachable or failed: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("a row with the same unique value exists")]
    Duplicate,
    #[error("stored row does not parse: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate,
            _ => Self::Unavailable(e),
        }
    }
}

/// Everything the service stores in SQL.
#[async_trait]
pub trait Repository: LinkRepository + PartnerRepository + Send + Sync + 'static {
    async fn ping(&self) -> Result<(), DbError>;

    /// Calls made to the database so far (each one statement, or one transaction), for tests
    /// that hold a request to its number of round trips.
    fn calls(&self) -> u64;

    /// Inserts a case, its documents and their audit events in one transaction.
    /// `Duplicate` when the reference is taken (the caller draws another).
    async fn create_case(
        &self,
        case: &CaseRecord,
        documents: &[DocumentRecord],
        events: &[AuditEvent],
    ) -> Result<(), DbError>;

    /// Adds documents (and their audit events) to an existing case in one transaction.
    async fn add_documents(
        &self,
        documents: &[DocumentRecord],
        events: &[AuditEvent],
    ) -> Result<(), DbError>;

    /// Newest first.
    async fn list_cases(
        &self,
        status: Option<CaseStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CaseSummary>, DbError>;

    async fn get_case(&self, id: CaseId) -> Result<Option<CaseRecord>, DbError>;

    async fn case_documents(&self, id: CaseId) -> Result<Vec<DocumentRecord>, DbError>;

    async fn get_document(&self, id: DocumentId) -> Result<Option<DocumentRecord>, DbError>;

    /// Appends one event to the hash chain.
    async fn append_audit(&self, event: &AuditEvent) -> Result<(), DbError>;

    /// Audit rows in chain order: all of them, or one case's.
    async fn audit_records(&self, case: Option<CaseId>) -> Result<Vec<AuditRecord>, DbError>;

    /// At most `limit` audit rows after `after_seq` in chain order: all cases', or one case's.
    async fn audit_page(
        &self,
        case: Option<CaseId>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, DbError>;

    /// The audit rows with these sequence numbers (those that exist), in chain order.
    async fn audit_rows(&self, seqs: &[i64]) -> Result<Vec<AuditRecord>, DbError>;

    /// `Duplicate` when the name is taken.
    async fn create_admin_token(&self, name: &str, token_hash: &str) -> Result<(), DbError>;

    /// The token's name, when a token with this hash exists.
    async fn admin_token_name(&self, token_hash: &str) -> Result<Option<String>, DbError>;

    /// Every case's wrapped key: `(case, kek id, wrapped bytes)`.
    async fn wrapped_case_keys(&self) -> Result<Vec<(CaseId, String, Vec<u8>)>, DbError>;

    /// Replaces a case's wrapped key (key rotation).
    async fn update_case_key(
        &self,
        id: CaseId,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<(), DbError>;

    /// Counts rows in the case and document tables (for tests and metrics).
    async fn counts(&self) -> Result<(i64, i64), DbError>;
}
