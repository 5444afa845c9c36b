//! Repositories over sqlx, for SQLite (the embedded default) and PostgreSQL, chosen by the URL
//! scheme. Both run the same SQL (`$n` placeholders work in both); the schema differs only in types.
//! Personal data arrives here already encrypted: this layer never sees it in clear.

mod records;
mod repository;

pub use records::{CaseRecord, CaseSummary, DocumentRecord};
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
pub trait Repository: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), DbError>;

    /// Inserts a case, its documents and their audit events in one transaction.
    /// `Duplicate` when the reference is taken (the caller draws another).
    async fn create_case(
        &self,
        case: &CaseRecord,
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
