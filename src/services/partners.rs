//! Partners (embassies, insurers): API keys, idempotent case creation, documents put to the
//! partner's own document ids, and reading back their own cases.
//!
//! Keys are `csk_` + 256 random bits, shown once and stored as SHA-256. Each key belongs to one
//! organisation, which owns the cases its keys create; no key sees another organisation's case.
//! Documents go through the same intake as a patient's (`Submission::for_case`), under the case's
//! key, audited as `partner:{key name}`. Exactly-once is held by claims in the database (see
//! `db::partners`), never by the client's memory.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::budget::Reservation;
use super::cases::document_view;
use super::submit::{Submission, field_context};
use super::{ServiceError, Services};
use crate::crypto::{CaseKey, decrypt_field, encrypt_field};
use crate::db::{
    CaseQuota, CaseRecord, DbError, DocumentClaim, DocumentClaimRequest, IdempotencyClaim,
    IdempotencyRef, PartnerCaseInsert, PartnerCaseRecord, PartnerKeyRecord, Repository,
};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, CaseStatus, ContactPreference,
    DocumentCategory, DocumentId, Reference, ServiceTier, Sponsor, patient,
};
use crate::intake::{Field, Filename};

mod correct;

pub use correct::{CaseCorrection, CorrectedCase, correct_case};

pub const KEY_PREFIX: &str = "csk_";

/// An authenticated partner key.
#[derive(Clone, Debug)]
pub struct PartnerIdentity {
    pub name: String,
    pub organisation: String,
    pub kind: Sponsor,
}

