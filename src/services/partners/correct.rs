//! `PATCH /api/v1/cases/{id}`: a partner corrects its own case's contact details and sponsor
//! reference, a JSON merge patch (RFC 7396) checked by the same rules as a new case
//! (`domain::patient`), until the case is paid or sponsored.
//!
//! The other fields of a new case may be sent too (so that a whole manifest entry can be), but
//! only with the values the case has: a name, a condition or a service is not corrected, a new
//! case is made. The correction is one transaction: the sealed fields (only if the case is still
//! as it was read), the create's request hash (so that a create retried with the corrected body is
//! the same case again), and the `case.corrected` audit row naming the fields changed, not their
//! values.

use chrono::Utc;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::{OwnedCase, PartnerIdentity, ValidCase, invalid, open_text, owned_case};
use crate::crypto::encrypt_field;
use crate::db::{CaseCorrectionWrite, SealedContact};
use crate::domain::{
    AuditAction, AuditEvent, AuditOutcome, CaseId, CaseStatus, ContactPreference, ServiceTier,
    Sponsor, patient,
};
use crate::services::submit::field_context;
use crate::services::{ServiceError, Services};

/// A present field, `null` included (`Some(None)`), as against an absent one (`None`): a merge
/// patch has all three.
#[allow(clippy::option_option)]
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A correction: each field present is set (`null` removes an optional one); absent ones keep
/// their value.
#[allow(clippy::option_option)] // absent, `null`, or a value: a merge patch has all three
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseCorrection {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// `null` removes it (unless contact is by phone).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, nullable)]
    pub phone: Option<Option<String>>,
    /// `email` or `phone`; `null` is the default, `email`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, nullable)]
    pub contact_preference: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub sponsor_reference: Option<Option<String>>,
    /// Not correctable: accepted only with the case's own value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub full_name: Option<Option<String>>,
    /// Not correctable: accepted only with the case's own value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub service: Option<Option<String>>,
    /// Not correctable: accepted only with the case's own value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub condition: Option<Option<String>>,
    /// Not correctable: accepted only with the case's own value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub sponsor: Option<Option<String>>,
    /// Not correctable: accepted only with the case's own value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub external_reference: Option<Option<String>>,
}

/// What a correction answers: the case, and the fields it changed (empty: nothing to change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CorrectedCase {
    pub case_id: CaseId,
    pub reference: String,
    pub status: CaseStatus,
    pub changed: Vec<String>,
}

/// The correctable details in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Details {
    email: String,
    phone: Option<String>,
    contact_preference: ContactPreference,
    sponsor_reference: String,
}

/// The whole case in clear (for the comparisons and the request hash).
struct Current {
    contact: Details,
    full_name: String,
    condition: String,
    external_reference: Option<String>,
}

fn read_current(owned: &OwnedCase) -> Result<Current, ServiceError> {
    let id = owned.case.id;
    let open =
        |column: &str, sealed: &[u8]| open_text(&owned.key, &field_context(id, column), sealed);
    let sponsor_reference = owned
        .case
        .sponsor_reference_enc
        .as_deref()
        .map(|s| open("sponsor_reference", s))
        .transpose()?
        .unwrap_or_default();
    Ok(Current {
        contact: Details {
            email: open("email", &owned.case.email_enc)?,
            phone: owned
                .case
                .phone_enc
                .as_deref()
                .map(|p| open("phone", p))
                .transpose()?,
            contact_preference: owned.case.contact_preference,
            sponsor_reference,
        },
        full_name: open("full_name", &owned.case.full_name_enc)?,
        condition: open("condition", &owned.case.condition_enc)?,
        external_reference: owned.external_reference()?,
    })
}

fn not_correctable(field: &str) -> ServiceError {
    invalid(
        field,
        "cannot be corrected (only email, phone, contact_preference and sponsor_reference can); \
         a case with other details is a new case",
    )
}

/// Refuses a non-correctable field sent with a value other than the case's.
fn check_unchanged(
    patch: &CaseCorrection,
    owned: &OwnedCase,
    now: &Current,
) -> Result<(), ServiceError> {
    if let Some(raw) = &patch.full_name
        && patient::full_name(raw.as_deref())? != now.full_name
    {
        return Err(not_correctable("full_name"));
    }
    if let Some(raw) = &patch.condition
        && patient::condition(raw.as_deref())? != now.condition
    {
        return Err(not_correctable("condition"));
    }
    if let Some(raw) = &patch.service
        && ServiceTier::parse(raw.as_deref().unwrap_or_default().trim()) != Some(owned.case.service)
    {
        return Err(not_correctable("service"));
    }
    if let Some(raw) = &patch.sponsor {
        let sponsor = raw.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if sponsor.is_some_and(|s| Sponsor::parse(s) != Some(owned.case.sponsor)) {
            return Err(not_correctable("sponsor"));
        }
    }
    if let Some(raw) = &patch.external_reference
        && super::external_reference(raw.as_deref())? != now.external_reference
    {
        return Err(not_correctable("external_reference"));
    }
    Ok(())
}

/// The details after the patch, by the rules of a new case.
fn merge(patch: &CaseCorrection, now: &Details) -> Result<Details, ServiceError> {
    let email = match &patch.email {
        None => now.email.clone(),
        Some(raw) => patient::email(raw.as_deref())?.as_str().to_owned(),
    };
    let phone = match &patch.phone {
        None => now.phone.clone(),
        Some(raw) => patient::phone(raw.as_deref())?,
    };
    let contact_preference = match &patch.contact_preference {
        None => now.contact_preference,
        Some(raw) => patient::contact_preference(raw.as_deref())?,
    };
    patient::contact(phone.as_deref(), contact_preference)?;
    let sponsor_reference = match &patch.sponsor_reference {
        None => now.sponsor_reference.clone(),
        Some(raw) => patient::sponsor_reference(raw.as_deref())?
            .ok_or_else(|| invalid("sponsor_reference", "required"))?,
    };
    Ok(Details {
        email,
        phone,
        contact_preference,
        sponsor_reference,
    })
}

