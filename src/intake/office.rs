//! Office container checks: OLE2 (doc, ppt), OOXML (docx, pptx) and ODF
//! (odt, odp).
//!
//! Only small metadata parts are inflated (`[Content_Types].xml`, `.rels`
//! parts, ODF `mimetype`), each through a bounded reader; the document body is
//! never decompressed here.

use std::collections::HashSet;
use std::io::{Cursor, Read};

use super::{IntakeError, Kind};

/// Most entries an OOXML/ODF container may have before we refuse to look.
const OFFICE_MAX_ENTRIES: usize = 10_000;
/// Largest metadata part we inflate (content types, relationships).
const PART_CAP: u64 = 4 * 1024 * 1024;
/// Largest ODF `mimetype` member we read.
const MIMETYPE_CAP: u64 = 256;
/// Inflation allowance when only labelling a zip for an error message.
const DESCRIBE_BUDGET: u64 = 1024 * 1024;
/// Parts inflating to at most this many bytes are exempt from the ratio
/// limit.
const RATIO_FLOOR: u64 = 1024;

const DOCX_MAIN: &str =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";
const PPTX_MAIN: &str =
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml";
const ODT_MIME: &str = "application/vnd.oasis.opendocument.text";
const ODP_MIME: &str = "application/vnd.oasis.opendocument.presentation";

/// OLE2 storages/streams that hold VBA projects or macros.
const OLE2_MACRO_NAMES: [&str; 4] = ["macros", "_vba_project_cur", "vba", "_vba_project"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ole2Class {
    Doc,
    Ppt,
    WithMacros,
    Encrypted,
    Excel,
    Other,
    Malformed,
}

impl Ole2Class {
    fn label(&self) -> &'static str {
        match self {
            Ole2Class::Doc => "Word 97-2003 document",
            Ole2Class::Ppt => "PowerPoint 97-2003 presentation",
            Ole2Class::WithMacros => "OLE2 document with macros",
            Ole2Class::Encrypted => "encrypted Office document",
            Ole2Class::Excel => "Excel 97-2003 workbook",
            Ole2Class::Other => "OLE2 compound file",
            Ole2Class::Malformed => "malformed OLE2 compound file",
        }
    }
}

pub(crate) fn classify_ole2(bytes: &[u8]) -> Ole2Class {
    let Ok(comp) = cfb::CompoundFile::open(Cursor::new(bytes)) else {
        return Ole2Class::Malformed;
    };
    let has_macros = comp.walk().any(|entry| {
        let name = entry.name().to_ascii_lowercase();
        OLE2_MACRO_NAMES.contains(&name.as_str())
    });
    if has_macros {
        Ole2Class::WithMacros
    } else if comp.is_stream("/EncryptedPackage") {
        Ole2Class::Encrypted
    } else if comp.is_stream("/WordDocument") {
        Ole2Class::Doc
    } else if comp.is_stream("/PowerPoint Document") {
        Ole2Class::Ppt
    } else if comp.is_stream("/Workbook") || comp.is_stream("/Book") {
        Ole2Class::Excel
    } else {
        Ole2Class::Other
    }
}

pub(crate) fn describe_ole2(bytes: &[u8]) -> String {
    classify_ole2(bytes).label().into()
}

/// `expected` is [`Kind::Doc`] or [`Kind::Ppt`].
pub(crate) fn check_ole2(bytes: &[u8], expected: Kind) -> Result<(), IntakeError> {
    if !super::sniff::is_ole2(bytes) {
        return Err(super::mismatch(bytes));
    }
    let class = classify_ole2(bytes);
    let ok = matches!(
        (expected, &class),
        (Kind::Doc, Ole2Class::Doc) | (Kind::Ppt, Ole2Class::Ppt)
    );
    if ok {
        Ok(())
    } else {
        Err(IntakeError::ContentMismatch {
            detected: class.label().into(),
        })
    }
}

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

