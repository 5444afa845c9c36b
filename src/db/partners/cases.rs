//! Partner cases in SQL: idempotency claims, the create that completes one, the quota count and
//! corrections.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::db::DbError;
use crate::db::records::CaseRecord;
use crate::db::repository::{Pool, SqlRepository, parse_time, parse_with};
use crate::domain::audit::{AuditRecord, chain_hash, timestamp_text};
use crate::domain::{AuditEvent, CaseId, Reference};

use super::{
    CaseCorrectionWrite, CaseQuota, IdempotencyClaim, IdempotencyRef, PartnerCaseInsert,
    PartnerCaseRecord,
};

const PARTNER_CASE_COLUMNS: &str =
    "case_id, organisation, key_name, external_reference, created_at";

pub(super) fn partner_case_record<R: Row>(row: &R) -> Result<PartnerCaseRecord, DbError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<Vec<u8>>: for<'r> sqlx::Decode<'r, R::Database>,
    Vec<u8>: sqlx::Type<R::Database>,
{
    let text = |col: &str| -> Result<String, DbError> { Ok(row.try_get::<String, _>(col)?) };
    Ok(PartnerCaseRecord {
        case_id: parse_with(&text("case_id")?, "case id", |s| s.parse().ok())?,
        organisation: text("organisation")?,
        key_name: text("key_name")?,
        external_reference_enc: row.try_get::<Option<Vec<u8>>, _>("external_reference")?,
        created_at: parse_time(&text("created_at")?)?,
    })
}

pub(super) async fn claim_idempotency_key(
    repo: &SqlRepository,
    claim: IdempotencyRef<'_>,
    request_hash: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<IdempotencyClaim, DbError> {
    with_pool!(repo, p => {
        // Each statement is atomic on its own; a lost race is simply read again.
        for _ in 0..5 {
            let inserted = sqlx::query(
                "INSERT INTO partner_idempotency (organisation, idempotency_key, request_hash, case_id, \
                 claim_token, lease_until, created_at) VALUES ($1, $2, $3, NULL, $4, $5, $6) \
                 ON CONFLICT (organisation, idempotency_key) DO NOTHING",
            )
            .bind(claim.organisation)
            .bind(claim.key)
            .bind(request_hash)
            .bind(claim.claim_token)
            .bind(timestamp_text(lease_until))
            .bind(timestamp_text(now))
            .execute(p)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(IdempotencyClaim::Claimed);
            }
            let Some(row) = sqlx::query(
                "SELECT request_hash, case_id, lease_until FROM partner_idempotency \
                 WHERE organisation = $1 AND idempotency_key = $2",
            )
            .bind(claim.organisation)
            .bind(claim.key)
            .fetch_optional(p)
            .await?
            else {
                continue; // released in between: insert again
            };
            let held_hash: String = row.try_get("request_hash")?;
            let lease_text: String = row.try_get("lease_until")?;
            if let Some(case) = row.try_get::<Option<String>, _>("case_id")? {
                return Ok(IdempotencyClaim::Completed {
                    request_hash: held_hash,
                    case_id: parse_with(&case, "case id", |s| s.parse().ok())?,
                });
            }
            let lease = parse_time(&lease_text)?;
            if lease > now {
                return Ok(IdempotencyClaim::InProgress {
                    request_hash: held_hash,
                    lease_until: lease,
                });
            }
            // The holder died mid-create (its transaction never committed): take the key over.
            let taken = sqlx::query(
                "UPDATE partner_idempotency SET request_hash = $1, claim_token = $2, lease_until = $3 \
                 WHERE organisation = $4 AND idempotency_key = $5 AND case_id IS NULL AND lease_until = $6",
            )
            .bind(request_hash)
            .bind(claim.claim_token)
            .bind(timestamp_text(lease_until))
            .bind(claim.organisation)
            .bind(claim.key)
            .bind(&lease_text)
            .execute(p)
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(IdempotencyClaim::Claimed);
            }
        }
        Err(DbError::Corrupt("idempotency key kept changing".into()))
    })
}

pub(super) async fn release_idempotency_key(
    repo: &SqlRepository,
    claim: IdempotencyRef<'_>,
) -> Result<(), DbError> {
    with_pool!(repo, p => {
        sqlx::query(
            "DELETE FROM partner_idempotency WHERE organisation = $1 AND idempotency_key = $2 \
             AND claim_token = $3 AND case_id IS NULL",
        )
        .bind(claim.organisation)
        .bind(claim.key)
        .bind(claim.claim_token)
        .execute(p)
        .await?;
    });
    Ok(())
}

