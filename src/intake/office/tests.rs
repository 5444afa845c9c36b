//! Tests of the office container checks, and the builders of office files other tests use.

use std::io::Write;

use zip::write::SimpleFileOptions;

use super::odf::{ODP_MIME, ODT_MIME};
use super::ooxml::{DOCX_MAIN, PPTX_MAIN};
use super::xml::{attr, decode_xml, elements};
use super::*;

pub(crate) const CT_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>"#;

pub(crate) const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;

pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
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
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
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