/// The names of the fields that differ.
fn changed(before: &Details, after: &Details) -> Vec<String> {
    [
        ("email", before.email != after.email),
        ("phone", before.phone != after.phone),
        (
            "contact_preference",
            before.contact_preference != after.contact_preference,
        ),
        (
            "sponsor_reference",
            before.sponsor_reference != after.sponsor_reference,
        ),
    ]
    .into_iter()
    .filter(|(_, differs)| *differs)
    .map(|(name, _)| name.to_owned())
    .collect()
}

/// `PATCH /api/v1/cases/{id}`.
pub async fn correct_case(
    services: &Services,
    partner: &PartnerIdentity,
    id: CaseId,
    patch: &CaseCorrection,
    client: Option<String>,
) -> Result<CorrectedCase, ServiceError> {
    // A correction that races another write is read and applied again.
    for _ in 0..5 {
        let owned = owned_case(services, partner, id, client.clone()).await?;
        let status = owned.case.status;
        if !status.partner_may_correct() {
            return Err(ServiceError::InvalidTransition {
                status,
                allowed: CaseStatus::partner_correctable(),
            });
        }
        let now = read_current(&owned)?;
        check_unchanged(patch, &owned, &now)?;
        let after = merge(patch, &now.contact)?;
        let changed = changed(&now.contact, &after);
        let answer = CorrectedCase {
            case_id: id,
            reference: owned.case.reference.as_str().to_owned(),
            status,
            changed: changed.clone(),
        };
        if changed.is_empty() {
            return Ok(answer);
        }
        let seal = |column: &str, value: &str| {
            encrypt_field(&owned.key, &field_context(id, column), value.as_bytes())
        };
        let before = SealedContact {
            email_enc: owned.case.email_enc.clone(),
            phone_enc: owned.case.phone_enc.clone(),
            contact_preference: owned.case.contact_preference,
            sponsor_reference_enc: owned.case.sponsor_reference_enc.clone(),
        };
        // Only the fields that changed are sealed again.
        let sealed = SealedContact {
            email_enc: if changed.iter().any(|c| c == "email") {
                seal("email", &after.email)
            } else {
                before.email_enc.clone()
            },
            phone_enc: if changed.iter().any(|c| c == "phone") {
                after.phone.as_deref().map(|p| seal("phone", p))
            } else {
                before.phone_enc.clone()
            },
            contact_preference: after.contact_preference,
            sponsor_reference_enc: if changed.iter().any(|c| c == "sponsor_reference") {
                Some(seal("sponsor_reference", &after.sponsor_reference))
            } else {
                before.sponsor_reference_enc.clone()
            },
        };
        let request_hash = ValidCase {
            full_name: now.full_name,
            email: after.email,
            phone: after.phone,
            contact_preference: after.contact_preference,
            service: owned.case.service,
            condition: now.condition,
            sponsor: owned.case.sponsor,
            sponsor_reference: after.sponsor_reference,
            external_reference: now.external_reference,
        }
        .request_hash();
        let mut event = AuditEvent::new(
            partner.actor(),
            AuditAction::CaseCorrected,
            AuditOutcome::Success,
        )
        .case(id)
        .client(client.clone())
        .detail(format!("fields={}", changed.join(",")));
        event.at = Utc::now();
        let write = CaseCorrectionWrite {
            case_id: id,
            status,
            before: &before,
            after: &sealed,
            request_hash: &request_hash,
        };
        if services.repo.correct_partner_case(&write, &event).await? {
            tracing::info!(case_id = %id, fields = %changed.join(","), "partner case corrected");
            return Ok(answer);
        }
    }
    Err(ServiceError::Conflict {
        reason: "the case kept changing while it was corrected",
        retry_after_seconds: Some(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> Details {
        Details {
            email: "a@example.org".into(),
            phone: Some("+44 20 7946 0958".into()),
            contact_preference: ContactPreference::Phone,
            sponsor_reference: "LG-1".into(),
        }
    }

    fn patch(json: &str) -> CaseCorrection {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn absent_keeps_null_removes_and_the_rules_of_a_new_case_apply() {
        let now = contact();
        assert_eq!(merge(&patch("{}"), &now).unwrap(), now);
        let after = merge(
            &patch(r#"{"phone": null, "contact_preference": null, "email": " b@example.org "}"#),
            &now,
        )
        .unwrap();
        assert_eq!(after.phone, None);
        assert_eq!(after.contact_preference, ContactPreference::Email);
        assert_eq!(
            changed(&now, &after),
            ["email", "phone", "contact_preference"]
        );
        let field = |json: &str| match merge(&patch(json), &now) {
            Err(ServiceError::InvalidField { field, .. }) => field,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(field(r#"{"phone": null}"#), "phone"); // contact is by phone
        assert_eq!(field(r#"{"phone": "call me"}"#), "phone");
        assert_eq!(field(r#"{"email": null}"#), "email");
        assert_eq!(field(r#"{"email": "nope"}"#), "email");
        assert_eq!(
            field(r#"{"contact_preference": "pigeon"}"#),
            "contact_preference"
        );
        assert_eq!(field(r#"{"sponsor_reference": " "}"#), "sponsor_reference");
        assert!(serde_json::from_str::<CaseCorrection>(r#"{"documents": []}"#).is_err());
    }
}
