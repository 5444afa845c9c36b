//! Partner API keys in SQL: creating, revoking and looking them up.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::db::DbError;
use crate::db::repository::{Pool, SqlRepository, parse_time, parse_with};
use crate::domain::Sponsor;
use crate::domain::audit::timestamp_text;

use super::PartnerKeyRecord;

const KEY_COLUMNS: &str = "name, organisation, kind, created_at, revoked_at";

pub(super) fn key_record<R: Row>(row: &R) -> Result<PartnerKeyRecord, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database>,
{
    let text = |col: &str| -> Result<String, DbError> { Ok(row.try_get::<String, _>(col)?) };
    Ok(PartnerKeyRecord {
        name: text("name")?,
        organisation: text("organisation")?,
        kind: parse_with(&text("kind")?, "partner kind", Sponsor::parse)?,
        created_at: parse_time(&text("created_at")?)?,
        revoked_at: row
            .try_get::<Option<String>, _>("revoked_at")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
    })
}

pub(super) async fn create_partner_key(
    repo: &SqlRepository,
    key: &PartnerKeyRecord,
    key_hash: &str,
) -> Result<(), DbError> {
    with_pool!(repo, p => {
        sqlx::query(
            "INSERT INTO partner_keys (name, organisation, kind, key_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.name)
        .bind(&key.organisation)
        .bind(key.kind.as_str())
        .bind(key_hash)
        .bind(timestamp_text(key.created_at))
        .bind(key.revoked_at.map(timestamp_text))
        .execute(p)
        .await?;
    });
    Ok(())
}

pub(super) async fn revoke_partner_key(
    repo: &SqlRepository,
    name: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbError> {
    with_pool!(repo, p => {
        let updated = sqlx::query(
            "UPDATE partner_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2",
        )
        .bind(timestamp_text(at))
        .bind(name)
        .execute(p)
        .await?
        .rows_affected();
        Ok(updated == 1)
    })
}

pub(super) async fn partner_key_by_hash(
    repo: &SqlRepository,
    key_hash: &str,
) -> Result<Option<PartnerKeyRecord>, DbError> {
    with_pool!(repo, p => {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM partner_keys WHERE key_hash = $1"))
            .bind(key_hash)
            .fetch_optional(p)
            .await?;
        row.as_ref().map(key_record).transpose()
    })
}

pub(super) async fn partner_keys(repo: &SqlRepository) -> Result<Vec<PartnerKeyRecord>, DbError> {
    with_pool!(repo, p => {
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM partner_keys ORDER BY created_at, name"))
            .fetch_all(p)
            .await?;
        rows.iter().map(key_record).collect()
    })
}
