//! `Repository` over SQLite or PostgreSQL. One body of SQL serves both: `with_pool!` expands each
//! method once per driver, so the two cannot drift apart.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::records::{CaseRecord, CaseSummary, DocumentRecord};
use super::{DbError, Repository};
use crate::domain::audit::{AuditRecord, chain_hash, timestamp_text};
use crate::domain::{
    AuditEvent, CaseId, CaseStatus, ContactPreference, DocumentCategory, DocumentId, Reference,
    ServiceTier, Sponsor,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub struct SqlRepository {
    pub(super) pool: Pool,
    /// Counted by `with_pool!`: see [`Repository::calls`].
    pub(super) calls: std::sync::atomic::AtomicU64,
}

impl SqlRepository {
    /// Connects by URL scheme (`sqlite://…` or `postgres://…`) and runs the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbError> {
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(parent) = options.get_filename().parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .map_err(|e| DbError::Unavailable(sqlx::Error::Io(e)))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Pool::Sqlite(pool)
        } else {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Pool::Postgres(pool)
        };
        Ok(Self {
            pool,
            calls: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

pub(super) fn corrupt(what: &str) -> DbError {
    DbError::Corrupt(what.to_owned())
}

pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, DbError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt("timestamp"))
}

pub(super) fn parse_with<T>(
    text: &str,
    what: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, DbError> {
    parse(text).ok_or_else(|| corrupt(what))
}

fn case_summary<R: Row>(row: &R) -> Result<CaseSummary, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let get = |col: &str| -> Result<String, DbError> { Ok(row.try_get::<String, _>(col)?) };
    Ok(CaseSummary {
        id: parse_with(&get("id")?, "case id", |s| s.parse().ok())?,
        reference: parse_with(&get("reference")?, "reference", Reference::parse)?,
        status: parse_with(&get("status")?, "status", CaseStatus::parse)?,
        service: parse_with(&get("service")?, "service", ServiceTier::parse)?,
        received_at: parse_time(&get("received_at")?)?,
        contact_by: parse_time(&get("contact_by")?)?,
    })
}

fn case_record<R: Row>(row: &R) -> Result<CaseRecord, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<Vec<u8>>: for<'r> sqlx::Decode<'r, R::Database>,
{
    let summary = case_summary(row)?;
    let text = |col: &str| -> Result<String, DbError> { Ok(row.try_get::<String, _>(col)?) };
    let bytes = |col: &str| -> Result<Vec<u8>, DbError> { Ok(row.try_get::<Vec<u8>, _>(col)?) };
    let maybe = |col: &str| -> Result<Option<Vec<u8>>, DbError> {
        Ok(row.try_get::<Option<Vec<u8>>, _>(col)?)
    };
    Ok(CaseRecord {
        id: summary.id,
        reference: summary.reference,
        status: summary.status,
        service: summary.service,
        received_at: summary.received_at,
        contact_by: summary.contact_by,
        contact_preference: parse_with(
            &text("contact_preference")?,
            "contact preference",
            ContactPreference::parse,
        )?,
        sponsor: parse_with(&text("sponsor")?, "sponsor", Sponsor::parse)?,
        kek_id: text("kek_id")?,
        wrapped_key: bytes("wrapped_key")?,
        full_name_enc: bytes("full_name")?,
        email_enc: bytes("email")?,
        phone_enc: maybe("phone")?,
        condition_enc: bytes("condition")?,
        sponsor_reference_enc: maybe("sponsor_reference")?,
    })
}

pub(super) fn document_record<R: Row>(row: &R) -> Result<DocumentRecord, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database>,
    Option<Vec<u8>>: for<'r> sqlx::Decode<'r, R::Database>,
{
    let text = |col: &str| -> Result<String, DbError> { Ok(row.try_get::<String, _>(col)?) };
    Ok(DocumentRecord {
        id: parse_with(&text("id")?, "document id", |s| s.parse().ok())?,
        case_id: parse_with(&text("case_id")?, "case id", |s| s.parse().ok())?,
        category: parse_with(&text("category")?, "category", DocumentCategory::parse)?,
        media_type: text("media_type")?,
        size: u64::try_from(row.try_get::<i64, _>("size")?).map_err(|_| corrupt("size"))?,
        sha256: text("sha256")?,
        filename_enc: row.try_get::<Vec<u8>, _>("filename")?,
        object_key: text("object_key")?,
        created_at: parse_time(&text("created_at")?)?,
        parent_id: row
            .try_get::<Option<String>, _>("parent_id")?
            .map(|p| parse_with(&p, "parent id", |s| s.parse().ok()))
            .transpose()?,
        dicom_index_enc: row.try_get("dicom_index")?,
    })
}

fn audit_record<R: Row>(row: &R) -> Result<AuditRecord, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        case_id: row.try_get("case_id")?,
        document_id: row.try_get("document_id")?,
        link_id: row.try_get("link_id")?,
        client: row.try_get("client")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        count: row.try_get("count")?,
        hash: row.try_get("hash")?,
    })
}

