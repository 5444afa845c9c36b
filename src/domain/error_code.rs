//! The stable problem codes of API.md, each with its HTTP status, its title and the plain words a
//! person reads on its page (`/problems/{code}`). One definition: the server's problem documents
//! and pages, the metrics and the `push` client all use it.

/// Declares [`ErrorCode`] and [`ErrorCode::ALL`] from one list, so that no code can be left out
/// of either.
macro_rules! error_codes {
    ($($variant:ident => ($code:literal, $status:literal, $title:literal, $explanation:literal),)+) => {
        /// A problem code. Its string form ([`ErrorCode::as_str`]) is part of the API: do not
        /// change one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order of API.md.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            fn entry(self) -> (&'static str, u16, &'static str, &'static str) {
                match self {
                    $(ErrorCode::$variant => ($code, $status, $title, $explanation),)+
                }
            }
        }
    };
}

error_codes! {
    MalformedRequest => (
        "malformed-request",
        400,
        "The request could not be read",
        "What was sent could not be understood. Please try again; if it keeps happening, contact us."
    ),
    Unauthorized => (
        "unauthorized",
        401,
        "Sign-in required",
        "The key or token was missing or not recognised."
    ),
    Forbidden => (
        "forbidden",
        403,
        "Not allowed",
        "You are signed in, but this action is not allowed for you."
    ),
    NotFound => (
        "not-found",
        404,
        "Not found",
        "There is nothing here. Check the address or link you were given."
    ),
    LinkExpired => (
        "link-expired",
        410,
        "This link has expired",
        "Ask the person who sent it for a new link."
    ),
    LinkRevoked => (
        "link-revoked",
        410,
        "This link has been withdrawn",
        "Ask the person who sent it for a new link."
    ),
    LinkUsedUp => (
        "link-used-up",
        410,
        "This link has been used up",
        "Ask the person who sent it for a new link."
    ),
    IdempotencyConflict => (
        "idempotency-conflict",
        422,
        "Idempotency key reused",
        "This Idempotency-Key was already used with a different request body."
    ),
    Conflict => (
        "conflict",
        409,
        "Conflict",
        "The same request is still in progress, or the document already holds different content."
    ),
    FileTooLarge => (
        "file-too-large",
        413,
        "A file is too large",
        "Each file must be under 8 MB. Please make the file smaller (for example, a lower-resolution photo or a PDF split in two) and try again."
    ),
    RequestTimeout => (
        "request-timeout",
        408,
        "The upload stalled",
        "Nothing arrived for a while, so the upload was stopped and nothing was kept. Please check your connection and send it again."
    ),
    RequestTooLarge => (
        "request-too-large",
        413,
        "The request is too large",
        "Together the files are more than we can accept at once. Please send fewer files."
    ),
    ExtensionNotAllowed => (
        "extension-not-allowed",
        415,
        "This kind of file is not accepted here",
        "Reports may be PDF, Word, PowerPoint, OpenDocument, text, RTF, HTML, images or zip; images may be JPEG, PNG, GIF or zip (and DICOM for the images review)."
    ),
    ContentMismatch => (
        "content-mismatch",
        415,
        "A file is not what its name says",
        "The file's contents do not match its type (for example, a file named .pdf that is not a PDF), or it is an Office file containing macros. Please save it again as a plain document and retry."
    ),
    UnsupportedMediaType => (
        "unsupported-media-type",
        415,
        "Unsupported request type",
        "This address does not accept that kind of request body."
    ),
    InvalidField => (
        "invalid-field",
        422,
        "Please check your answers",
        "One of the answers is missing or not valid."
    ),
    TermsNotAccepted => (
        "terms-not-accepted",
        422,
        "Please accept the terms",
        "We can only accept your request once you have read and accepted the terms."
    ),
    TooManyImages => (
        "too-many-images",
        422,
        "Too many images",
        "Please send at most three image uploads. Several images can go in one zip file."
    ),
    TooManyFiles => (
        "too-many-files",
        422,
        "Too many files",
        "Please send fewer files, or put several in one zip file."
    ),
    ImagesRequired => (
        "images-required",
        422,
        "Images are needed for this service",
        "The Records and Images Review needs at least one image or image archive."
    ),
    ArchiveRejected => (
        "archive-rejected",
        422,
        "A zip file could not be accepted",
        "The zip file breaks one of our safety rules (for example, it contains a kind of file we do not accept, is encrypted, or is far larger unpacked than packed)."
    ),
    ImageRejected => (
        "image-rejected",
        422,
        "An image could not be accepted",
        "The image could not be read, or it is larger than we can process."
    ),
    ChecksumMismatch => (
        "checksum-mismatch",
        422,
        "Checksum mismatch",
        "The file's bytes do not match the SHA-256 that was declared for them."
    ),
    NotPreviewable => (
        "not-previewable",
        422,
        "No preview available",
        "This document has no image that can be shown as a preview."
    ),
    RateLimited => (
        "rate-limited",
        429,
        "Too many requests",
        "Please wait a moment and try again."
    ),
    IntegrityError => (
        "integrity-error",
        500,
        "A stored file could not be verified",
        "The file failed its integrity check and was not sent. The incident has been recorded; please contact us."
    ),
    InternalError => (
        "internal-error",
        500,
        "Something went wrong",
        "Something went wrong on our side. Nothing you sent was kept; please try again later."
    ),
    Unavailable => (
        "unavailable",
        503,
        "Temporarily unavailable",
        "The service is busy or briefly unavailable. Please try again in a few moments."
    ),
    InvalidTransition => (
        "invalid-transition",
        409,
        "Not possible at this stage",
        "The case has moved past the stage where this can be done."
    ),
    SignInFailed => (
        "sign-in-failed",
        401,
        "Sign-in failed",
        "The email, password or code was not right. Please try again."
    ),
    AccountLocked => (
        "account-locked",
        423,
        "Account locked for now",
        "Too many sign-ins failed. Please wait before trying again, or ask an administrator."
    ),
    SessionExpired => (
        "session-expired",
        401,
        "Your session has ended",
        "You were signed out after a time without activity, or at the end of the day. Please sign in again."
    ),
}

