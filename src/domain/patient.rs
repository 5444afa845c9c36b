//! The patient's fields and their rules: one definition, used by a patient's request, a partner's
//! new case and a partner's correction of one, so that a value accepted at creation is accepted
//! in a correction and the other way round.

use super::case::{ContactPreference, EmailAddress};

/// A field that breaks its rule: which field, and what the rule is (never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Trimmed text of at most `max` characters with no control characters (newlines allowed if
/// `multiline`); blank is `None`.
pub fn text(
    field: &'static str,
    raw: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, FieldError> {
    let Some(value) = raw.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if value.chars().any(bad) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(Some(value.to_owned()))
}

/// As [`text`], and not blank.
pub fn required(
    field: &'static str,
    raw: Option<&str>,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    text(field, raw, max, multiline)?.ok_or_else(|| invalid(field, "required"))
}

pub fn full_name(raw: Option<&str>) -> Result<String, FieldError> {
    required("full_name", raw, 200, false)
}

pub fn email(raw: Option<&str>) -> Result<EmailAddress, FieldError> {
    EmailAddress::parse(&required("email", raw, 254, false)?)
        .ok_or_else(|| invalid("email", "not a valid email address"))
}

/// An optional telephone number: 6-20 digits, with `+ - ( ) .` and spaces.
pub fn phone(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let phone = text("phone", raw, 40, false)?;
    if let Some(p) = &phone {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        let allowed = p
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
        if !(6..=20).contains(&digits) || !allowed {
            return Err(invalid("phone", "not a valid telephone number"));
        }
    }
    Ok(phone)
}

/// `email` (the default when blank) or `phone`.
pub fn contact_preference(raw: Option<&str>) -> Result<ContactPreference, FieldError> {
    match text("contact_preference", raw, 20, false)? {
        None => Ok(ContactPreference::Email),
        Some(raw) => ContactPreference::parse(&raw)
            .ok_or_else(|| invalid("contact_preference", "must be email or phone")),
    }
}

/// The rule across fields: contact by phone needs a number.
pub fn contact(phone: Option<&str>, preference: ContactPreference) -> Result<(), FieldError> {
    if phone.is_none() && preference == ContactPreference::Phone {
        return Err(invalid("phone", "required when contact by phone is chosen"));
    }
    Ok(())
}

pub fn condition(raw: Option<&str>) -> Result<String, FieldError> {
    required("condition", raw, 5000, true)
}

/// The letter of guarantee number or authorisation code (required for a sponsored case).
pub fn sponsor_reference(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    text("sponsor_reference", raw, 200, false)
}

/// The rule of one field on its own, for a field as soon as it has arrived (a request whose email
/// is not an address is refused before any file after it is read). Rules across fields, and
/// fields this list does not name, are checked when the request is complete.
pub fn check_field(name: &str, value: &str) -> Result<(), FieldError> {
    let value = Some(value);
    match name {
        "full_name" => full_name(value).map(drop),
        "email" => email(value).map(drop),
        "phone" => phone(value).map(drop),
        "contact_preference" => contact_preference(value).map(drop),
        "condition" => condition(value).map(drop),
        "sponsor_reference" => sponsor_reference(value).map(drop),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_those_of_the_request_form() {
        assert_eq!(full_name(Some("  Jane Doe ")).unwrap(), "Jane Doe");
        assert_eq!(full_name(Some(" ")).unwrap_err().message, "required");
        assert!(full_name(Some(&"x".repeat(201))).is_err());
        assert!(email(Some("not-an-email")).is_err());
        assert_eq!(phone(Some("")).unwrap(), None);
        assert!(phone(Some("call me")).is_err());
        assert!(phone(Some("12345")).is_err());
        assert_eq!(
            phone(Some("+44 (0)20 7946 0958")).unwrap().as_deref(),
            Some("+44 (0)20 7946 0958")
        );
        assert_eq!(contact_preference(None).unwrap(), ContactPreference::Email);
        assert!(contact_preference(Some("pigeon")).is_err());
        assert_eq!(
            contact(None, ContactPreference::Phone).unwrap_err().field,
            "phone"
        );
        assert!(condition(Some("line one\nline two")).is_ok());
        assert!(sponsor_reference(Some("LG\u{7}1")).is_err());
    }

    #[test]
    fn a_field_on_its_own_is_held_to_its_rule() {
        assert_eq!(
            check_field("email", "not-an-email").unwrap_err().field,
            "email"
        );
        assert_eq!(
            check_field("full_name", " ").unwrap_err().message,
            "required"
        );
        assert!(check_field("email", "a@example.org").is_ok());
        assert!(check_field("phone", "").is_ok(), "blank is absent");
        assert!(
            check_field("service", "anything").is_ok(),
            "checked with the others"
        );
    }
}
