//! Partners (embassies, insurers): API keys, idempotent case creation, documents put to the
//! partner's own document ids, and reading back their own cases.
//!
//! Keys are `csk_` + 256 random bits, shown once and stored as SHA-256. Each key belongs to one
//! organisation, which owns the cases its keys create; no key sees another organisation's case.
//! Documents go through the same intake as a patient's (`Submission::for_case`), under the case's
//! key, audited as `partner:{key name}`. Exactly-once is held by claims in the database (see
//! `db::partners`), never by the client's memory.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

use super::{ServiceError, Services};

mod cases;
mod correct;
mod documents;
mod keys;

pub(crate) use cases::external_reference;
pub use cases::{
    CreatedCase, NewCase, ValidCase, create_case, resolve_case, valid_idempotency_key,
};
use cases::{OwnedCase, open_text, owned_case};
pub use correct::{CaseCorrection, CorrectedCase, correct_case};
pub use documents::{
    DocumentUpload, PartnerCaseView, PartnerDocument, authorize_case, category_field,
    check_upload_headers, get_case, put_document, valid_client_document_id,
};
pub use keys::{
    KEY_PREFIX, PartnerIdentity, authenticate, create_key, key_hash, revoke_key, valid_organisation,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sponsor;

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
