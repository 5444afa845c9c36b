//! OpenDocument containers (odt, odp): the `mimetype` member and script folders.

use super::{PartReader, ZipClass};

/// Largest ODF `mimetype` member we read.
const MIMETYPE_CAP: u64 = 256;

pub(super) const ODT_MIME: &str = "application/vnd.oasis.opendocument.text";
pub(super) const ODP_MIME: &str = "application/vnd.oasis.opendocument.presentation";

pub(super) fn classify_odf(names: &[String], parts: &mut PartReader<'_, '_>) -> ZipClass {
    let mimetype = match parts.read(0, MIMETYPE_CAP) {
        Ok(m) => m,
        Err(label) => return ZipClass::Malformed(label),
    };
    // Case-insensitive so that `basic/` cannot slip past on a
    // case-insensitive reader.
    let has_scripts = names.iter().any(|n| {
        let n = n.to_ascii_lowercase();
        n.starts_with("basic/") || n.starts_with("scripts/")
    });
    if has_scripts {
        return ZipClass::Office("OpenDocument file with macros");
    }
    match mimetype.as_slice() {
        m if m == ODT_MIME.as_bytes() => ZipClass::Odt,
        m if m == ODP_MIME.as_bytes() => ZipClass::Odp,
        b"application/vnd.oasis.opendocument.spreadsheet" => {
            ZipClass::Office("OpenDocument spreadsheet")
        }
        b"application/vnd.oasis.opendocument.graphics" => ZipClass::Office("OpenDocument drawing"),
        _ => ZipClass::Office("OpenDocument file of another kind"),
    }
}
