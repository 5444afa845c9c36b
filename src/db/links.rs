//! Links and their sessions. Every decision that must hold across replicas (uses left, lock-out,
//! revocation) is one conditional `UPDATE`, atomic in SQLite and PostgreSQL alike.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::DbError;
use super::records::LinkRecord;
use super::repository::{Pool, SqlRepository, corrupt, parse_time, parse_with};
use crate::domain::audit::{AuditRecord, chain_hash, timestamp_text};
use crate::domain::{AuditEvent, CaseId, LinkId, LinkRole, LinkScope};

#[async_trait]
pub trait LinkRepository: Send + Sync {
    /// Inserts a link and its audit event in one transaction.
    async fn create_link(&self, link: &LinkRecord, event: &AuditEvent) -> Result<(), DbError>;

    async fn get_link(&self, id: LinkId) -> Result<Option<LinkRecord>, DbError>;

    /// A case's links, oldest first.
    async fn case_links(&self, case: CaseId) -> Result<Vec<LinkRecord>, DbError>;

    /// Revokes the link (idempotent) and ends its sessions; `false` when no such link.
    async fn revoke_link(
        &self,
        id: LinkId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, DbError>;

    /// Takes one use if the link is live and has uses left; `false` otherwise.
    async fn consume_link_use(&self, id: LinkId, now: DateTime<Utc>) -> Result<bool, DbError>;

    /// Counts a passcode attempt before the passcode is checked, so that parallel guesses can
    /// never take more than `max_attempts`: one conditional `UPDATE` that takes an attempt only
    /// while the link is unlocked, unrevoked and under the limit, and locks it when the attempt
    /// taken is the last one. A right passcode gives its attempt back
    /// ([`Self::consume_link_use_with_passcode`], or [`Self::refund_passcode_attempt`]).
    async fn claim_passcode_attempt(
        &self,
        id: LinkId,
        max_attempts: i64,
        now: DateTime<Utc>,
    ) -> Result<PasscodeAttempt, DbError>;

    /// After a right passcode: gives its attempt back (lifting the lock it set) and takes one use,
    /// in one `UPDATE`, so that no attempt can be taken between the two; `false` (nothing changed)
    /// when the link is revoked, expired or out of uses.
    async fn consume_link_use_with_passcode(
        &self,
        id: LinkId,
        max_attempts: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError>;

    /// Gives back an attempt taken by [`Self::claim_passcode_attempt`] that must not count (a
    /// right passcode on a link that could not be opened after all, or a failure of ours),
    /// lifting the lock that attempt set.
    async fn refund_passcode_attempt(&self, id: LinkId, max_attempts: i64) -> Result<(), DbError>;

    async fn create_link_session(
        &self,
        token_hash: &str,
        link: LinkId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError>;

    /// The link of a live session (`token_hash` of `link`, not expired at `now`), in one query:
    /// what a request with a session needs before anything else is read.
    async fn link_of_session(
        &self,
        token_hash: &str,
        link: LinkId,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkRecord>, DbError>;
}

/// What [`LinkRepository::claim_passcode_attempt`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasscodeAttempt {
    /// An attempt was taken; `locks` when it was the last one allowed (the link is now locked,
    /// until a right passcode gives the attempt back).
    Taken { locks: bool },
    /// No attempt is left (or the link is locked, revoked or gone): the passcode is not checked.
    Refused,
}

const LINK_COLUMNS: &str = "id, case_id, recipient, role, scopes, created_by, created_at, expires_at, max_uses, uses, \
     passcode_hash, failed_attempts, locked_at, revoked_at";

fn scopes_text(scopes: &[LinkScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn link_record<R: Row>(row: &R) -> Result<LinkRecord, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database>,
{
    let text = |col: &str| -> Result<String, DbError> { Ok(row.try_get::<String, _>(col)?) };
    let maybe_time = |col: &str| -> Result<Option<DateTime<Utc>>, DbError> {
        row.try_get::<Option<String>, _>(col)?
            .as_deref()
            .map(parse_time)
            .transpose()
    };
    let scopes = text("scopes")?
        .split(',')
        .map(|s| LinkScope::parse(s).ok_or_else(|| corrupt("scope")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LinkRecord {
        id: parse_with(&text("id")?, "link id", |s| s.parse().ok())?,
        case_id: parse_with(&text("case_id")?, "case id", |s| s.parse().ok())?,
        recipient_enc: row.try_get("recipient")?,
        role: parse_with(&text("role")?, "role", LinkRole::parse)?,
        scopes,
        created_by: text("created_by")?,
        created_at: parse_time(&text("created_at")?)?,
        expires_at: parse_time(&text("expires_at")?)?,
        max_uses: row.try_get("max_uses")?,
        uses: row.try_get("uses")?,
        passcode_hash: row.try_get("passcode_hash")?,
        failed_attempts: row.try_get("failed_attempts")?,
        locked_at: maybe_time("locked_at")?,
        revoked_at: maybe_time("revoked_at")?,
    })
}

#[async_trait]
impl LinkRepository for SqlRepository {
    async fn create_link(&self, link: &LinkRecord, event: &AuditEvent) -> Result<(), DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&format!(
                "INSERT INTO links ({LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ))
            .bind(link.id.to_string())
            .bind(link.case_id.to_string())
            .bind(&link.recipient_enc)
            .bind(link.role.as_str())
            .bind(scopes_text(&link.scopes))
            .bind(&link.created_by)
            .bind(timestamp_text(link.created_at))
            .bind(timestamp_text(link.expires_at))
            .bind(link.max_uses)
            .bind(link.uses)
            .bind(&link.passcode_hash)
            .bind(link.failed_attempts)
            .bind(link.locked_at.map(timestamp_text))
            .bind(link.revoked_at.map(timestamp_text))
            .execute(&mut *tx)
            .await?;
            append_in_tx!(tx, event);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn get_link(&self, id: LinkId) -> Result<Option<LinkRecord>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM links WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(p)
                .await?;
            row.as_ref().map(link_record).transpose()
        })
    }

    async fn case_links(&self, case: CaseId) -> Result<Vec<LinkRecord>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query(&format!("SELECT {LINK_COLUMNS} FROM links WHERE case_id = $1 ORDER BY created_at, id"))
                .bind(case.to_string())
                .fetch_all(p)
                .await?;
            rows.iter().map(link_record).collect()
        })
    }

    async fn revoke_link(
        &self,
        id: LinkId,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<bool, DbError> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let updated = sqlx::query("UPDATE links SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(timestamp_text(at))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM link_sessions WHERE link_id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            append_in_tx!(tx, event);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn consume_link_use(&self, id: LinkId, now: DateTime<Utc>) -> Result<bool, DbError> {
        with_pool!(self, p => {
            let updated = sqlx::query(
                "UPDATE links SET uses = uses + 1 WHERE id = $1 AND revoked_at IS NULL AND locked_at IS NULL \
                 AND expires_at > $2 AND (max_uses IS NULL OR uses < max_uses)",
            )
            .bind(id.to_string())
            .bind(timestamp_text(now))
            .execute(p)
            .await?
            .rows_affected();
            Ok(updated == 1)
        })
    }

    async fn claim_passcode_attempt(
        &self,
        id: LinkId,
        max_attempts: i64,
        now: DateTime<Utc>,
    ) -> Result<PasscodeAttempt, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(
                "UPDATE links SET failed_attempts = failed_attempts + 1, \
                 locked_at = CASE WHEN failed_attempts + 1 >= $1 THEN $2 ELSE NULL END \
                 WHERE id = $3 AND locked_at IS NULL AND revoked_at IS NULL AND failed_attempts < $1 \
                 RETURNING failed_attempts",
            )
            .bind(max_attempts)
            .bind(timestamp_text(now))
            .bind(id.to_string())
            .fetch_optional(p)
            .await?;
            Ok(match row {
                Some(row) => PasscodeAttempt::Taken {
                    locks: row.try_get::<i64, _>("failed_attempts")? >= max_attempts,
                },
                None => PasscodeAttempt::Refused,
            })
        })
    }

    async fn consume_link_use_with_passcode(
        &self,
        id: LinkId,
        max_attempts: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        // Attempts are taken only while unlocked, so a lock with the attempts at the limit is the
        // one the attempt being given back set (no other attempt could be taken after it).
        with_pool!(self, p => {
            let updated = sqlx::query(
                "UPDATE links SET uses = uses + 1, failed_attempts = failed_attempts - 1, \
                 locked_at = CASE WHEN failed_attempts >= $1 THEN NULL ELSE locked_at END \
                 WHERE id = $2 AND revoked_at IS NULL AND expires_at > $3 AND failed_attempts > 0 \
                 AND (locked_at IS NULL OR failed_attempts >= $1) \
                 AND (max_uses IS NULL OR uses < max_uses)",
            )
            .bind(max_attempts)
            .bind(id.to_string())
            .bind(timestamp_text(now))
            .execute(p)
            .await?
            .rows_affected();
            Ok(updated == 1)
        })
    }

    async fn refund_passcode_attempt(&self, id: LinkId, max_attempts: i64) -> Result<(), DbError> {
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE links SET \
                 locked_at = CASE WHEN failed_attempts >= $1 THEN NULL ELSE locked_at END, \
                 failed_attempts = failed_attempts - 1 \
                 WHERE id = $2 AND failed_attempts > 0",
            )
            .bind(max_attempts)
            .bind(id.to_string())
            .execute(p)
            .await?;
        });
        Ok(())
    }

    async fn create_link_session(
        &self,
        token_hash: &str,
        link: LinkId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO link_sessions (token_hash, link_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                .bind(token_hash)
                .bind(link.to_string())
                .bind(timestamp_text(now))
                .bind(timestamp_text(expires_at))
                .execute(p)
                .await?;
        });
        Ok(())
    }

    async fn link_of_session(
        &self,
        token_hash: &str,
        link: LinkId,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkRecord>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(&format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE id = $2 AND EXISTS \
                 (SELECT 1 FROM link_sessions WHERE token_hash = $1 AND link_id = $2 AND expires_at > $3)"
            ))
            .bind(token_hash)
            .bind(link.to_string())
            .bind(timestamp_text(now))
            .fetch_optional(p)
            .await?;
            row.as_ref().map(link_record).transpose()
        })
    }
}
