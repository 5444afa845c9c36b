//! The patient's answers to the request form, validated with the rules of `domain::patient`.

use std::collections::HashMap;

use crate::domain::{ContactPreference, EmailAddress, ServiceTier, Sponsor, patient};
use crate::services::ServiceError;

/// The patient's answers, validated.
pub(super) struct PatientForm {
    pub(super) full_name: String,
    pub(super) email: EmailAddress,
    pub(super) phone: Option<String>,
    pub(super) contact_preference: ContactPreference,
    pub(super) service: ServiceTier,
    pub(super) condition: String,
    pub(super) sponsor: Sponsor,
    pub(super) sponsor_reference: Option<String>,
}

fn invalid(field: &str, message: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A form field, by the patient rules (`domain::patient`).
fn text(
    fields: &HashMap<String, String>,
    name: &'static str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, ServiceError> {
    Ok(patient::text(
        name,
        fields.get(name).map(String::as_str),
        max,
        multiline,
    )?)
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

impl PatientForm {
    pub(super) fn parse(fields: &HashMap<String, String>) -> Result<Self, ServiceError> {
        let full_name = patient::full_name(field(fields, "full_name"))?;
        let email = patient::email(field(fields, "email"))?;
        let contact_preference = patient::contact_preference(field(fields, "contact_preference"))?;
        let phone = patient::phone(field(fields, "phone"))?;
        patient::contact(phone.as_deref(), contact_preference)?;
        let service = ServiceTier::parse(&patient::required(
            "service",
            field(fields, "service"),
            40,
            false,
        )?)
        .ok_or_else(|| {
            invalid(
                "service",
                "must be records_review or records_and_images_review",
            )
        })?;
        let condition = patient::condition(field(fields, "condition"))?;
        let sponsor = match text(fields, "sponsor", 20, false)? {
            None => Sponsor::SelfFunded,
            Some(raw) => Sponsor::parse(&raw)
                .ok_or_else(|| invalid("sponsor", "must be self, embassy or insurer"))?,
        };
        let sponsor_reference = patient::sponsor_reference(field(fields, "sponsor_reference"))?;
        if sponsor != Sponsor::SelfFunded && sponsor_reference.is_none() {
            return Err(invalid(
                "sponsor_reference",
                "required for embassy or insurer sponsorship",
            ));
        }
        let accepted = fields.get("terms_accepted").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "yes" | "on"
            )
        });
        if !accepted {
            return Err(ServiceError::TermsNotAccepted);
        }
        Ok(Self {
            full_name,
            email,
            phone,
            contact_preference,
            service,
            condition,
            sponsor,
            sponsor_reference: sponsor_reference.filter(|_| sponsor != Sponsor::SelfFunded),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut base: HashMap<String, String> = [
            ("full_name", "Jane Doe"),
            ("email", "jane@example.org"),
            ("service", "records_review"),
            (
                "condition",
                "Second opinion on a biopsy result.\nPlease review.",
            ),
            ("terms_accepted", "on"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                base.remove(*k);
            } else {
                base.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        base
    }

    fn field_of(err: ServiceError) -> String {
        match err {
            ServiceError::InvalidField { field, .. } => field,
            other => panic!("expected invalid-field, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_form_parses() {
        let f = PatientForm::parse(&form(&[])).unwrap();
        assert_eq!(f.full_name, "Jane Doe");
        assert_eq!(f.contact_preference, ContactPreference::Email);
        assert_eq!(f.sponsor, Sponsor::SelfFunded);
    }

    #[test]
    fn each_rule_names_its_field() {
        let long_name = "x".repeat(201);
        let long_condition = "x".repeat(5001);
        for (pairs, field) in [
            (vec![("full_name", "")], "full_name"),
            (vec![("full_name", long_name.as_str())], "full_name"),
            (vec![("email", "not-an-email")], "email"),
            (vec![("contact_preference", "phone")], "phone"),
            (vec![("contact_preference", "pigeon")], "contact_preference"),
            (vec![("phone", "call me")], "phone"),
            (vec![("service", "gold")], "service"),
            (vec![("condition", "")], "condition"),
            (vec![("condition", long_condition.as_str())], "condition"),
            (vec![("sponsor", "embassy")], "sponsor_reference"),
            (vec![("sponsor", "uncle")], "sponsor"),
            (vec![("full_name", "Jane\u{7}Doe")], "full_name"),
        ] {
            assert_eq!(
                field_of(PatientForm::parse(&form(&pairs)).err().unwrap()),
                field
            );
        }
    }

    #[test]
    fn terms_must_be_accepted() {
        for value in ["", "false", "no", "0"] {
            assert!(matches!(
                PatientForm::parse(&form(&[("terms_accepted", value)])),
                Err(ServiceError::TermsNotAccepted)
            ));
        }
        for value in ["true", "YES", "on"] {
            assert!(PatientForm::parse(&form(&[("terms_accepted", value)])).is_ok());
        }
    }

    #[test]
    fn phone_contact_with_a_number_is_accepted() {
        let f = PatientForm::parse(&form(&[
            ("contact_preference", "phone"),
            ("phone", "+44 (0)20 7946 0958"),
        ]))
        .unwrap();
        assert_eq!(f.phone.as_deref(), Some("+44 (0)20 7946 0958"));
    }
}
