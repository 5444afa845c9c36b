//! Identifiers: UUIDv7 newtypes, and the object keys derived from them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// One second-opinion request and everything that belongs to it.
    CaseId
);
uuid_id!(
    /// One link issued to a recipient for one case.
    LinkId
);
uuid_id!(
    /// One stored document (report, image, guarantee letter, opinion).
    DocumentId
);

/// Where a blob lives in the blob store. Built only from ids: never carries personal data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn document(case: CaseId, document: DocumentId) -> Self {
        Self(format!("cases/{case}/documents/{document}"))
    }

    /// A rendered preview of a document, cached (sealed like the document) under a variant name
    /// made of the rendering parameters.
    pub fn preview(case: CaseId, document: DocumentId, variant: &str) -> Self {
        Self(format!("cases/{case}/previews/{document}/{variant}"))
    }

    /// Accepts only keys of the shapes this service generates.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split('/').collect();
        match parts.as_slice() {
            ["cases", case, "documents", doc] => {
                Some(Self::document(case.parse().ok()?, doc.parse().ok()?))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_key_holds_only_ids_and_parses_back() {
        let case = CaseId::new();
        let doc = DocumentId::new();
        let key = ObjectKey::document(case, doc);
        assert_eq!(key.as_str(), format!("cases/{case}/documents/{doc}"));
        assert_eq!(ObjectKey::parse(key.as_str()), Some(key));
        assert_eq!(ObjectKey::parse("cases/../documents/x"), None);
        assert_eq!(ObjectKey::parse("cases/a/b"), None);
    }

    #[test]
    fn ids_are_version_7() {
        assert_eq!(CaseId::new().as_uuid().get_version_num(), 7);
    }
}