pub(super) async fn create_partner_case(
    repo: &SqlRepository,
    case: &CaseRecord,
    partner: &PartnerCaseRecord,
    claim: Option<IdempotencyRef<'_>>,
    quota: CaseQuota,
    events: &[AuditEvent],
) -> Result<PartnerCaseInsert, DbError> {
    let postgres = matches!(repo.pool, Pool::Postgres(_));
    with_pool!(repo, p => {
        let mut tx = p.begin().await?;
        // Creates for one organisation queue here until this transaction ends, so the count
        // below sees every case committed before it. PostgreSQL: a transaction-scoped advisory
        // lock on the organisation. SQLite: the insert below takes the database's write lock,
        // held to the end of the transaction (a deferred transaction whose first statement is
        // a write reads nothing older than that lock).
        if postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7311))")
                .bind(&partner.organisation)
                .execute(&mut *tx)
                .await?;
        }
        insert_case!(tx, case);
        sqlx::query(&format!(
            "INSERT INTO partner_cases ({PARTNER_CASE_COLUMNS}, documents, images) VALUES ($1, $2, $3, $4, $5, 0, 0)"
        ))
        .bind(partner.case_id.to_string())
        .bind(&partner.organisation)
        .bind(&partner.key_name)
        .bind(&partner.external_reference_enc)
        .bind(timestamp_text(partner.created_at))
        .execute(&mut *tx)
        .await?;
        if let Some(claim) = claim {
            let completed = sqlx::query(
                "UPDATE partner_idempotency SET case_id = $1 WHERE organisation = $2 AND idempotency_key = $3 \
                 AND claim_token = $4 AND case_id IS NULL",
            )
            .bind(case.id.to_string())
            .bind(claim.organisation)
            .bind(claim.key)
            .bind(claim.claim_token)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if completed != 1 {
                tx.rollback().await?;
                return Ok(PartnerCaseInsert::ClaimLost);
            }
        }
        let counted = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM partner_cases \
             WHERE organisation = $1 AND created_at > $2",
        )
        .bind(&partner.organisation)
        .bind(timestamp_text(quota.since))
        .fetch_one(&mut *tx)
        .await?;
        let held: i64 = counted.try_get("n")?;
        if held > quota.max_cases {
            let oldest = counted
                .try_get::<Option<String>, _>("oldest")?
                .as_deref()
                .map(parse_time)
                .transpose()?;
            tx.rollback().await?;
            return Ok(PartnerCaseInsert::OverQuota { oldest });
        }
        for event in events {
            append_in_tx!(tx, event);
        }
        tx.commit().await?;
        Ok(PartnerCaseInsert::Created)
    })
}

pub(super) async fn partner_case(
    repo: &SqlRepository,
    case: CaseId,
) -> Result<Option<PartnerCaseRecord>, DbError> {
    with_pool!(repo, p => {
        let row = sqlx::query(&format!("SELECT {PARTNER_CASE_COLUMNS} FROM partner_cases WHERE case_id = $1"))
            .bind(case.to_string())
            .fetch_optional(p)
            .await?;
        row.as_ref().map(partner_case_record).transpose()
    })
}

pub(super) async fn partner_cases_since(
    repo: &SqlRepository,
    organisation: &str,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
    with_pool!(repo, p => {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM partner_cases \
             WHERE organisation = $1 AND created_at > $2",
        )
        .bind(organisation)
        .bind(timestamp_text(since))
        .fetch_one(p)
        .await?;
        let oldest = row
            .try_get::<Option<String>, _>("oldest")?
            .as_deref()
            .map(parse_time)
            .transpose()?;
        Ok((row.try_get("n")?, oldest))
    })
}

pub(super) async fn case_id_by_reference(
    repo: &SqlRepository,
    reference: &Reference,
) -> Result<Option<CaseId>, DbError> {
    with_pool!(repo, p => {
        let row = sqlx::query("SELECT id FROM cases WHERE reference = $1")
            .bind(reference.as_str())
            .fetch_optional(p)
            .await?;
        row.map(|row| {
            let id: String = row.try_get("id")?;
            parse_with(&id, "case id", |s| s.parse().ok())
        })
        .transpose()
    })
}

pub(super) async fn correct_partner_case(
    repo: &SqlRepository,
    w: &CaseCorrectionWrite<'_>,
    event: &AuditEvent,
) -> Result<bool, DbError> {
    with_pool!(repo, p => {
        let mut tx = p.begin().await?;
        let updated = sqlx::query(
            "UPDATE cases SET email = $1, phone = $2, contact_preference = $3, sponsor_reference = $4 \
             WHERE id = $5 AND status = $6 AND email = $7 AND phone IS NOT DISTINCT FROM $8 \
             AND contact_preference = $9 AND sponsor_reference IS NOT DISTINCT FROM $10",
        )
        .bind(&w.after.email_enc)
        .bind(&w.after.phone_enc)
        .bind(w.after.contact_preference.as_str())
        .bind(&w.after.sponsor_reference_enc)
        .bind(w.case_id.to_string())
        .bind(w.status.as_str())
        .bind(&w.before.email_enc)
        .bind(&w.before.phone_enc)
        .bind(w.before.contact_preference.as_str())
        .bind(&w.before.sponsor_reference_enc)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("UPDATE partner_idempotency SET request_hash = $1 WHERE case_id = $2")
            .bind(w.request_hash)
            .bind(w.case_id.to_string())
            .execute(&mut *tx)
            .await?;
        append_in_tx!(tx, event);
        tx.commit().await?;
        Ok(true)
    })
}
