//! Cases and documents: the choices a request makes and the states a case moves through.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Generates `as_str`/`parse` for a closed set of wire names.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// The wire names, in order (a problem's `allowed`).
            pub const NAMES: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire),+
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// The two services a patient can ask for.
    ServiceTier {
        RecordsReview => "records_review",
        RecordsAndImagesReview => "records_and_images_review",
    }
);

impl ServiceTier {
    /// Only the imaging tier may carry DICOM.
    pub fn allows_dicom(self) -> bool {
        matches!(self, Self::RecordsAndImagesReview)
    }
}

wire_enum!(
    /// How the patient wants to be contacted.
    ContactPreference {
        Email => "email",
        Phone => "phone",
    }
);

wire_enum!(
    /// Who pays for the opinion.
    Sponsor {
        SelfFunded => "self",
        Embassy => "embassy",
        Insurer => "insurer",
    }
);

wire_enum!(
    /// Where a case is in its life.
    CaseStatus {
        Received => "received",
        Contacted => "contacted",
        AwaitingPayment => "awaiting_payment",
        InReview => "in_review",
        OpinionDelivered => "opinion_delivered",
        Closed => "closed",
    }
);

impl CaseStatus {
    /// Whether a partner may still correct the case's contact details and sponsor reference:
    /// until the case is paid or sponsored (`ready`, here `in_review`) and the report clock runs.
    pub fn partner_may_correct(self) -> bool {
        match self {
            Self::Received | Self::Contacted | Self::AwaitingPayment => true,
            Self::InReview | Self::OpinionDelivered | Self::Closed => false,
        }
    }

    /// The statuses in which a partner may correct a case.
    pub fn partner_correctable() -> Vec<Self> {
        Self::ALL
            .iter()
            .copied()
            .filter(|s| s.partner_may_correct())
            .collect()
    }
}

wire_enum!(
    /// What a document is to the case.
    DocumentCategory {
        Report => "report",
        Image => "image",
        GuaranteeLetter => "guarantee_letter",
        Opinion => "opinion",
    }
);

wire_enum!(
    /// Who a link is for.
    LinkRole {
        Consultant => "consultant",
        Radiologist => "radiologist",
        Patient => "patient",
        Partner => "partner",
    }
);

wire_enum!(
    /// What a link allows.
    LinkScope {
        View => "view",
        Download => "download",
        Upload => "upload",
        Opinion => "opinion",
    }
);

/// A syntactically valid email address (RFC 5321 lengths, one `@`, a dotted domain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (local, domain) = s.rsplit_once('@')?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        (local_ok && domain_ok).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for tier in ServiceTier::ALL {
            assert_eq!(ServiceTier::parse(tier.as_str()), Some(*tier));
        }
        assert_eq!(Sponsor::parse("self"), Some(Sponsor::SelfFunded));
        assert_eq!(CaseStatus::parse("nope"), None);
        assert!(ServiceTier::RecordsAndImagesReview.allows_dicom());
        assert!(!ServiceTier::RecordsReview.allows_dicom());
    }

    #[test]
    fn email_addresses_are_checked() {
        for good in ["a@b.co", "jane.doe+smo@example.org", "x@mail.example.com"] {
            assert!(EmailAddress::parse(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.co",
            "a@.co",
            "a b@c.co",
            "a@b..co",
            "a@-b.co",
            ".a@b.co",
            "a..b@c.co",
        ] {
            assert!(EmailAddress::parse(bad).is_none(), "{bad}");
        }
    }
}
