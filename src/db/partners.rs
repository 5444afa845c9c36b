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
use sqlx::Row;

use super::DbError;
use super::records::CaseRecord;
use super::repository::{Pool, SqlRepository, parse_time, parse_with};
use crate::domain::audit::{AuditRecord, chain_hash, timestamp_text};
use crate::domain::{
    AuditEvent, CaseId, CaseStatus, ContactPreference, DocumentCategory, DocumentId, Reference,
    Sponsor,
};

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

const KEY_COLUMNS: &str = "name, organisation, kind, created_at, revoked_at";
const PARTNER_CASE_COLUMNS: &str =
    "case_id, organisation, key_name, external_reference, created_at";

fn key_record<R: Row>(row: &R) -> Result<PartnerKeyRecord, DbError>
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

fn partner_case_record<R: Row>(row: &R) -> Result<PartnerCaseRecord, DbError>
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

fn is_image(category: DocumentCategory) -> i64 {
    i64::from(category == DocumentCategory::Image)
}

#[async_trait]
impl PartnerRepository for SqlRepository {
    async fn create_partner_key(
        &self,
        key: &PartnerKeyRecord,
        key_hash: &str,
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
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

    async fn revoke_partner_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
        with_pool!(self, p => {
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

    async fn partner_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<PartnerKeyRecord>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM partner_keys WHERE key_hash = $1"))
                .bind(key_hash)
                .fetch_optional(p)
                .await?;
            row.as_ref().map(key_record).transpose()
        })
    }

    async fn partner_keys(&self) -> Result<Vec<PartnerKeyRecord>, DbError> {
        with_pool!(self, p => {
            let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM partner_keys ORDER BY created_at, name"))
                .fetch_all(p)
                .await?;
            rows.iter().map(key_record).collect()
        })
    }

    async fn claim_idempotency_key(
        &self,
        claim: IdempotencyRef<'_>,
        request_hash: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, DbError> {
        with_pool!(self, p => {
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

    async fn release_idempotency_key(&self, claim: IdempotencyRef<'_>) -> Result<(), DbError> {
        with_pool!(self, p => {
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

    async fn create_partner_case(
        &self,
        case: &CaseRecord,
        partner: &PartnerCaseRecord,
        claim: Option<IdempotencyRef<'_>>,
        quota: CaseQuota,
        events: &[AuditEvent],
    ) -> Result<PartnerCaseInsert, DbError> {
        let postgres = matches!(self.pool, Pool::Postgres(_));
        with_pool!(self, p => {
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

    async fn partner_case(&self, case: CaseId) -> Result<Option<PartnerCaseRecord>, DbError> {
        with_pool!(self, p => {
            let row = sqlx::query(&format!("SELECT {PARTNER_CASE_COLUMNS} FROM partner_cases WHERE case_id = $1"))
                .bind(case.to_string())
                .fetch_optional(p)
                .await?;
            row.as_ref().map(partner_case_record).transpose()
        })
    }

    async fn partner_cases_since(
        &self,
        organisation: &str,
        since: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), DbError> {
        with_pool!(self, p => {
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

    async fn claim_partner_document(
        &self,
        r: &DocumentClaimRequest<'_>,
    ) -> Result<DocumentClaim, DbError> {
        let case = r.case_id.to_string();
        with_pool!(self, p => {
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

    async fn complete_partner_document(
        &self,
        case: CaseId,
        client_document_id: &str,
        claim_token: &str,
        document: DocumentId,
    ) -> Result<bool, DbError> {
        with_pool!(self, p => {
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

    async fn release_partner_document(
        &self,
        case: CaseId,
        client_document_id: &str,
        claim_token: &str,
    ) -> Result<(), DbError> {
        with_pool!(self, p => {
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

    async fn partner_documents(&self, case: CaseId) -> Result<Vec<(String, DocumentId)>, DbError> {
        with_pool!(self, p => {
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

    async fn case_id_by_reference(&self, reference: &Reference) -> Result<Option<CaseId>, DbError> {
        with_pool!(self, p => {
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

    async fn correct_partner_case(
        &self,
        w: &CaseCorrectionWrite<'_>,
        event: &AuditEvent,
    ) -> Result<bool, DbError> {
        with_pool!(self, p => {
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
}