impl ErrorCode {
    /// The code as the API spells it (`invalid-field`).
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The HTTP status a response with this code carries.
    pub fn status(self) -> u16 {
        self.entry().1
    }

    /// The problem document's `title`.
    pub fn title(self) -> &'static str {
        self.entry().2
    }

    /// What the code means, in plain words, for its page.
    pub fn explanation(self) -> &'static str {
        self.entry().3
    }

    /// The code the API spells `code`, if it is one.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The path of the code's page, the problem document's `type`.
    pub fn page(self) -> String {
        format!("/problems/{}", self.as_str())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_spelt_once_parses_back_and_has_a_title_and_page_text() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL.iter().copied() {
            assert!(seen.insert(code.as_str()), "{code} spelt twice");
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert!(
                !code.title().is_empty() && !code.explanation().is_empty(),
                "{code}"
            );
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-'),
                "{code}"
            );
            assert_eq!(code.page(), format!("/problems/{code}"));
        }
        assert_eq!(ErrorCode::parse("no-such-code"), None);
    }

    /// The status of each code as API.md's table gives it. The match has no wildcard: a new code
    /// does not compile until its status is written here too.
    fn api_md_status(code: ErrorCode) -> u16 {
        use ErrorCode as C;
        match code {
            C::MalformedRequest => 400,
            C::Unauthorized | C::SignInFailed | C::SessionExpired => 401,
            C::Forbidden => 403,
            C::NotFound => 404,
            C::RequestTimeout => 408,
            C::Conflict | C::InvalidTransition => 409,
            C::LinkExpired | C::LinkRevoked | C::LinkUsedUp => 410,
            C::FileTooLarge | C::RequestTooLarge => 413,
            C::ExtensionNotAllowed | C::ContentMismatch | C::UnsupportedMediaType => 415,
            C::IdempotencyConflict
            | C::InvalidField
            | C::TermsNotAccepted
            | C::TooManyImages
            | C::TooManyFiles
            | C::ImagesRequired
            | C::ArchiveRejected
            | C::ImageRejected
            | C::ChecksumMismatch
            | C::NotPreviewable => 422,
            C::AccountLocked => 423,
            C::RateLimited => 429,
            C::IntegrityError | C::InternalError => 500,
            C::Unavailable => 503,
        }
    }

    #[test]
    fn every_code_maps_to_its_status_in_api_md() {
        for code in ErrorCode::ALL.iter().copied() {
            assert_eq!(code.status(), api_md_status(code), "{code}");
        }
    }
}
