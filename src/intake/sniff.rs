//! Magic-number checks and a short human label for "what was detected".
//!
//! The `is_*` functions are the authoritative per-format checks used by
//! `inspect`. [`describe`] is only used to build the `detected` text of a
//! `ContentMismatch`; it uses `infer` as a fallback helper.

use super::office;

pub(crate) const OLE2_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
const EPS_DOS_MAGIC: [u8; 4] = [0xC5, 0xD0, 0xD3, 0xC6];
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

pub(crate) fn is_jpeg(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
}

pub(crate) fn is_png(b: &[u8]) -> bool {
    b.starts_with(&PNG_MAGIC)
}

pub(crate) fn is_gif(b: &[u8]) -> bool {
    b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")
}

pub(crate) fn is_bmp(b: &[u8]) -> bool {
    b.len() >= 26 && b.starts_with(b"BM")
}

pub(crate) fn is_tiff(b: &[u8]) -> bool {
    // Classic TIFF and BigTIFF, both byte orders.
    b.starts_with(b"II*\0")
        || b.starts_with(b"MM\0*")
        || b.starts_with(b"II+\0")
        || b.starts_with(b"MM\0+")
}

pub(crate) fn is_eps(b: &[u8]) -> bool {
    b.starts_with(b"%!PS-Adobe") || b.starts_with(&EPS_DOS_MAGIC)
}

/// `%PDF-` within the first 1024 bytes (readers tolerate leading junk), but
/// not when the file starts with an executable or container signature: that
/// leading junk would be a polyglot (e.g. a PE whose DOS stub holds `%PDF-`).
pub(crate) fn is_pdf(b: &[u8]) -> bool {
    let head = &b[..b.len().min(1024)];
    find(head, b"%PDF-").is_some() && !starts_with_foreign_signature(b)
}

fn is_executable(b: &[u8]) -> bool {
    const MACHO: [[u8; 4]; 5] = [
        [0xFE, 0xED, 0xFA, 0xCE],
        [0xFE, 0xED, 0xFA, 0xCF],
        [0xCE, 0xFA, 0xED, 0xFE],
        [0xCF, 0xFA, 0xED, 0xFE],
        [0xCA, 0xFE, 0xBA, 0xBE],
    ];
    b.starts_with(b"MZ") || b.starts_with(b"\x7FELF") || MACHO.iter().any(|m| b.starts_with(m))
}

fn starts_with_foreign_signature(b: &[u8]) -> bool {
    is_executable(b) || b.starts_with(b"#!") || is_zip(b) || is_empty_zip(b) || is_ole2(b)
}

pub(crate) fn is_rtf(b: &[u8]) -> bool {
    b.starts_with(b"{\\rtf")
}

pub(crate) fn is_ole2(b: &[u8]) -> bool {
    b.starts_with(&OLE2_MAGIC)
}

/// A zip that starts at offset 0 with a local file header (an archive with at
/// least one entry). Self-extracting executables and other prefixed zips are
/// not accepted.
pub(crate) fn is_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x03\x04")
}

/// An empty zip: just the end-of-central-directory record.
pub(crate) fn is_empty_zip(b: &[u8]) -> bool {
    b.starts_with(b"PK\x05\x06")
}

/// DICOM Part 10 (128-byte preamble followed by `DICM`), or a data set without preamble or meta
/// group, as hospital CDs often carry, recognised by its first elements parsing as DICOM.
pub(crate) fn is_dicom(b: &[u8]) -> bool {
    has_dicm_preamble(b) || crate::imaging::is_dicom(b)
}

/// DICOM Part 10: 128-byte preamble followed by `DICM`.
pub(crate) fn has_dicm_preamble(b: &[u8]) -> bool {
    b.len() >= 132 && &b[128..132] == b"DICM"
}

/// Plain text: valid UTF-8 (a leading BOM is allowed), no NUL byte, not empty.
pub(crate) fn is_text(b: &[u8]) -> bool {
    let body = b.strip_prefix(&UTF8_BOM).unwrap_or(b);
    !body.is_empty() && !body.contains(&0) && std::str::from_utf8(body).is_ok()
}

/// HTML: text which, after an optional BOM, whitespace, comments and an XML
/// declaration, starts with `<!doctype html`, `<html`, `<head` or `<body`
/// (case-insensitive, the tag name followed by whitespace, `>` or `/`).
pub(crate) fn is_html(b: &[u8]) -> bool {
    if !is_text(b) {
        return false;
    }
    let mut rest = b.strip_prefix(&UTF8_BOM).unwrap_or(b);
    loop {
        rest = trim_ascii_start(rest);
        if rest.starts_with(b"<!--") {
            match find(&rest[4..], b"-->") {
                Some(end) => rest = &rest[4 + end + 3..],
                None => return false,
            }
        } else if starts_with_ci(rest, b"<?xml") {
            match find(rest, b"?>") {
                Some(end) => rest = &rest[end + 2..],
                None => return false,
            }
        } else {
            break;
        }
    }
    if starts_with_ci(rest, b"<!doctype") {
        let after = trim_ascii_start(&rest[9..]);
        return starts_with_ci(after, b"html") && tag_name_ends(&after[4..]);
    }
    [b"<html".as_slice(), b"<head", b"<body"]
        .iter()
        .any(|tag| starts_with_ci(rest, tag) && tag_name_ends(&rest[tag.len()..]))
}