const CASE_COLUMNS: &str = "id, reference, status, service, contact_preference, sponsor, received_at, contact_by, \
     kek_id, wrapped_key, full_name, email, phone, condition, sponsor_reference";
const DOCUMENT_COLUMNS: &str = "id, case_id, category, media_type, size, sha256, filename, object_key, created_at, parent_id, dicom_index";
const AUDIT_COLUMNS: &str =
    "seq, at, actor, action, case_id, document_id, link_id, client, outcome, hash, detail, count";

#[async_trait]
impl Repository for SqlRepository {
    async fn ping(&self) -> Result<(), DbError> {
        with_pool!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn create_case(
        &self,
        case: &CaseRecord,
        documents: &[DocumentRecord],
        events: &[AuditEvent],
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            insert_case!(tx, case);
            for doc in documents {
                insert_document!(tx, doc);
            }
            for event in events {
                append_in_tx!(tx, event);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn add_documents(
        &self,
        documents: &[DocumentRecord],
        events: &[AuditEvent],
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            for doc in documents {
                insert_document!(tx, doc);
            }
            for event in events {
                append_in_tx!(tx, event);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn list_cases(
        &self,
        status: Option<CaseStatus>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<CaseSummary>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query(
                "SELECT id, reference, status, service, received_at, contact_by FROM cases \
                 WHERE ($1 IS NULL OR status = $1) ORDER BY received_at DESC, id DESC LIMIT $2 OFFSET $3",
            )
            .bind(status.map(CaseStatus::as_str))
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await?;
            rows.iter().map(case_summary).collect()
        })
    }

    async fn get_case(&self, id: CaseId) -> Result<Option<CaseRecord>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(p)
                .await?;
            row.as_ref().map(case_record).transpose()
        })
    }

    async fn case_documents(&self, id: CaseId) -> Result<Vec<DocumentRecord>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query(&format!(
                "SELECT {DOCUMENT_COLUMNS} FROM documents WHERE case_id = $1 ORDER BY created_at, id"
            ))
            .bind(id.to_string())
            .fetch_all(p)
            .await?;
            rows.iter().map(document_record).collect()
        })
    }

    async fn get_document(&self, id: DocumentId) -> Result<Option<DocumentRecord>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(&format!("SELECT {DOCUMENT_COLUMNS} FROM documents WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(p)
                .await?;
            row.as_ref().map(document_record).transpose()
        })
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<(), DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            append_in_tx!(tx, event);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn audit_records(&self, case: Option<CaseId>) -> Result<Vec<AuditRecord>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR case_id = $1) ORDER BY seq"
            ))
            .bind(case.map(|c| c.to_string()))
            .fetch_all(p)
            .await?;
            rows.iter().map(audit_record).collect()
        })
    }

    async fn audit_page(
        &self,
        case: Option<CaseId>,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE ($1 IS NULL OR case_id = $1) AND seq > $2 \
                 ORDER BY seq LIMIT $3"
            ))
            .bind(case.map(|c| c.to_string()))
            .bind(after_seq)
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.iter().map(audit_record).collect()
        })
    }

    async fn audit_rows(&self, seqs: &[i64]) -> Result<Vec<AuditRecord>, DbError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = (1..=seqs.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE seq IN ({placeholders}) ORDER BY seq"
        );
        with_pool!(self, p => {
            let mut query = sqlx::query(&sql);
            for seq in seqs {
                query = query.bind(*seq);
            }
            let rows = query.fetch_all(p).await?;
            rows.iter().map(audit_record).collect()
        })
    }

    async fn create_admin_token(&self, name: &str, token_hash: &str) -> Result<(), DbError> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO admin_tokens (name, token_hash, created_at) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(token_hash)
                .bind(timestamp_text(Utc::now()))
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn admin_token_name(&self, token_hash: &str) -> Result<Option<String>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query("SELECT name FROM admin_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(p)
                .await?;
            Ok(row.map(|r| r.try_get::<String, _>("name")).transpose()?)
        })
    }

    async fn wrapped_case_keys(&self) -> Result<Vec<(CaseId, String, Vec<u8>)>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query("SELECT id, kek_id, wrapped_key FROM cases ORDER BY id")
                .fetch_all(p)
                .await?;
            rows.iter()
                .map(|r| {
                    let id: String = r.try_get("id")?;
                    Ok((
                        parse_with(&id, "case id", |s| s.parse().ok())?,
                        r.try_get("kek_id")?,
                        r.try_get("wrapped_key")?,
                    ))
                })
                .collect()
        })
    }

    async fn update_case_key(
        &self,
        id: CaseId,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
            sqlx::query("UPDATE cases SET kek_id = $1, wrapped_key = $2 WHERE id = $3")
                .bind(kek_id)
                .bind(wrapped)
                .bind(id.to_string())
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn counts(&self) -> Result<(i64, i64), DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM cases) AS cases, (SELECT COUNT(*) FROM documents) AS documents",
            )
            .fetch_one(p)
            .await?;
            Ok((row.try_get("cases")?, row.try_get("documents")?))
        })
    }
}
