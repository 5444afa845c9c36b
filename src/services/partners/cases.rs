//! Idempotent case creation by a partner, and the cases it owns.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::crypto::{CaseKey, decrypt_field, encrypt_field};
use crate::db::{
    CaseQuota, CaseRecord, DbError, IdempotencyClaim, IdempotencyRef, PartnerCaseInsert,
    PartnerCaseRecord,
};
use crate::domain::{
    AuditAction, AuditEvent, AuditOutcome, CaseId, CaseStatus, ContactPreference, Reference,
    ServiceTier, Sponsor, patient,
};
use crate::services::submit::field_context;
use crate::services::{ServiceError, Services};

use super::PartnerIdentity;
use super::{invalid, lease, quotas, random_token, seconds_until, sha256_hex};

// ---- cases ------------------------------------------------------------------------------------

/// A case as a partner sends it (`POST /api/v1/cases`, and each case of a push manifest).
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub full_name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `email` (default) or `phone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_preference: Option<String>,
    /// `records_review` or `records_and_images_review`.
    pub service: String,
    pub condition: String,
    /// `embassy` or `insurer`; defaults to the key's organisation kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<String>,
    /// The letter of guarantee number or authorisation code.
    pub sponsor_reference: String,
    /// The partner's own reference for the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_reference: Option<String>,
}

/// A `NewCase` that passed validation, with its values normalised. Its JSON is what the
/// `Idempotency-Key` is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidCase {
    pub full_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub contact_preference: ContactPreference,
    pub service: ServiceTier,
    pub condition: String,
    pub sponsor: Sponsor,
    pub sponsor_reference: String,
    pub external_reference: Option<String>,
}

impl ValidCase {
    /// SHA-256 of the normalised case: equal for the same case whatever the JSON's spacing or order.
    pub fn request_hash(&self) -> String {
        sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }
}

impl NewCase {
    /// The same rules as a patient's request (`domain::patient`; no terms: the partner's agreement
    /// covers them); `default_sponsor` is the organisation's kind. The push client runs this
    /// before sending.
    pub fn validate(&self, default_sponsor: Sponsor) -> Result<ValidCase, ServiceError> {
        let full_name = patient::full_name(Some(&self.full_name))?;
        let email = patient::email(Some(&self.email))?;
        let contact_preference = patient::contact_preference(self.contact_preference.as_deref())?;
        let phone = patient::phone(self.phone.as_deref())?;
        patient::contact(phone.as_deref(), contact_preference)?;
        let service = ServiceTier::parse(&patient::required(
            "service",
            Some(&self.service),
            40,
            false,
        )?)
        .ok_or_else(|| {
            invalid(
                "service",
                "must be records_review or records_and_images_review",
            )
        })?;
        let condition = patient::condition(Some(&self.condition))?;
        let sponsor = match patient::text("sponsor", self.sponsor.as_deref(), 20, false)? {
            None => default_sponsor,
            Some(raw) => match Sponsor::parse(&raw) {
                Some(s @ (Sponsor::Embassy | Sponsor::Insurer)) => s,
                _ => return Err(invalid("sponsor", "must be embassy or insurer")),
            },
        };
        let sponsor_reference = patient::sponsor_reference(Some(&self.sponsor_reference))?
            .ok_or_else(|| invalid("sponsor_reference", "required"))?;
        let external_reference = external_reference(self.external_reference.as_deref())?;
        Ok(ValidCase {
            full_name,
            email: email.as_str().to_owned(),
            phone,
            contact_preference,
            service,
            condition,
            sponsor,
            sponsor_reference,
            external_reference,
        })
    }
}

/// The partner's own reference for a case: optional, at most 200 characters.
pub(crate) fn external_reference(raw: Option<&str>) -> Result<Option<String>, ServiceError> {
    Ok(patient::text("external_reference", raw, 200, false)?)
}

/// What a create answers, the first time (201) and on every retry with the same key (200).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedCase {
    pub case_id: CaseId,
    pub reference: String,
    pub service: ServiceTier,
    pub sponsor: Sponsor,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
    pub external_reference: Option<String>,
}

/// An `Idempotency-Key` header: 1-255 visible ASCII characters.
pub fn valid_idempotency_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// `POST /api/v1/cases`. Returns the case and whether this call created it.
pub async fn create_case(
    services: &Services,
    partner: &PartnerIdentity,
    body: &NewCase,
    idempotency_key: Option<&str>,
    client: Option<String>,
) -> Result<(CreatedCase, bool), ServiceError> {
    let case = body.validate(partner.kind)?;
    let request_hash = case.request_hash();
    // The key is the partner's text: only its hash is stored.
    let key_digest = match idempotency_key {
        Some(key) if !valid_idempotency_key(key) => {
            return Err(invalid("Idempotency-Key", "1-255 visible ASCII characters"));
        }
        Some(key) => Some(sha256_hex(key.as_bytes())),
        None => None,
    };
    let token = random_token()?;
    let claim = key_digest.as_deref().map(|key| IdempotencyRef {
        organisation: &partner.organisation,
        key,
        claim_token: &token,
    });
    if let Some(claim) = claim {
        let now = Utc::now();
        match services
            .repo
            .claim_idempotency_key(claim, &request_hash, now, lease(services, now))
            .await?
        {
            IdempotencyClaim::Claimed => {}
            IdempotencyClaim::Completed {
                request_hash: held,
                case_id,
            } => {
                if held != request_hash {
                    return Err(ServiceError::IdempotencyConflict {
                        case_id: Some(case_id),
                    });
                }
                return Ok((created_view(services, case_id).await?, false));
            }
            IdempotencyClaim::InProgress {
                request_hash: held,
                lease_until,
            } => {
                if held != request_hash {
                    return Err(ServiceError::IdempotencyConflict { case_id: None });
                }
                return Err(ServiceError::Conflict {
                    reason: "a create with this Idempotency-Key is in progress",
                    retry_after_seconds: Some(seconds_until(lease_until, now).min(5)),
                });
            }
        }
    }
    let created = insert_case(services, partner, &case, claim, client).await;
    if created.is_err()
        && let Some(claim) = claim
        && let Err(e) = services.repo.release_idempotency_key(claim).await
    {
        tracing::warn!(error = %e, "could not release an idempotency key");
    }
    created.map(|c| (c, true))
}

async fn insert_case(
    services: &Services,
    partner: &PartnerIdentity,
    case: &ValidCase,
    claim: Option<IdempotencyRef<'_>>,
    client: Option<String>,
) -> Result<CreatedCase, ServiceError> {
    let now = Utc::now().trunc_subsecs(6);
    let quotas = quotas(services, &partner.organisation);
    let quota = CaseQuota {
        max_cases: i64::from(quotas.max_cases_per_day),
        since: now - Duration::hours(24),
    };
    let over_quota = |oldest: Option<DateTime<Utc>>| ServiceError::RateLimited {
        retry_after_seconds: seconds_until(oldest.unwrap_or(now) + Duration::hours(24), now),
    };
    // A cheap early answer for an organisation already at its quota; the count that decides is
    // the one inside the inserting transaction (`create_partner_case`).
    let (created_today, oldest) = services
        .repo
        .partner_cases_since(&partner.organisation, quota.since)
        .await?;
    if created_today >= quota.max_cases {
        return Err(over_quota(oldest));
    }
    let case_id = CaseId::new();
    let key = CaseKey::generate();
    let seal = |column: &str, value: &str| {
        encrypt_field(&key, &field_context(case_id, column), value.as_bytes())
    };
    let wrapped = services.keys.wrap(&case_id.to_string(), &key);
    let contact_by = services.calendar.contact_by(now);
    let mut event = AuditEvent::new(
        partner.actor(),
        AuditAction::RequestSubmitted,
        AuditOutcome::Success,
    )
    .case(case_id)
    .client(client);
    event.at = now;
    let partner_row = PartnerCaseRecord {
        case_id,
        organisation: partner.organisation.clone(),
        key_name: partner.name.clone(),
        external_reference_enc: case
            .external_reference
            .as_deref()
            .map(|r| seal("external_reference", r)),
        created_at: now,
    };
    for _ in 0..5 {
        let record = CaseRecord {
            id: case_id,
            reference: Reference::generate(),
            status: CaseStatus::Received,
            service: case.service,
            contact_preference: case.contact_preference,
            sponsor: case.sponsor,
            received_at: now,
            contact_by,
            kek_id: wrapped.kek_id.as_str().to_owned(),
            wrapped_key: wrapped.bytes.clone(),
            full_name_enc: seal("full_name", &case.full_name),
            email_enc: seal("email", &case.email),
            phone_enc: case.phone.as_deref().map(|p| seal("phone", p)),
            condition_enc: seal("condition", &case.condition),
            sponsor_reference_enc: Some(seal("sponsor_reference", &case.sponsor_reference)),
        };
        match services
            .repo
            .create_partner_case(
                &record,
                &partner_row,
                claim,
                quota,
                std::slice::from_ref(&event),
            )
            .await
        {
            Ok(PartnerCaseInsert::OverQuota { oldest }) => return Err(over_quota(oldest)),
            Ok(PartnerCaseInsert::Created) => {
                tracing::info!(case_id = %case_id, "partner case created");
                return Ok(CreatedCase {
                    case_id,
                    reference: record.reference.as_str().to_owned(),
                    service: case.service,
                    sponsor: case.sponsor,
                    received_at: now,
                    contact_by,
                    external_reference: case.external_reference.clone(),
                });
            }
            Ok(PartnerCaseInsert::ClaimLost) => {
                return Err(ServiceError::Conflict {
                    reason: "a create with this Idempotency-Key is in progress",
                    retry_after_seconds: Some(1),
                });
            }
            Err(DbError::Duplicate) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::Internal(
        "could not draw a free reference".into(),
    ))
}

pub(super) fn open_text(
    key: &CaseKey,
    context: &str,
    sealed: &[u8],
) -> Result<String, ServiceError> {
    let bytes = decrypt_field(key, context, sealed).map_err(|_| ServiceError::Integrity)?;
    String::from_utf8(bytes).map_err(|_| ServiceError::Integrity)
}

/// A partner case with its key, once ownership is established.
pub(super) struct OwnedCase {
    pub(super) case: CaseRecord,
    pub(super) partner: PartnerCaseRecord,
    pub(super) key: CaseKey,
}

impl OwnedCase {
    pub(super) fn external_reference(&self) -> Result<Option<String>, ServiceError> {
        self.partner
            .external_reference_enc
            .as_deref()
            .map(|r| {
                open_text(
                    &self.key,
                    &field_context(self.case.id, "external_reference"),
                    r,
                )
            })
            .transpose()
    }

    pub(super) fn created(&self) -> Result<CreatedCase, ServiceError> {
        Ok(CreatedCase {
            case_id: self.case.id,
            reference: self.case.reference.as_str().to_owned(),
            service: self.case.service,
            sponsor: self.case.sponsor,
            received_at: self.case.received_at,
            contact_by: self.case.contact_by,
            external_reference: self.external_reference()?,
        })
    }
}

async fn load_case(services: &Services, id: CaseId) -> Result<Option<OwnedCase>, ServiceError> {
    let Some(case) = services.repo.get_case(id).await? else {
        return Ok(None);
    };
    let Some(partner) = services.repo.partner_case(id).await? else {
        return Ok(None);
    };
    let key = services.case_key(id, &case.kek_id, &case.wrapped_key)?;
    Ok(Some(OwnedCase { case, partner, key }))
}

async fn created_view(services: &Services, id: CaseId) -> Result<CreatedCase, ServiceError> {
    load_case(services, id)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("idempotent case {id} has no row")))?
        .created()
}

/// The case a partner names in a path: its id, or its reference as the patient and the partner
/// were shown it (`SMO-6VT8-8G1H`; any case, and Crockford's O→0, I/L→1). `not-found` for anything
/// else; whose case it is is checked after.
pub async fn resolve_case(services: &Services, raw: &str) -> Result<CaseId, ServiceError> {
    if let Ok(id) = raw.trim().parse::<CaseId>() {
        return Ok(id);
    }
    let reference = Reference::parse(raw).ok_or(ServiceError::NotFound)?;
    services
        .repo
        .case_id_by_reference(&reference)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// The case, if this partner's organisation owns it: `not-found` when there is no such case,
/// `forbidden` (audited) when it belongs to someone else.
pub(super) async fn owned_case(
    services: &Services,
    partner: &PartnerIdentity,
    id: CaseId,
    client: Option<String>,
) -> Result<OwnedCase, ServiceError> {
    let owned = match load_case(services, id).await? {
        Some(owned) if owned.partner.organisation == partner.organisation => return Ok(owned),
        Some(_) => true,
        None => services.repo.get_case(id).await?.is_some(),
    };
    if !owned {
        return Err(ServiceError::NotFound);
    }
    let event = AuditEvent::new(
        partner.actor(),
        AuditAction::AccessDenied,
        AuditOutcome::Forbidden,
    )
    .case(id)
    .client(client);
    // An authenticated key, rate-limited per key: each refusal is its own row.
    if let Err(e) = services.repo.append_audit(&event).await {
        tracing::error!(error = %e, "could not audit a denied access");
    }
    Err(ServiceError::Forbidden)
}
