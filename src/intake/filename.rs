//! Original filenames as supplied by the uploader.
//!
//! A [`Filename`] is display metadata only: it is never used to build a path
//! on disk. It is NFC-normalised and refuses characters that could confuse a
//! reader or a downstream tool (control characters, bidirectional controls,
//! line/paragraph separators, path separators).

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// Longest accepted filename, in bytes of UTF-8 (after NFC normalisation).
pub const MAX_FILENAME_BYTES: usize = 255;

/// Why a filename was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    #[error("filename is empty")]
    Empty,
    #[error("filename is {len} bytes long (limit {MAX_FILENAME_BYTES})")]
    TooLong { len: usize },
    #[error("filename contains a control character")]
    ControlCharacter,
    #[error("filename contains a bidirectional control character")]
    BidiControl,
    #[error("filename contains a line or paragraph separator")]
    LineSeparator,
    #[error("filename contains a path separator")]
    PathSeparator,
    #[error("filename is a relative path component")]
    DotName,
}

/// A sanitised original filename (NFC, no control/bidi characters, no path
/// separators, 1..=255 bytes, not `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filename(String);

/// Bidirectional formatting characters: embeddings/overrides (U+202A–U+202E),
/// isolates (U+2066–U+2069), LRM/RLM (U+200E, U+200F) and ALM (U+061C).
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// C0 controls, DEL and C1 controls (`char::is_control` is exactly Unicode
/// category Cc, which is these three ranges).
pub(crate) fn is_forbidden_control(c: char) -> bool {
    c.is_control()
}

fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

impl Filename {
    /// Normalise (NFC) and validate an uploaded filename.
    pub fn parse(raw: &str) -> Result<Filename, FilenameError> {
        let name: String = raw.nfc().collect();
        if name.is_empty() {
            return Err(FilenameError::Empty);
        }
        if name.len() > MAX_FILENAME_BYTES {
            return Err(FilenameError::TooLong { len: name.len() });
        }
        for c in name.chars() {
            if is_forbidden_control(c) {
                return Err(FilenameError::ControlCharacter);
            }
            if is_bidi_control(c) {
                return Err(FilenameError::BidiControl);
            }
            if is_line_separator(c) {
                return Err(FilenameError::LineSeparator);
            }
            if c == '/' || c == '\\' {
                return Err(FilenameError::PathSeparator);
            }
        }
        if name == "." || name == ".." {
            return Err(FilenameError::DotName);
        }
        Ok(Filename(name))
    }

    /// The normalised filename.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-cased extension after the last dot; `None` when there is no
    /// dot, when the only dot is the leading one (`.bashrc`), or when the
    /// name ends with a dot.
    #[must_use]
    pub fn extension(&self) -> Option<String> {
        extension_of(&self.0)
    }
}

/// Extension rule shared by [`Filename::extension`] and archive members
/// (where `name` is the last path component).
pub(crate) fn extension_of(name: &str) -> Option<String> {
    let idx = name.rfind('.')?;
    if idx == 0 {
        return None;
    }
    let ext = &name[idx + 1..];
    if ext.is_empty() {
        return None;
    }
    Some(ext.to_lowercase())
}

impl fmt::Display for Filename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Filename {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A version of an untrusted name (e.g. a zip member path) that is safe to
/// put into an error reason: control, bidi and separator-line characters are
/// replaced with U+FFFD and the result is cut to 120 characters.
pub(crate) fn display_safe(name: &str) -> String {
    const MAX_CHARS: usize = 120;
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if is_forbidden_control(c) || is_bidi_control(c) || is_line_separator(c) {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        let f = Filename::parse("Befund 2024-01-03.PDF").unwrap();
        assert_eq!(f.as_str(), "Befund 2024-01-03.PDF");
        assert_eq!(f.extension().as_deref(), Some("pdf"));
        let f = Filename::parse("снимок.jpeg").unwrap();
        assert_eq!(f.extension().as_deref(), Some("jpeg"));
    }

    #[test]
    fn nfc_normalises() {
        // "e" + COMBINING ACUTE ACCENT becomes U+00E9.
        let f = Filename::parse("caf\u{0065}\u{0301}.txt").unwrap();
        assert_eq!(f.as_str(), "caf\u{00E9}.txt");
        assert_eq!(f.as_str().len(), "café.txt".len());
    }

    #[test]
    fn extension_rules() {
        let ext = |s: &str| Filename::parse(s).unwrap().extension();
        assert_eq!(ext("noext"), None);
        assert_eq!(ext(".bashrc"), None);
        assert_eq!(ext("trailing."), None);
        assert_eq!(ext("archive.tar.GZ").as_deref(), Some("gz"));
        assert_eq!(ext(".hidden.Png").as_deref(), Some("png"));
    }

    #[test]
    fn rejects_empty_and_dot_names() {
        assert_eq!(Filename::parse(""), Err(FilenameError::Empty));
        assert_eq!(Filename::parse("."), Err(FilenameError::DotName));
        assert_eq!(Filename::parse(".."), Err(FilenameError::DotName));
        assert!(Filename::parse("...").is_ok());
    }

    #[test]
    fn rejects_path_separators() {
        assert_eq!(
            Filename::parse("a/b.pdf"),
            Err(FilenameError::PathSeparator)
        );
        assert_eq!(
            Filename::parse("..\\b.pdf"),
            Err(FilenameError::PathSeparator)
        );
        assert_eq!(
            Filename::parse("/etc/passwd"),
            Err(FilenameError::PathSeparator)
        );
    }

    #[test]
    fn rejects_control_characters() {
        for s in [
            "a\0b.pdf",
            "a\nb.pdf",
            "a\tb.pdf",
            "a\u{7F}.pdf",
            "a\u{85}.pdf",
            "a\u{9F}.pdf",
        ] {
            assert_eq!(
                Filename::parse(s),
                Err(FilenameError::ControlCharacter),
                "{s:?}"
            );
        }
        assert_eq!(
            Filename::parse("a\u{2028}b.pdf"),
            Err(FilenameError::LineSeparator)
        );
    }

    #[test]
    fn rejects_bidi_controls() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            let s = format!("invoice{c}fdp.exe");
            assert_eq!(
                Filename::parse(&s),
                Err(FilenameError::BidiControl),
                "{c:?}"
            );
        }
    }

    #[test]
    fn length_limit_is_in_utf8_bytes() {
        let ok = format!("{}.pdf", "a".repeat(251));
        assert_eq!(ok.len(), 255);
        assert!(Filename::parse(&ok).is_ok());
        let too_long = format!("{}.pdf", "a".repeat(252));
        assert_eq!(
            Filename::parse(&too_long),
            Err(FilenameError::TooLong { len: 256 })
        );
        // 128 two-byte characters: 128 chars but 256 bytes.
        let multibyte = "é".repeat(128);
        assert_eq!(
            Filename::parse(&multibyte),
            Err(FilenameError::TooLong { len: 256 })
        );
        // Decomposed input that composes to fit: 255 bytes after NFC.
        let decomposed = format!("{}{}", "e\u{0301}".repeat(127), "x");
        assert!(decomposed.len() > 255);
        assert!(Filename::parse(&decomposed).is_ok());
    }

    #[test]
    fn display_safe_masks_dangerous_characters() {
        assert_eq!(display_safe("a\u{202E}b\nc"), "a\u{FFFD}b\u{FFFD}c");
        assert_eq!(display_safe(&"x".repeat(200)).chars().count(), 121);
    }
}