fn tag_name_ends(rest: &[u8]) -> bool {
    match rest.first() {
        None => false,
        Some(c) => c.is_ascii_whitespace() || *c == b'>' || *c == b'/',
    }
}

fn trim_ascii_start(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

pub(crate) fn starts_with_ci(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

type Check = fn(&[u8]) -> bool;

/// A short human label for what `bytes` look like. Never includes content.
pub(crate) fn describe(b: &[u8]) -> String {
    if b.is_empty() {
        return "empty file".into();
    }
    if b.starts_with(b"MZ") {
        return "Windows executable".into();
    }
    if b.starts_with(b"\x7FELF") {
        return "ELF executable".into();
    }
    if is_executable(b) {
        return "Mach-O executable".into();
    }
    if b.starts_with(b"#!") {
        return "script".into();
    }
    let simple: [(Check, &str); 9] = [
        (is_jpeg, "JPEG image"),
        (is_png, "PNG image"),
        (is_gif, "GIF image"),
        (is_tiff, "TIFF image"),
        (is_eps, "PostScript/EPS document"),
        (is_rtf, "RTF document"),
        (is_dicom, "DICOM file"),
        (is_bmp, "BMP image"),
        (is_pdf, "PDF document"),
    ];
    for (check, label) in simple {
        if check(b) {
            return label.into();
        }
    }
    if is_ole2(b) {
        return office::describe_ole2(b);
    }
    if is_zip(b) || is_empty_zip(b) {
        return office::describe_zip(b);
    }
    if let Some(t) = infer::get(b) {
        return format!("{} ({})", t.mime_type(), t.extension());
    }
    if is_html(b) {
        return "HTML document".into();
    }
    if is_text(b) {
        return "plain text".into();
    }
    if b.contains(&0) {
        return "binary data".into();
    }
    "unknown".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert!(is_text(b"hello\nworld"));
        assert!(is_text("\u{FEFF}Grüße".as_bytes()));
        assert!(!is_text(b"hello\0world"));
        assert!(!is_text(b"\xff\xfe\x00h"));
        assert!(!is_text(b""));
        assert!(!is_text(&UTF8_BOM));
    }

    #[test]
    fn html_rules() {
        assert!(is_html(b"<!DOCTYPE html>\n<html><body>x</body></html>"));
        assert!(is_html(
            b"\xEF\xBB\xBF  \n<!-- c -->\n<!-- d --><HTML lang=en>"
        ));
        assert!(is_html(b"<?xml version=\"1.0\"?>\n<!doctype html><html>"));
        assert!(is_html(b"<head><title>t</title></head>"));
        assert!(is_html(b"<body>\n"));
        assert!(!is_html(b"<htmlx>"));
        assert!(!is_html(b"hello <html>"));
        assert!(!is_html(b"<!-- unterminated <html>"));
        assert!(!is_html(b"<script>alert(1)</script>"));
        assert!(!is_html(b"<html>\0"));
    }

    #[test]
    fn magic_rules() {
        assert!(is_pdf(b"%PDF-1.7\n"));
        let mut late = vec![b' '; 1000];
        late.extend_from_slice(b"%PDF-1.4");
        assert!(is_pdf(&late));
        let mut too_late = vec![b' '; 1020];
        too_late.extend_from_slice(b"%PDF-1.4");
        assert!(!is_pdf(&too_late));
        let pe_polyglot = [b"MZ\x90\x00 stub %PDF-1.4".as_slice(), &[0; 16]].concat();
        assert!(!is_pdf(&pe_polyglot));
        assert_eq!(describe(&pe_polyglot), "Windows executable");
        assert!(is_eps(b"%!PS-Adobe-3.0 EPSF-3.0\n"));
        assert!(is_eps(&[0xC5, 0xD0, 0xD3, 0xC6, 0, 0]));
        assert!(!is_eps(b"%!PS\n"));
        assert!(is_rtf(b"{\\rtf1\\ansi }"));
        let mut dcm = vec![0u8; 128];
        dcm.extend_from_slice(b"DICM");
        assert!(is_dicom(&dcm));
        assert!(!has_dicm_preamble(b"DICM"));
        assert!(!is_dicom(b"Blood results: normal.\n"));
        assert!(!is_dicom(&[0u8; 256]));
    }

    #[test]
    fn describe_labels() {
        assert_eq!(describe(b"MZ\x90\x00\x03"), "Windows executable");
        assert_eq!(describe(b"\x7FELF\x02\x01"), "ELF executable");
        assert_eq!(describe(b"%PDF-1.4"), "PDF document");
        assert_eq!(describe(b"plain words"), "plain text");
        assert_eq!(describe(b"a\0b"), "binary data");
        assert_eq!(describe(b""), "empty file");
        assert_eq!(
            describe(b"7z\xBC\xAF\x27\x1C\x00\x04"),
            "application/x-7z-compressed (7z)"
        );
    }
}
