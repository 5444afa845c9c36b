//! Office container checks: OLE2 (doc, ppt), OOXML (docx, pptx) and ODF
//! (odt, odp).
//!
//! Only small metadata parts are inflated (`[Content_Types].xml`, `.rels`
//! parts, ODF `mimetype`), each through a bounded reader; the document body is
//! never decompressed here.

use std::io::{Cursor, Read};

use super::{IntakeError, Kind};

mod odf;
mod ole2;
mod ooxml;
mod xml;

use odf::classify_odf;
pub(crate) use ole2::{check_ole2, describe_ole2};
use ooxml::classify_ooxml;

/// Most entries an OOXML/ODF container may have before we refuse to look.
const OFFICE_MAX_ENTRIES: usize = 10_000;

/// Inflation allowance when only labelling a zip for an error message.
const DESCRIBE_BUDGET: u64 = 1024 * 1024;
/// Parts inflating to at most this many bytes are exempt from the ratio
/// limit.
const RATIO_FLOOR: u64 = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZipClass {
    Docx,
    Pptx,
    Odt,
    Odp,
    /// An OOXML/ODF container recognised but not one we accept; the label
    /// says what it is (e.g. "OOXML document with macros").
    Office(&'static str),
    /// A zip that is not an office container.
    Plain,
    /// Could not be read; the label is a short reason.
    Malformed(&'static str),
}

impl ZipClass {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            ZipClass::Docx => "Word document (OOXML)",
            ZipClass::Pptx => "PowerPoint presentation (OOXML)",
            ZipClass::Odt => "OpenDocument text",
            ZipClass::Odp => "OpenDocument presentation",
            ZipClass::Office(label) | ZipClass::Malformed(label) => label,
            ZipClass::Plain => "ZIP archive",
        }
    }
}

/// Label for a zip, for mismatch messages. Shallow (no `.rels` scan) and
/// with a small inflation budget, since it may run once per archive member.
pub(crate) fn describe_zip(bytes: &[u8]) -> String {
    let mut budget = PartBudget::new(DESCRIBE_BUDGET, super::ArchiveLimits::default().max_ratio);
    classify_zip(bytes, &mut budget, false).label().into()
}

/// Inflation allowance for reading office metadata parts. Shared with the
/// enclosing archive's total when the document is an archive member.
#[derive(Debug)]
pub(crate) struct PartBudget {
    remaining: u64,
    max_ratio: u64,
    used: u64,
}

impl PartBudget {
    pub(crate) fn new(remaining: u64, max_ratio: u64) -> Self {
        PartBudget {
            remaining,
            max_ratio,
            used: 0,
        }
    }

    /// Inflated bytes consumed so far.
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// Inflated bytes still allowed.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Counts `bytes` inflated outside a part reader (a deflated DICOM data set).
    pub(crate) fn charge(&mut self, bytes: u64) {
        self.used += bytes;
        self.remaining = self.remaining.saturating_sub(bytes);
    }
}

/// `expected` is one of [`Kind::Docx`], [`Kind::Pptx`], [`Kind::Odt`],
/// [`Kind::Odp`].
pub(crate) fn check_zip_office(
    bytes: &[u8],
    expected: Kind,
    budget: &mut PartBudget,
) -> Result<(), IntakeError> {
    if !super::sniff::is_zip(bytes) {
        return Err(super::mismatch(bytes));
    }
    let class = classify_zip(bytes, budget, true);
    let ok = matches!(
        (expected, &class),
        (Kind::Docx, ZipClass::Docx)
            | (Kind::Pptx, ZipClass::Pptx)
            | (Kind::Odt, ZipClass::Odt)
            | (Kind::Odp, ZipClass::Odp)
    );
    if ok {
        Ok(())
    } else {
        Err(IntakeError::ContentMismatch {
            detected: class.label().into(),
        })
    }
}

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// Bounded reader for metadata parts, with a total budget across parts.
struct PartReader<'a, 'b> {
    archive: Archive<'a>,
    budget: &'b mut PartBudget,
}

const UNREADABLE: &str = "malformed office document";
const OVER_LIMIT: &str = "office document over the inspection limits";

impl PartReader<'_, '_> {
    /// Inflate member `index` up to `cap` bytes, within the budget and the
    /// ratio limit. Errors carry a [`ZipClass::Malformed`] label.
    fn read(&mut self, index: usize, cap: u64) -> Result<Vec<u8>, &'static str> {
        let file = self.archive.by_index(index).map_err(|_| UNREADABLE)?;
        let ratio_cap = self
            .budget
            .max_ratio
            .saturating_mul(file.compressed_size().max(1))
            .max(RATIO_FLOOR);
        let limit = cap.min(self.budget.remaining).min(ratio_cap);
        let mut buf = Vec::new();
        let result = file.take(limit + 1).read_to_end(&mut buf);
        let n = buf.len() as u64;
        self.budget.used += n;
        self.budget.remaining = self.budget.remaining.saturating_sub(n);
        result.map_err(|_| UNREADABLE)?;
        if n > limit {
            return Err(OVER_LIMIT);
        }
        Ok(buf)
    }
}

/// Classify a zip. `deep` also scans every `.rels` part for external
/// relationships (needed to accept a document; skipped for labels).
pub(crate) fn classify_zip(bytes: &[u8], budget: &mut PartBudget, deep: bool) -> ZipClass {
    let Ok(archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return ZipClass::Malformed("malformed ZIP archive");
    };
    if archive.offset() != 0 {
        return ZipClass::Malformed("ZIP archive with leading data");
    }
    if archive.len() > OFFICE_MAX_ENTRIES {
        return ZipClass::Malformed("ZIP archive with too many entries");
    }
    let names: Vec<String> = archive
        .file_names_raw()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    // `file_names_raw` is in central-directory order, which is index order.
    let mut parts = PartReader { archive, budget };
    if names.first().is_some_and(|n| n == "mimetype") {
        return classify_odf(&names, &mut parts);
    }
    if let Some(ct_index) = names.iter().position(|n| n == "[Content_Types].xml") {
        return classify_ooxml(&names, ct_index, &mut parts, deep);
    }
    ZipClass::Plain
}

#[cfg(test)]
pub(crate) mod tests;
