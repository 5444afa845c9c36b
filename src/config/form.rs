//! `[form]`, `[contact]` and `[deadlines]`: the patient form, how the service is reached, and the
//! calendar deadlines are counted on.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{BUILT_IN_TERMS, ConfigError, Settings, invalid};

/// The patient request form: submission rate limit, terms text, and the services it offers.
#[derive(Clone, Debug, Deserialize)]
pub struct FormSettings {
    pub submission_burst: u32,
    pub submissions_per_minute: u32,
    /// Empty: the built-in copy of `config/terms.md`.
    pub terms_file: String,
    pub services: FormServices,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FormServices {
    pub records_review: ServiceOffer,
    pub records_and_images_review: ServiceOffer,
}

/// One service as the form shows it.
#[derive(Clone, Debug, Deserialize)]
pub struct ServiceOffer {
    pub name: String,
    pub description: String,
    pub price: String,
}

/// How patients and partners reach the service: shown on the terms page, the receipt and the form,
/// and meant for the footer of every email the service sends (`footer_lines`).
#[derive(Clone, Debug, Deserialize)]
pub struct ContactSettings {
    /// The service's name as it signs letters and emails.
    pub name: String,
    /// A telephone number with its country code, as people should dial it.
    pub telephone: String,
    pub email: String,
    /// The postal address, one line per entry.
    pub postal_address: Vec<String>,
}

impl ContactSettings {
    /// A `tel:` URL: the number's leading `+` and its digits.
    pub fn telephone_href(&self) -> String {
        let number = self.telephone.trim();
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        if number.starts_with('+') {
            format!("tel:+{digits}")
        } else {
            format!("tel:{digits}")
        }
    }

    /// The block an email ends with: the name, the address, the telephone number and the email.
    pub fn footer_lines(&self) -> Vec<String> {
        let mut lines = vec![self.name.clone()];
        lines.extend(self.postal_address.iter().cloned());
        lines.push(format!("Telephone: {}", self.telephone));
        lines.push(format!("Email: {}", self.email));
        lines
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct DeadlineSettings {
    pub time_zone: String,
    pub bank_holidays: Vec<String>,
}

impl Settings {
    pub(super) fn validate_form(&self) -> Result<(), ConfigError> {
        let form = &self.form;
        if form.submission_burst == 0 {
            return Err(invalid("form.submission_burst", "must be at least 1"));
        }
        if form.submissions_per_minute == 0 {
            return Err(invalid("form.submissions_per_minute", "must be at least 1"));
        }
        if !form.terms_file.is_empty() {
            std::fs::read_to_string(&form.terms_file).map_err(|e| {
                invalid(
                    "form.terms_file",
                    format!("cannot read `{}`: {e}", form.terms_file),
                )
            })?;
        }
        for (key, offer) in [
            (
                "form.services.records_review",
                &form.services.records_review,
            ),
            (
                "form.services.records_and_images_review",
                &form.services.records_and_images_review,
            ),
        ] {
            if offer.name.trim().is_empty() || offer.price.trim().is_empty() {
                return Err(invalid(key, "needs a name and a price"));
            }
        }
        Ok(())
    }

    pub(super) fn validate_contact(&self) -> Result<(), ConfigError> {
        let c = &self.contact;
        if c.name.trim().is_empty() {
            return Err(invalid("contact.name", "must be set"));
        }
        let digits = c.telephone.chars().filter(char::is_ascii_digit).count();
        let shape = c
            .telephone
            .chars()
            .all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | ' ' | '-' | '(' | ')' | '.'));
        if !(6..=20).contains(&digits) || !shape {
            return Err(invalid(
                "contact.telephone",
                "must be a telephone number of 6 to 20 digits, e.g. +44 20 7946 0958",
            ));
        }
        if crate::domain::EmailAddress::parse(&c.email).is_none() {
            return Err(invalid("contact.email", "must be an email address"));
        }
        if c.postal_address.iter().all(|l| l.trim().is_empty()) {
            return Err(invalid("contact.postal_address", "needs at least one line"));
        }
        Ok(())
    }

    /// The terms of service (Markdown): `form.terms_file`, or the built-in copy of `config/terms.md`.
    pub fn terms_text(&self) -> Result<String, ConfigError> {
        if self.form.terms_file.is_empty() {
            return Ok(BUILT_IN_TERMS.to_owned());
        }
        std::fs::read_to_string(&self.form.terms_file).map_err(|e| {
            invalid(
                "form.terms_file",
                format!("cannot read `{}`: {e}", self.form.terms_file),
            )
        })
    }

    pub fn bank_holidays(&self) -> Result<Vec<NaiveDate>, ConfigError> {
        self.deadlines
            .bank_holidays
            .iter()
            .map(|d| {
                d.trim().parse().map_err(|_| {
                    invalid(
                        "deadlines.bank_holidays",
                        format!("`{d}` is not a YYYY-MM-DD date"),
                    )
                })
            })
            .collect()
    }

    pub fn time_zone(&self) -> Result<chrono_tz::Tz, ConfigError> {
        self.deadlines
            .time_zone
            .parse()
            .map_err(|_| invalid("deadlines.time_zone", "must be an IANA time zone name"))
    }
}