fn classify_odf(names: &[String], parts: &mut PartReader<'_, '_>) -> ZipClass {
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

fn classify_ooxml(
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

/// Decode an XML part: UTF-8 (optional BOM) or UTF-16 with BOM.
fn decode_xml(bytes: &[u8]) -> Option<String> {
    let utf16 = |le: bool| {
        let rest = &bytes[2..];
        if !rest.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xFF, 0xFE, ..] => utf16(true),
        [0xFE, 0xFF, ..] => utf16(false),
        _ => {
            let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
            std::str::from_utf8(body).ok().map(str::to_owned)
        }
    }
}

type Attrs = Vec<(String, String)>;

fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| local_name(k) == name)
        .map(|(_, v)| v.as_str())
}

fn local_name(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// A minimal XML start-tag scanner: returns the attributes of every element
/// whose local name is `wanted`. Comments, processing instructions, CDATA and
/// declarations are skipped. Entity references in values are decoded for the
/// five predefined entities only.
fn elements(xml: &str, wanted: &str) -> Vec<Attrs> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        let skip_to = |rest: &str, open: &str, close: &str| -> Option<usize> {
            if rest.starts_with(open) {
                Some(rest.find(close).map_or(rest.len(), |i| i + close.len()))
            } else {
                None
            }
        };
        if let Some(n) = skip_to(rest, "<!--", "-->")
            .or_else(|| skip_to(rest, "<![CDATA[", "]]>"))
            .or_else(|| skip_to(rest, "<?", "?>"))
            .or_else(|| skip_to(rest, "<!", ">"))
        {
            rest = &rest[n..];
            continue;
        }
        rest = &rest[1..];
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = &rest[name_end..];
        let (attrs, consumed) = parse_attrs(rest);
        rest = &rest[consumed..];
        if local_name(name) == wanted {
            out.push(attrs);
        }
    }
    out
}

/// Parse attributes up to the closing `>`; returns them and the number of
/// bytes consumed.
fn parse_attrs(s: &str) -> (Attrs, usize) {
    let bytes = s.as_bytes();
    let mut attrs = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, i);
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        let key_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let key = &s[key_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, i);
        }
        let quote = bytes[i];
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        i += 1;
        let value_start = i;
        while i < bytes.len() && bytes[i] != quote {
            i += 1;
        }
        let value = &s[value_start..i];
        attrs.push((key.to_owned(), unescape(value)));
        i = (i + 1).min(bytes.len());
    }
}

