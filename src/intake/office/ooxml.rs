//! OOXML containers (docx, pptx): content types, relationships and macros.

use std::collections::HashSet;

use super::xml::{attr, decode_xml, elements};
use super::{PartReader, ZipClass};

/// Largest metadata part we inflate (content types, relationships).
const PART_CAP: u64 = 4 * 1024 * 1024;

pub(super) const DOCX_MAIN: &str =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";
pub(super) const PPTX_MAIN: &str =
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml";

pub(super) fn classify_ooxml(
    names: &[String],
    ct_index: usize,
    parts: &mut PartReader<'_, '_>,
    deep: bool,
) -> ZipClass {
    const MALFORMED: ZipClass = ZipClass::Malformed("malformed OOXML document");
    let ct_bytes = match parts.read(ct_index, PART_CAP) {
        Ok(b) => b,
        Err(label) => return ZipClass::Malformed(label),
    };
    let Some(ct_xml) = decode_xml(&ct_bytes) else {
        return MALFORMED;
    };
    let defaults = elements(&ct_xml, "Default");
    let overrides = elements(&ct_xml, "Override");
    let all_types = defaults
        .iter()
        .chain(&overrides)
        .filter_map(|a| attr(a, "ContentType"));

    // Code-carrying content.
    let mut has_activex = false;
    for ct in all_types {
        let ct = ct.to_ascii_lowercase();
        if ct.contains("macroenabled") || ct.contains("vbaproject") {
            return ZipClass::Office("OOXML document with macros");
        }
        if ct.contains("activex") {
            has_activex = true;
        }
    }
    let lower_names: HashSet<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let basename = |n: &str| n.rsplit(['/', '\\']).next().unwrap_or_default().to_owned();
    if lower_names.iter().any(|n| {
        let b = basename(n);
        b.starts_with("vbaproject")
            && std::path::Path::new(&b)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("bin"))
    }) {
        return ZipClass::Office("OOXML document with macros");
    }
    if has_activex || lower_names.iter().any(|n| n.contains("/activex/")) {
        return ZipClass::Office("OOXML document with ActiveX controls");
    }

    // External relationships (remote template injection, remote images/OLE).
    for (index, name) in names.iter().enumerate() {
        if !deep || !name.to_ascii_lowercase().ends_with(".rels") {
            continue;
        }
        let rels = match parts.read(index, PART_CAP) {
            Ok(b) => b,
            Err(label) => return ZipClass::Malformed(label),
        };
        let Some(rels) = decode_xml(&rels) else {
            return MALFORMED;
        };
        // A hyperlink is only followed when the reader clicks it; anything else external
        // (attachedTemplate, oleObject, image, frame) is fetched when the file opens.
        let external = elements(&rels, "Relationship").iter().any(|a| {
            attr(a, "TargetMode").is_some_and(|m| m.trim().eq_ignore_ascii_case("external"))
                && !attr(a, "Type")
                    .is_some_and(|t| t.trim().to_ascii_lowercase().ends_with("/hyperlink"))
        });
        if external {
            return ZipClass::Office("OOXML document with external relationships");
        }
    }

    // Main part: an Override with the main content type whose part exists.
    let main_types: Vec<String> = overrides
        .iter()
        .filter_map(|a| {
            let ct = attr(a, "ContentType")?.to_ascii_lowercase();
            let part = attr(a, "PartName")?;
            let part = part.strip_prefix('/').unwrap_or(part).to_ascii_lowercase();
            (ct.ends_with(".main+xml") && lower_names.contains(&part)).then_some(ct)
        })
        .collect();
    if main_types.iter().any(|t| t == DOCX_MAIN) {
        ZipClass::Docx
    } else if main_types.iter().any(|t| t == PPTX_MAIN) {
        ZipClass::Pptx
    } else if main_types.iter().any(|t| t.contains("spreadsheetml")) {
        ZipClass::Office("Excel workbook (OOXML)")
    } else if main_types.iter().any(|t| t.contains("wordprocessingml")) {
        ZipClass::Office("Word template (OOXML)")
    } else if main_types.iter().any(|t| t.contains("presentationml")) {
        ZipClass::Office("PowerPoint slideshow or template (OOXML)")
    } else {
        ZipClass::Office("OOXML package without a recognised main part")
    }
}