impl PartnerIdentity {
    pub fn actor(&self) -> AuditActor {
        AuditActor::Partner(self.name.clone())
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

fn random_token() -> Result<String, ServiceError> {
    let mut secret = [0u8; 32];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| ServiceError::Internal("random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(secret))
}

// ---- keys -------------------------------------------------------------------------------------

/// The stored form of a key. Keys carry 256 random bits, so a plain hash is safe to look up by.
pub fn key_hash(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// A partner organisation id: lowercase letters, digits, `-` and `_` (it names config overrides).
pub fn valid_organisation(org: &str) -> bool {
    (1..=64).contains(&org.len())
        && org
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

/// Creates a key named `name` for `organisation` and returns it (the only time it is shown).
pub async fn create_key(
    repo: &dyn Repository,
    name: &str,
    organisation: &str,
    kind: Sponsor,
) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
    {
        return Err(invalid(
            "name",
            "1-64 characters of letters, digits, - _ . @",
        ));
    }
    if !valid_organisation(organisation) {
        return Err(invalid(
            "org",
            "1-64 characters of lowercase letters, digits, - and _",
        ));
    }
    if kind == Sponsor::SelfFunded {
        return Err(invalid("kind", "must be embassy or insurer"));
    }
    let key = format!("{KEY_PREFIX}{}", random_token()?);
    let record = PartnerKeyRecord {
        name: name.to_owned(),
        organisation: organisation.to_owned(),
        kind,
        created_at: Utc::now().trunc_subsecs(6),
        revoked_at: None,
    };
    match repo.create_partner_key(&record, &key_hash(&key)).await {
        Ok(()) => Ok(key),
        Err(DbError::Duplicate) => Err(invalid("name", format!("a key named `{name}` exists"))),
        Err(e) => Err(e.into()),
    }
}

/// Revokes the key named `name` at once; `false` when there is none.
pub async fn revoke_key(repo: &dyn Repository, name: &str) -> Result<bool, ServiceError> {
    Ok(repo.revoke_partner_key(name.trim(), Utc::now()).await?)
}

/// The partner holding `key`; `unauthorized` for an unknown or revoked key.
pub async fn authenticate(
    repo: &dyn Repository,
    key: &str,
) -> Result<PartnerIdentity, ServiceError> {
    if !key.starts_with(KEY_PREFIX) || key.len() > 128 {
        return Err(ServiceError::Unauthorized);
    }
    match repo.partner_key_by_hash(&key_hash(key)).await? {
        Some(record) if record.revoked_at.is_none() => Ok(PartnerIdentity {
            name: record.name,
            organisation: record.organisation,
            kind: record.kind,
        }),
        _ => Err(ServiceError::Unauthorized),
    }
}

// ---- limits -----------------------------------------------------------------------------------

/// The quotas that apply to one organisation (config defaults with its overrides).
#[derive(Clone, Copy, Debug)]
pub struct Quotas {
    pub max_cases_per_day: u32,
    pub max_documents_per_case: u32,
    pub max_file_bytes: u64,
    pub max_images_per_case: usize,
}

pub fn quotas(services: &Services, organisation: &str) -> Quotas {
    let p = &services.settings.partners;
    let o = p
        .organisations
        .get(organisation)
        .cloned()
        .unwrap_or_default();
    Quotas {
        max_cases_per_day: o.max_cases_per_day.unwrap_or(p.max_cases_per_day),
        max_documents_per_case: o.max_documents_per_case.unwrap_or(p.max_documents_per_case),
        max_file_bytes: o
            .max_file_bytes
            .unwrap_or(p.max_file_bytes)
            .min(services.settings.intake.max_file_bytes),
        max_images_per_case: services.settings.intake.max_images,
    }
}

fn lease(services: &Services, now: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = i64::try_from(services.settings.partners.claim_lease_seconds).unwrap_or(3600);
    now + Duration::seconds(seconds)
}

fn seconds_until(later: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((later - now).num_seconds())
        .unwrap_or(0)
        .max(1)
}

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

fn open_text(key: &CaseKey, context: &str, sealed: &[u8]) -> Result<String, ServiceError> {
    let bytes = decrypt_field(key, context, sealed).map_err(|_| ServiceError::Integrity)?;
    String::from_utf8(bytes).map_err(|_| ServiceError::Integrity)
}

/// A partner case with its key, once ownership is established.
struct OwnedCase {
    case: CaseRecord,
    partner: PartnerCaseRecord,
    key: CaseKey,
}

impl OwnedCase {
    fn external_reference(&self) -> Result<Option<String>, ServiceError> {
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

    fn created(&self) -> Result<CreatedCase, ServiceError> {
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
async fn owned_case(
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

// ---- documents --------------------------------------------------------------------------------

/// A stored partner document, as its uploader sees it (the same body on every identical retry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PartnerDocument {
    pub client_document_id: String,
    pub id: DocumentId,
    pub filename: String,
    pub category: DocumentCategory,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
    pub received_at: DateTime<Utc>,
}

/// A partner's case: its state and the documents stored under the partner's ids.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PartnerCaseView {
    pub case_id: CaseId,
    pub reference: String,
    pub status: CaseStatus,
    pub service: ServiceTier,
    pub sponsor: Sponsor,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
    pub external_reference: Option<String>,
    pub documents: Vec<PartnerDocument>,
}

/// A partner's client document id: 1-128 of letters, digits, `.`, `_`, `-`, `:`.
pub fn valid_client_document_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
}

/// The upload field a partner category is checked as.
pub fn category_field(raw: &str) -> Option<(Field, DocumentCategory)> {
    match raw {
        "report" => Some((Field::Report, DocumentCategory::Report)),
        "image" => Some((Field::Image, DocumentCategory::Image)),
        "guarantee_letter" => Some((Field::GuaranteeLetter, DocumentCategory::GuaranteeLetter)),
        _ => None,
    }
}

/// One document as received by `PUT /api/v1/cases/{id}/documents/{client_document_id}`.
pub struct DocumentUpload {
    pub client_document_id: String,
    pub filename: String,
    pub category: String,
    pub declared_sha256: Option<String>,
    pub bytes: Vec<u8>,
    /// The upload budget this body holds; the submission grows it for the sealed copy.
    pub held: Reservation,
}

/// Checks what can be checked before the body is read (so a bad upload is refused early).
pub fn check_upload_headers(
    client_document_id: &str,
    filename: &str,
    category: &str,
    declared_sha256: Option<&str>,
) -> Result<(), ServiceError> {
    if !valid_client_document_id(client_document_id) {
        return Err(invalid(
            "client_document_id",
            "1-128 characters of letters, digits, . _ - :",
        ));
    }
    Filename::parse(filename)
        .map_err(|e| invalid("X-Filename", format!("file name not accepted: {e}")))?;
    if category_field(category).is_none() {
        return Err(invalid(
            "X-Category",
            "must be report, image or guarantee_letter",
        ));
    }
    if let Some(declared) = declared_sha256
        && !(declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(invalid("X-Content-SHA256", "must be 64 hexadecimal digits"));
    }
    Ok(())
}

/// Fails unless the case exists and belongs to the partner (for refusing a body before reading it).
pub async fn authorize_case(
    services: &Services,
    partner: &PartnerIdentity,
    case_id: CaseId,
    client: Option<String>,
) -> Result<(), ServiceError> {
    owned_case(services, partner, case_id, client)
        .await
        .map(|_| ())
}

/// `PUT /api/v1/cases/{id}/documents/{client_document_id}`. Returns the document and whether this
/// call stored it (`false`: the same bytes were already there).
pub async fn put_document(
    services: Arc<Services>,
    partner: &PartnerIdentity,
    case_id: CaseId,
    upload: DocumentUpload,
    client: Option<String>,
) -> Result<(PartnerDocument, bool), ServiceError> {
    check_upload_headers(
        &upload.client_document_id,
        &upload.filename,
        &upload.category,
        upload.declared_sha256.as_deref(),
    )?;
    let (field, category) = category_field(&upload.category).expect("checked above");
    let owned = owned_case(&services, partner, case_id, client.clone()).await?;
    let quotas = quotas(&services, &partner.organisation);
    if upload.bytes.len() as u64 > quotas.max_file_bytes {
        return Err(ServiceError::FileTooLarge {
            filename: upload.filename,
            limit_bytes: quotas.max_file_bytes,
        });
    }
    let DocumentUpload {
        client_document_id,
        filename,
        declared_sha256,
        bytes,
        held,
        ..
    } = upload;
    let (bytes, sha256) = tokio::task::spawn_blocking(move || {
        let sha = sha256_hex(&bytes);
        (bytes, sha)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("hash task: {e}")))?;
    if let Some(declared) = declared_sha256
        && !declared.eq_ignore_ascii_case(&sha256)
    {
        return Err(ServiceError::ChecksumMismatch {
            filename,
            declared: declared.to_ascii_lowercase(),
            actual: sha256,
        });
    }

    let token = random_token()?;
    let now = Utc::now();
    let claim = DocumentClaimRequest {
        case_id,
        client_document_id: &client_document_id,
        sha256: &sha256,
        category,
        claim_token: &token,
        now,
        lease_until: lease(&services, now),
        max_documents: i64::from(quotas.max_documents_per_case),
        max_images: i64::try_from(quotas.max_images_per_case).unwrap_or(i64::MAX),
    };
    match services.repo.claim_partner_document(&claim).await? {
        DocumentClaim::Claimed => {}
        DocumentClaim::Completed {
            sha256: held,
            document_id,
        } => {
            if held != sha256 {
                return Err(ServiceError::Conflict {
                    reason: "this document id already holds different bytes",
                    retry_after_seconds: None,
                });
            }
            return Ok((
                stored_view(&services, &owned, &client_document_id, document_id).await?,
                false,
            ));
        }
        DocumentClaim::InProgress { lease_until, .. } => {
            return Err(ServiceError::Conflict {
                reason: "an upload to this document id is in progress",
                retry_after_seconds: Some(seconds_until(lease_until, now).min(5)),
            });
        }
        DocumentClaim::NoCase => return Err(ServiceError::Forbidden),
        DocumentClaim::TooManyDocuments => {
            return Err(ServiceError::TooManyFiles {
                field: "documents",
                limit: quotas.max_documents_per_case as usize,
            });
        }
        DocumentClaim::TooManyImages => {
            return Err(ServiceError::TooManyImages {
                limit: quotas.max_images_per_case,
            });
        }
    }

    let mut submission = Submission::for_case(
        Arc::clone(&services),
        case_id,
        owned.key.clone(),
        Some(owned.case.service),
        partner.actor(),
        client,
        held,
    );
    let stored = async {
        submission.claim_slot(field)?;
        submission
            .add_file(field, category, &filename, bytes)
            .await?;
        submission.commit_additions().await
    }
    .await;
    // The file sent is listed first (an image archive's members are stored, not listed).
    let stored = match stored.map(|mut list| (!list.is_empty()).then(|| list.remove(0))) {
        Ok(Some(stored)) => stored,
        outcome => {
            submission.abort().await;
            if let Err(release) = services
                .repo
                .release_partner_document(case_id, &client_document_id, &token)
                .await
            {
                tracing::warn!(error = %release, "could not release a document claim");
            }
            return Err(outcome.err().unwrap_or_else(|| {
                ServiceError::Internal("a stored upload listed no document".into())
            }));
        }
    };
    if !services
        .repo
        .complete_partner_document(case_id, &client_document_id, &token, stored.id)
        .await?
    {
        // Only when this upload outlived its lease and another took the id over.
        tracing::error!(case_id = %case_id, document_id = %stored.id, "document claim lost after commit");
    }
    tracing::info!(case_id = %case_id, document_id = %stored.id, "partner document stored");
    Ok((
        stored_view(&services, &owned, &client_document_id, stored.id).await?,
        true,
    ))
}

async fn stored_view(
    services: &Services,
    owned: &OwnedCase,
    client_document_id: &str,
    id: DocumentId,
) -> Result<PartnerDocument, ServiceError> {
    let record = services
        .repo
        .get_document(id)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("document {id} has no row")))?;
    let view = document_view(&owned.key, &record)?;
    Ok(PartnerDocument {
        client_document_id: client_document_id.to_owned(),
        id: view.id,
        filename: view.filename,
        category: view.category,
        media_type: view.media_type,
        size: view.size,
        sha256: view.sha256,
        received_at: view.received_at,
    })
}

/// `GET /api/v1/cases/{id}` with a partner key.
pub async fn get_case(
    services: &Services,
    partner: &PartnerIdentity,
    id: CaseId,
    client: Option<String>,
) -> Result<PartnerCaseView, ServiceError> {
    let owned = owned_case(services, partner, id, client.clone()).await?;
    let mut documents = Vec::new();
    for (client_id, document) in services.repo.partner_documents(id).await? {
        documents.push(stored_view(services, &owned, &client_id, document).await?);
    }
    let created = owned.created()?;
    // Reading a case's personal data is audited; no row, no data.
    let event = AuditEvent::new(
        partner.actor(),
        AuditAction::CaseViewed,
        AuditOutcome::Success,
    )
    .case(id)
    .client(client);
    services.repo.append_audit(&event).await?;
    Ok(PartnerCaseView {
        case_id: created.case_id,
        reference: created.reference,
        status: owned.case.status,
        service: created.service,
        sponsor: created.sponsor,
        received_at: created.received_at,
        contact_by: created.contact_by,
        external_reference: created.external_reference,
        documents,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> NewCase {
        NewCase {
            full_name: "Jane Doe".into(),
            email: "jane@example.org".into(),
            service: "records_review".into(),
            condition: "Second opinion on a biopsy.".into(),
            sponsor_reference: "LG-1".into(),
            ..NewCase::default()
        }
    }

    #[test]
    fn the_sponsor_defaults_to_the_partner_kind_and_self_is_refused() {
        assert_eq!(
            case().validate(Sponsor::Insurer).unwrap().sponsor,
            Sponsor::Insurer
        );
        let own = NewCase {
            sponsor: Some("self".into()),
            ..case()
        };
        assert!(matches!(
            own.validate(Sponsor::Embassy),
            Err(ServiceError::InvalidField { field, .. }) if field == "sponsor"
        ));
    }

    #[test]
    fn the_request_hash_ignores_spacing_but_not_content() {
        let spaced = NewCase {
            full_name: "  Jane Doe ".into(),
            ..case()
        };
        let a = case().validate(Sponsor::Embassy).unwrap().request_hash();
        assert_eq!(a, spaced.validate(Sponsor::Embassy).unwrap().request_hash());
        let other = NewCase {
            condition: "Something else".into(),
            ..case()
        };
        assert_ne!(a, other.validate(Sponsor::Embassy).unwrap().request_hash());
    }

    #[test]
    fn upload_headers_are_checked() {
        let sha = "a".repeat(64);
        assert!(check_upload_headers("doc-1", "a.pdf", "report", Some(&sha)).is_ok());
        assert!(check_upload_headers("../x", "a.pdf", "report", None).is_err());
        assert!(check_upload_headers("doc-1", "a.pdf", "opinion", None).is_err());
        assert!(check_upload_headers("doc-1", "a.pdf", "report", Some("abc")).is_err());
        assert!(valid_idempotency_key("push:abc"));
        assert!(!valid_idempotency_key("with space"));
        assert!(valid_organisation("embassy-of-x"));
        assert!(!valid_organisation("Embassy"));
    }
}