fn unescape(v: &str) -> String {
    if !v.contains('&') {
        return v.to_owned();
    }
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    pub(crate) const CT_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>"#;

    pub(crate) const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    /// A minimal docx. `extra_ct` is appended to `[Content_Types].xml`,
    /// `doc_rels` becomes word/_rels/document.xml.rels, `extra` adds members.
    pub(crate) fn docx_with(
        main_ct: &str,
        extra_ct: &str,
        doc_rels: Option<&str>,
        extra: &[(&str, &[u8])],
    ) -> Vec<u8> {
        let ct = format!(
            "{CT_HEAD}<Override PartName=\"/word/document.xml\" ContentType=\"{main_ct}\"/>{extra_ct}</Types>"
        );
        let doc = br#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p/></w:body></w:document>"#;
        let mut entries: Vec<(&str, &[u8])> = vec![
            ("[Content_Types].xml", ct.as_bytes()),
            ("_rels/.rels", ROOT_RELS.as_bytes()),
            ("word/document.xml", doc),
        ];
        if let Some(r) = doc_rels {
            entries.push(("word/_rels/document.xml.rels", r.as_bytes()));
        }
        entries.extend_from_slice(extra);
        zip_of(&entries)
    }

    pub(crate) fn docx() -> Vec<u8> {
        docx_with(DOCX_MAIN, "", None, &[])
    }

    pub(crate) fn pptx() -> Vec<u8> {
        let ct = format!(
            "{CT_HEAD}<Override PartName=\"/ppt/presentation.xml\" ContentType=\"{PPTX_MAIN}\"/></Types>"
        );
        zip_of(&[
            ("[Content_Types].xml", ct.as_bytes()),
            (
                "_rels/.rels",
                ROOT_RELS
                    .replace("word/document.xml", "ppt/presentation.xml")
                    .as_bytes(),
            ),
            ("ppt/presentation.xml", b"<p:presentation xmlns:p=\"x\"/>"),
        ])
    }

    pub(crate) fn odf(mimetype: &str, extra: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        w.start_file("mimetype", stored).unwrap();
        w.write_all(mimetype.as_bytes()).unwrap();
        let deflated =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("content.xml", deflated).unwrap();
        w.write_all(b"<office:document-content/>").unwrap();
        w.start_file("META-INF/manifest.xml", deflated).unwrap();
        w.write_all(b"<manifest:manifest/>").unwrap();
        for (name, data) in extra {
            w.start_file(*name, deflated).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    pub(crate) fn ole2(streams: &[&str], storages: &[&str]) -> Vec<u8> {
        let mut comp = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        for storage in storages {
            comp.create_storage(storage).unwrap();
        }
        for stream in streams {
            let mut s = comp.create_stream(stream).unwrap();
            s.write_all(&[0xEC, 0xA5, 0xC1, 0x00]).unwrap();
        }
        comp.flush().unwrap();
        comp.into_inner().into_inner()
    }

    fn budget() -> PartBudget {
        PartBudget::new(64 * 1024 * 1024, 100)
    }

    fn detected(r: Result<(), IntakeError>) -> String {
        match r {
            Err(IntakeError::ContentMismatch { detected }) => detected,
            other => panic!("expected ContentMismatch, got {other:?}"),
        }
    }

    #[test]
    fn ole2_doc_and_ppt() {
        let doc = ole2(&["/WordDocument", "/1Table"], &["/ObjectPool"]);
        assert_eq!(
            check_ole2(&doc, Kind::Doc).map_err(|e| e.to_string()),
            Ok(())
        );
        assert_eq!(
            detected(check_ole2(&doc, Kind::Ppt)),
            "Word 97-2003 document"
        );
        let ppt = ole2(&["/PowerPoint Document", "/Current User"], &[]);
        assert!(check_ole2(&ppt, Kind::Ppt).is_ok());
        assert_eq!(
            detected(check_ole2(&ppt, Kind::Doc)),
            "PowerPoint 97-2003 presentation"
        );
        let xls = ole2(&["/Workbook"], &[]);
        assert_eq!(
            detected(check_ole2(&xls, Kind::Doc)),
            "Excel 97-2003 workbook"
        );
        let enc = ole2(&["/EncryptedPackage", "/EncryptionInfo"], &[]);
        assert_eq!(
            detected(check_ole2(&enc, Kind::Doc)),
            "encrypted Office document"
        );
        assert_eq!(
            detected(check_ole2(&OLE2_MAGIC_TRUNCATED, Kind::Doc)),
            "malformed OLE2 compound file"
        );
    }

    const OLE2_MAGIC_TRUNCATED: [u8; 8] = super::super::sniff::OLE2_MAGIC;

    #[test]
    fn ole2_macros_rejected() {
        let with_macros = ole2(
            &["/WordDocument", "/Macros/VBA/dir"],
            &["/Macros", "/Macros/VBA"],
        );
        assert_eq!(
            detected(check_ole2(&with_macros, Kind::Doc)),
            "OLE2 document with macros"
        );
        for name in ["/_VBA_PROJECT_CUR", "/VBA", "/_VBA_PROJECT"] {
            let f = ole2(&["/WordDocument"], &[name]);
            assert_eq!(
                detected(check_ole2(&f, Kind::Doc)),
                "OLE2 document with macros",
                "{name}"
            );
        }
        let f = ole2(&["/PowerPoint Document", "/_VBA_PROJECT"], &[]);
        assert_eq!(
            detected(check_ole2(&f, Kind::Ppt)),
            "OLE2 document with macros"
        );
    }

    #[test]
    fn ooxml_accepts_docx_and_pptx() {
        assert!(check_zip_office(&docx(), Kind::Docx, &mut budget()).is_ok());
        assert!(check_zip_office(&pptx(), Kind::Pptx, &mut budget()).is_ok());
        assert_eq!(
            detected(check_zip_office(&docx(), Kind::Pptx, &mut budget())),
            "Word document (OOXML)"
        );
        assert_eq!(
            detected(check_zip_office(&pptx(), Kind::Docx, &mut budget())),
            "PowerPoint presentation (OOXML)"
        );
        // A hyperlink-free relationship part with internal targets is fine.
        let rels = r#"<Relationships><Relationship Id="rId1" Type="http://x/styles" Target="styles.xml"/></Relationships>"#;
        assert!(
            check_zip_office(
                &docx_with(DOCX_MAIN, "", Some(rels), &[]),
                Kind::Docx,
                &mut budget()
            )
            .is_ok()
        );
    }

    #[test]
    fn ooxml_fooling_infer_rejected() {
        // infer calls this a docx: a zip with a word/ folder.
        let fake = zip_of(&[
            ("word/document.xml", b"<w:document/>"),
            ("word/x.txt", b"hi"),
        ]);
        assert_eq!(infer::get(&fake).map(|t| t.extension()), Some("docx"));
        assert_eq!(
            detected(check_zip_office(&fake, Kind::Docx, &mut budget())),
            "ZIP archive"
        );
        // Content types present but no main override.
        let ct = format!("{CT_HEAD}</Types>");
        let no_main = zip_of(&[
            ("[Content_Types].xml", ct.as_bytes()),
            ("word/document.xml", b"<x/>"),
        ]);
        assert_eq!(
            detected(check_zip_office(&no_main, Kind::Docx, &mut budget())),
            "OOXML package without a recognised main part"
        );
        // Override present, part missing.
        let ct = format!(
            "{CT_HEAD}<Override PartName=\"/word/document.xml\" ContentType=\"{DOCX_MAIN}\"/></Types>"
        );
        let missing = zip_of(&[("[Content_Types].xml", ct.as_bytes())]);
        assert!(check_zip_office(&missing, Kind::Docx, &mut budget()).is_err());
        // Override only inside a comment does not count.
        let ct = format!(
            "{CT_HEAD}<!-- <Override PartName=\"/word/document.xml\" ContentType=\"{DOCX_MAIN}\"/> --></Types>"
        );
        let commented = zip_of(&[
            ("[Content_Types].xml", ct.as_bytes()),
            ("word/document.xml", b"<x/>"),
        ]);
        assert!(check_zip_office(&commented, Kind::Docx, &mut budget()).is_err());
    }

    #[test]
    fn ooxml_macros_rejected() {
        let vba = docx_with(
            DOCX_MAIN,
            "",
            None,
            &[("word/vbaProject.bin", b"\xD0\xCF\x11\xE0")],
        );
        assert_eq!(
            detected(check_zip_office(&vba, Kind::Docx, &mut budget())),
            "OOXML document with macros"
        );
        let docm = docx_with(
            "application/vnd.ms-word.document.macroEnabled.main+xml",
            "",
            None,
            &[],
        );
        assert_eq!(
            detected(check_zip_office(&docm, Kind::Docx, &mut budget())),
            "OOXML document with macros"
        );
        let vba_default = docx_with(
            DOCX_MAIN,
            r#"<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>"#,
            None,
            &[],
        );
        assert_eq!(
            detected(check_zip_office(&vba_default, Kind::Docx, &mut budget())),
            "OOXML document with macros"
        );
        let activex = docx_with(DOCX_MAIN, "", None, &[("word/activeX/activeX1.bin", b"x")]);
        assert_eq!(
            detected(check_zip_office(&activex, Kind::Docx, &mut budget())),
            "OOXML document with ActiveX controls"
        );
    }

    #[test]
    fn ooxml_external_relationship_rejected() {
        let rels = r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate"
 Target="https://evil.example/t.dotm" TargetMode='External'/></Relationships>"#;
        let f = docx_with(DOCX_MAIN, "", Some(rels), &[]);
        assert_eq!(
            detected(check_zip_office(&f, Kind::Docx, &mut budget())),
            "OOXML document with external relationships"
        );
        // Any .rels part, any case of the value.
        let settings_rels = r#"<Relationships><Relationship Id="a" Type="t" Target="x" TargetMode="EXTERNAL"/></Relationships>"#;
        let f = docx_with(
            DOCX_MAIN,
            "",
            None,
            &[("word/_rels/settings.xml.rels", settings_rels.as_bytes())],
        );
        assert!(check_zip_office(&f, Kind::Docx, &mut budget()).is_err());
    }

    #[test]
    fn odf_rules() {
        let odt = odf(ODT_MIME, &[]);
        let odp = odf(ODP_MIME, &[]);
        assert!(check_zip_office(&odt, Kind::Odt, &mut budget()).is_ok());
        assert!(check_zip_office(&odp, Kind::Odp, &mut budget()).is_ok());
        assert_eq!(
            detected(check_zip_office(&odt, Kind::Odp, &mut budget())),
            "OpenDocument text"
        );
        assert_eq!(
            detected(check_zip_office(&odt, Kind::Docx, &mut budget())),
            "OpenDocument text"
        );
        let ods = odf("application/vnd.oasis.opendocument.spreadsheet", &[]);
        assert_eq!(
            detected(check_zip_office(&ods, Kind::Odt, &mut budget())),
            "OpenDocument spreadsheet"
        );
        for member in [
            "Basic/Standard/Module1.xml",
            "Scripts/python/x.py",
            "basic/x.xml",
        ] {
            let f = odf(ODT_MIME, &[(member, b"code")]);
            assert_eq!(
                detected(check_zip_office(&f, Kind::Odt, &mut budget())),
                "OpenDocument file with macros"
            );
        }
        // mimetype not first: just a zip.
        let late = zip_of(&[("content.xml", b"<x/>"), ("mimetype", ODT_MIME.as_bytes())]);
        assert_eq!(
            detected(check_zip_office(&late, Kind::Odt, &mut budget())),
            "ZIP archive"
        );
    }

    #[test]
    fn office_parts_are_inflated_within_limits() {
        // A 5 MiB relationships part of spaces: over the ratio limit.
        let bomb = vec![b' '; 5 * 1024 * 1024];
        let f = docx_with(DOCX_MAIN, "", None, &[("word/_rels/x.xml.rels", &bomb)]);
        assert_eq!(
            detected(check_zip_office(&f, Kind::Docx, &mut budget())),
            "office document over the inspection limits"
        );
        // A tiny total budget is respected and consumption is reported.
        let mut small = PartBudget::new(100, 100);
        assert!(check_zip_office(&docx(), Kind::Docx, &mut small).is_err());
        assert!(small.used() <= 101);
        let mut b = budget();
        assert!(check_zip_office(&docx(), Kind::Docx, &mut b).is_ok());
        assert!(b.used() > 0);
        // An oversized ODF mimetype member.
        let long = format!("{ODT_MIME}{}", " ".repeat(300));
        assert_eq!(
            detected(check_zip_office(&odf(&long, &[]), Kind::Odt, &mut budget())),
            "office document over the inspection limits"
        );
    }

    #[test]
    fn xml_scanner() {
        let xml = r#"<a:Types><!-- <Override x="1"/> --><Override PartName='/a' ContentType="b&amp;c"/><Override
            PartName="/z"/></a:Types>"#;
        let found = elements(xml, "Override");
        assert_eq!(found.len(), 2);
        assert_eq!(attr(&found[0], "ContentType"), Some("b&c"));
        assert_eq!(attr(&found[1], "PartName"), Some("/z"));
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<Override/>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_xml(&utf16).as_deref(), Some("<Override/>"));
    }
}
