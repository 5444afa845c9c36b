//! Partner documents in SQL: claims on client document ids within the per-case quotas, and
//! linking them to the committed documents.

use sqlx::Row;

use crate::db::DbError;
use crate::db::repository::{Pool, SqlRepository, parse_time, parse_with};
use crate::domain::audit::timestamp_text;
use crate::domain::{CaseId, DocumentCategory, DocumentId};

use super::{DocumentClaim, DocumentClaimRequest};

pub(super) fn is_image(category: DocumentCategory) -> i64 {
    i64::from(category == DocumentCategory::Image)
}

pub(super) async fn claim_partner_document(
    repo: &SqlRepository,
    r: &DocumentClaimRequest<'_>,
) -> Result<DocumentClaim, DbError> {
    let case = r.case_id.to_string();
    with_pool!(repo, p => {
        for _ in 0..5 {
            let mut tx = p.begin().await?;
            // A write first: it takes the case row's lock (SQLite: the write lock), so claims on
            // one case are serialised and the counters below stay exact.
            let locked = sqlx::query("UPDATE partner_cases SET documents = documents WHERE case_id = $1")
                .bind(&case)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if locked == 0 {
                return Ok(DocumentClaim::NoCase);
            }
            let existing = sqlx::query(
                "SELECT sha256, category, document_id, lease_until FROM partner_documents \
                 WHERE case_id = $1 AND client_document_id = $2",
            )
            .bind(&case)
            .bind(r.client_document_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = existing else {
                let counted = sqlx::query(
                    "UPDATE partner_cases SET documents = documents + 1, images = images + $2 \
                     WHERE case_id = $1 AND documents < $3 AND images + $2 <= $4",
                )
                .bind(&case)
                .bind(is_image(r.category))
                .bind(r.max_documents)
                .bind(r.max_images)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if counted == 0 {
                    let row = sqlx::query("SELECT documents FROM partner_cases WHERE case_id = $1")
                        .bind(&case)
                        .fetch_one(&mut *tx)
                        .await?;
                    let documents: i64 = row.try_get("documents")?;
                    tx.rollback().await?;
                    return Ok(if documents >= r.max_documents {
                        DocumentClaim::TooManyDocuments
                    } else {
                        DocumentClaim::TooManyImages
                    });
                }
                let inserted = sqlx::query(
                    "INSERT INTO partner_documents (case_id, client_document_id, sha256, category, document_id, \
                     claim_token, lease_until, created_at) VALUES ($1, $2, $3, $4, NULL, $5, $6, $7)",
                )
                .bind(&case)
                .bind(r.client_document_id)
                .bind(r.sha256)
                .bind(r.category.as_str())
                .bind(r.claim_token)
                .bind(timestamp_text(r.lease_until))
                .bind(timestamp_text(r.now))
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {
                        tx.commit().await?;
                        return Ok(DocumentClaim::Claimed);
                    }
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                        tx.rollback().await?;
                        continue; // another upload claimed it first: read what it holds
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let held_sha: String = row.try_get("sha256")?;
            let held_category = parse_with(
                &row.try_get::<String, _>("category")?,
                "category",
                DocumentCategory::parse,
            )?;
            if let Some(document) = row.try_get::<Option<String>, _>("document_id")? {
                tx.commit().await?;
                return Ok(DocumentClaim::Completed {
                    sha256: held_sha,
                    document_id: parse_with(&document, "document id", |s| s.parse().ok())?,
                });
            }
            let lease = parse_time(&row.try_get::<String, _>("lease_until")?)?;
            if lease > r.now {
                tx.commit().await?;
                return Ok(DocumentClaim::InProgress {
                    sha256: held_sha,
                    lease_until: lease,
                });
            }
            // The holder died. If its document was committed before it could be linked, adopt
            // it (the same bytes, in the same case, not linked to any other id) ...
            let orphan = sqlx::query(
                "SELECT d.id FROM documents d WHERE d.case_id = $1 AND d.sha256 = $2 AND NOT EXISTS \
                 (SELECT 1 FROM partner_documents pd WHERE pd.document_id = d.id) ORDER BY d.created_at, d.id",
            )
            .bind(&case)
            .bind(&held_sha)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(orphan) = orphan {
                let document: String = orphan.try_get("id")?;
                sqlx::query(
                    "UPDATE partner_documents SET document_id = $1 WHERE case_id = $2 AND client_document_id = $3",
                )
                .bind(&document)
                .bind(&case)
                .bind(r.client_document_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(DocumentClaim::Completed {
                    sha256: held_sha,
                    document_id: parse_with(&document, "document id", |s| s.parse().ok())?,
                });
            }
            // ... else nothing of it was kept: take the id over (it already counts in the quota).
            let delta = is_image(r.category) - is_image(held_category);
            let counted = sqlx::query(
                "UPDATE partner_cases SET images = images + $2 WHERE case_id = $1 AND images + $2 <= $3",
            )
            .bind(&case)
            .bind(delta)
            .bind(r.max_images.max(1))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if counted == 0 {
                tx.rollback().await?;
                return Ok(DocumentClaim::TooManyImages);
            }
            sqlx::query(
                "UPDATE partner_documents SET sha256 = $1, category = $2, claim_token = $3, lease_until = $4 \
                 WHERE case_id = $5 AND client_document_id = $6 AND document_id IS NULL",
            )
            .bind(r.sha256)
            .bind(r.category.as_str())
            .bind(r.claim_token)
            .bind(timestamp_text(r.lease_until))
            .bind(&case)
            .bind(r.client_document_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(DocumentClaim::Claimed);
        }
        Err(DbError::Corrupt("document claim kept changing".into()))
    })
}

pub(super) async fn complete_partner_document(
    repo: &SqlRepository,
    case: CaseId,
    client_document_id: &str,
    claim_token: &str,
    document: DocumentId,
) -> Result<bool, DbError> {
    with_pool!(repo, p => {
        let updated = sqlx::query(
            "UPDATE partner_documents SET document_id = $1 WHERE case_id = $2 AND client_document_id = $3 \
             AND claim_token = $4 AND document_id IS NULL",
        )
        .bind(document.to_string())
        .bind(case.to_string())
        .bind(client_document_id)
        .bind(claim_token)
        .execute(p)
        .await?
        .rows_affected();
        Ok(updated == 1)
    })
}

pub(super) async fn release_partner_document(
    repo: &SqlRepository,
    case: CaseId,
    client_document_id: &str,
    claim_token: &str,
) -> Result<(), DbError> {
    with_pool!(repo, p => {
        let mut tx = p.begin().await?;
        let released = sqlx::query(
            "DELETE FROM partner_documents WHERE case_id = $1 AND client_document_id = $2 \
             AND claim_token = $3 AND document_id IS NULL RETURNING category",
        )
        .bind(case.to_string())
        .bind(client_document_id)
        .bind(claim_token)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = released {
            let category = parse_with(
                &row.try_get::<String, _>("category")?,
                "category",
                DocumentCategory::parse,
            )?;
            sqlx::query(
                "UPDATE partner_cases SET documents = documents - 1, images = images - $2 WHERE case_id = $1",
            )
            .bind(case.to_string())
            .bind(is_image(category))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

pub(super) async fn partner_documents(
    repo: &SqlRepository,
    case: CaseId,
) -> Result<Vec<(String, DocumentId)>, DbError> {
    with_pool!(repo, p => {
        let rows = sqlx::query(
            "SELECT client_document_id, document_id FROM partner_documents \
             WHERE case_id = $1 AND document_id IS NOT NULL ORDER BY client_document_id",
        )
        .bind(case.to_string())
        .fetch_all(p)
        .await?;
        rows.iter()
            .map(|row| {
                let document: String = row.try_get("document_id")?;
                Ok((
                    row.try_get::<String, _>("client_document_id")?,
                    parse_with(&document, "document id", |s| s.parse().ok())?,
                ))
            })
            .collect()
    })
}
