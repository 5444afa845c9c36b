//! End-to-end tests of `inspect` with fixtures generated in code.

use std::io::{Cursor, Write};

use image::ImageFormat;
use zip::write::SimpleFileOptions;

use super::image_header::tests::{dicom, encode};
use super::office::tests::{docx, docx_with, odf, ole2, pptx, zip_of};
use super::*;

const PDF: &[u8] =
    b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const PE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF\x00\x00This program cannot be run in DOS mode";

fn name(s: &str) -> Filename {
    Filename::parse(s).unwrap()
}

fn run(field: Field, file: &str, bytes: &[u8]) -> Result<Inspected, IntakeError> {
    inspect(field, &name(file), bytes, &Policy::default())
}

fn run_with(
    field: Field,
    file: &str,
    bytes: &[u8],
    policy: &Policy,
) -> Result<Inspected, IntakeError> {
    inspect(field, &name(file), bytes, policy)
}

fn dicom_policy() -> Policy {
    Policy {
        allow_dicom: true,
        ..Policy::default()
    }
}

fn archive_reason(r: Result<Inspected, IntakeError>) -> String {
    match r {
        Err(IntakeError::ArchiveRejected { reason }) => reason,
        other => panic!("expected ArchiveRejected, got {other:?}"),
    }
}

fn detected(r: Result<Inspected, IntakeError>) -> String {
    match r {
        Err(IntakeError::ContentMismatch { detected }) => detected,
        other => panic!("expected ContentMismatch, got {other:?}"),
    }
}

fn image_reason(r: Result<Inspected, IntakeError>) -> String {
    match r {
        Err(IntakeError::ImageRejected { reason }) => reason,
        other => panic!("expected ImageRejected, got {other:?}"),
    }
}

fn assert_ext_not_allowed(r: &Result<Inspected, IntakeError>) {
    assert!(
        matches!(r, Err(IntakeError::ExtensionNotAllowed { .. })),
        "{r:?}"
    );
}

/// Zip with stored entries (exact sizes, easy to patch).
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (n, data) in entries {
        w.start_file(*n, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Patch every local and central header: `f(header, is_central)` receives
/// the header bytes starting at its signature.
fn patch_headers(bytes: &mut [u8], f: impl Fn(&mut [u8], bool)) {
    let mut i = 0;
    while i + 4 <= bytes.len() {
        match &bytes[i..i + 4] {
            b"PK\x03\x04" => f(&mut bytes[i..], false),
            b"PK\x01\x02" => f(&mut bytes[i..], true),
            _ => {}
        }
        i += 1;
    }
}

/// Replace a same-length entry name everywhere it occurs.
fn rename(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
}

/// Deterministic, poorly compressible text.
fn noisy_text(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b'a' + u8::try_from(x % 26).unwrap()
        })
        .collect()
}

// ---------------------------------------------------------------- accept

#[test]
fn report_accepts_every_listed_type() {
    let eps_dos = [&[0xC5, 0xD0, 0xD3, 0xC6][..], &[0; 28]].concat();
    let cases: Vec<(&str, Vec<u8>, Kind)> = vec![
        ("a.gif", encode(ImageFormat::Gif, 3, 2), Kind::Gif),
        ("a.jpg", encode(ImageFormat::Jpeg, 3, 2), Kind::Jpeg),
        ("a.JPEG", encode(ImageFormat::Jpeg, 3, 2), Kind::Jpeg),
        ("a.png", encode(ImageFormat::Png, 3, 2), Kind::Png),
        ("a.bmp", encode(ImageFormat::Bmp, 3, 2), Kind::Bmp),
        ("a.tif", encode(ImageFormat::Tiff, 3, 2), Kind::Tiff),
        (
            "a.eps",
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n".to_vec(),
            Kind::Eps,
        ),
        ("b.eps", eps_dos, Kind::Eps),
        (
            "a.txt",
            "Befund: unauffällig\n".as_bytes().to_vec(),
            Kind::Text,
        ),
        ("a.rtf", b"{\\rtf1\\ansi Hello}".to_vec(), Kind::Rtf),
        (
            "a.html",
            b"<!DOCTYPE html><html><body>x</body></html>".to_vec(),
            Kind::Html,
        ),
        ("a.PDF", PDF.to_vec(), Kind::Pdf),
        (
            "a.doc",
            ole2(&["/WordDocument", "/1Table"], &["/ObjectPool"]),
            Kind::Doc,
        ),
        ("a.docx", docx(), Kind::Docx),
        (
            "a.odt",
            odf("application/vnd.oasis.opendocument.text", &[]),
            Kind::Odt,
        ),
        ("a.ppt", ole2(&["/PowerPoint Document"], &[]), Kind::Ppt),
        ("a.pptx", pptx(), Kind::Pptx),
        (
            "a.odp",
            odf("application/vnd.oasis.opendocument.presentation", &[]),
            Kind::Odp,
        ),
        ("a.zip", zip_of(&[("x.pdf", PDF)]), Kind::Zip),
    ];
    for field in [Field::Report, Field::GuaranteeLetter] {
        for (file, bytes, kind) in &cases {
            let got = run(field, file, bytes).unwrap_or_else(|e| panic!("{file}: {e:?}"));
            assert_eq!(got.kind, *kind, "{file}");
            assert_eq!(got.media_type, kind.media_type());
        }
    }
    let png = run(Field::Report, "a.png", &encode(ImageFormat::Png, 3, 2)).unwrap();
    assert_eq!(png.dimensions, Some((3, 2)));
    assert_eq!(png.media_type, "image/png");
    assert_eq!(png.archive_members, 0);
}

#[test]
fn image_field_accepts_its_list() {
    for (file, fmt) in [
        ("a.gif", ImageFormat::Gif),
        ("a.jpg", ImageFormat::Jpeg),
        ("a.jpeg", ImageFormat::Jpeg),
        ("a.png", ImageFormat::Png),
    ] {
        assert!(
            run(Field::Image, file, &encode(fmt, 4, 4)).is_ok(),
            "{file}"
        );
    }
    let zip = zip_of(&[
        ("a.png", &encode(ImageFormat::Png, 4, 4)),
        ("b.jpg", &encode(ImageFormat::Jpeg, 4, 4)),
    ]);
    assert_eq!(
        run(Field::Image, "scans.zip", &zip)
            .unwrap()
            .archive_members,
        2
    );
}

#[test]
fn dicom_only_when_allowed() {
    let dcm = dicom(512, 512, None);
    assert_ext_not_allowed(&run(Field::Image, "ct.dcm", &dcm));
    assert_ext_not_allowed(&run_with(Field::Report, "ct.dcm", &dcm, &dicom_policy()));
    let got = run_with(Field::Image, "CT.DCM", &dcm, &dicom_policy()).unwrap();
    assert_eq!(got.kind, Kind::Dicom);
    assert_eq!(got.media_type, "application/dicom");
    assert_eq!(got.dimensions, Some((512, 512)));
    assert_eq!(allowed_extensions(Field::Image, true).last(), Some(&"dcm"));
    assert!(!allowed_extensions(Field::Image, false).contains(&"dcm"));
}

// ------------------------------------------------------- size / extension

#[test]
fn file_too_large() {
    let policy = Policy {
        max_file_bytes: 10,
        ..Policy::default()
    };
    assert!(matches!(
        run_with(Field::Report, "a.pdf", PDF, &policy),
        Err(IntakeError::FileTooLarge { limit_bytes: 10 })
    ));
}

#[test]
fn extensions_outside_the_lists() {
    for file in [
        "a.exe", "a.tiff", "a.htm", "a.xlsx", "noext", ".pdf", "a.pdf.", "a.svg", "a.dcm",
    ] {
        assert_ext_not_allowed(&run(Field::Report, file, PDF));
    }
    for file in ["a.bmp", "a.tif", "a.pdf", "a.eps", "a.docx"] {
        assert_ext_not_allowed(&run(Field::Image, file, PDF));
    }
    match run(Field::Image, "a.pdf", PDF) {
        Err(IntakeError::ExtensionNotAllowed { allowed }) => {
            assert_eq!(allowed, &["gif", "jpg", "jpeg", "png", "zip"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(Field::GuaranteeLetter.as_str(), "guarantee_letter");
    assert_eq!(Field::parse("image"), Some(Field::Image));
}

// -------------------------------------------------------- content checks

#[test]
fn executable_named_pdf() {
    let d = detected(run(Field::Report, "invoice.pdf", PE));
    assert!(d.contains("executable"), "{d}");
}

#[test]
fn executable_polyglot_named_pdf() {
    // `%PDF-` inside the first 1024 bytes of a PE does not make it a PDF.
    let mut pe = PE.to_vec();
    pe.extend_from_slice(b" %PDF-1.4\n");
    assert_eq!(
        detected(run(Field::Report, "a.pdf", &pe)),
        "Windows executable"
    );
    let zip_with_pdf = stored_zip(&[("a.pdf", PDF)]);
    assert_eq!(
        detected(run(Field::Report, "a.pdf", &zip_with_pdf)),
        "ZIP archive"
    );
}

#[test]
fn text_rules() {
    assert!(detected(run(Field::Report, "a.txt", b"abc\0def")).contains("binary"));
    detected(run(Field::Report, "a.txt", b"\xC3\x28 invalid utf-8"));
    assert_eq!(detected(run(Field::Report, "a.txt", b"")), "empty file");
    assert!(run(Field::Report, "a.txt", b"\xEF\xBB\xBFwith bom").is_ok());
    assert_eq!(
        detected(run(Field::Report, "a.html", b"just text")),
        "plain text"
    );
    assert!(
        run(
            Field::Report,
            "a.html",
            b"  <!-- x --><HEAD><title>t</title>"
        )
        .is_ok()
    );
}

#[test]
fn magic_mismatches() {
    let png = encode(ImageFormat::Png, 2, 2);
    assert_eq!(detected(run(Field::Report, "a.jpg", &png)), "PNG image");
    assert_eq!(detected(run(Field::Report, "a.gif", PDF)), "PDF document");
    assert_eq!(detected(run(Field::Report, "a.pdf", &png)), "PNG image");
    assert_eq!(
        detected(run(Field::Report, "a.rtf", b"plain")),
        "plain text"
    );
    assert_eq!(
        detected(run(Field::Report, "a.eps", b"%!PS\n")),
        "application/postscript (ps)"
    );
    assert_eq!(detected(run(Field::Report, "a.bmp", &png)), "PNG image");
    assert_eq!(detected(run(Field::Report, "a.tif", &png)), "PNG image");
    let zip = zip_of(&[("x.pdf", PDF)]);
    assert_eq!(detected(run(Field::Report, "a.pdf", &zip)), "ZIP archive");
    let dcm = dicom(8, 8, None);
    assert_eq!(
        detected(run_with(Field::Image, "a.png", &dcm, &dicom_policy())),
        "DICOM file"
    );
    assert_eq!(
        detected(run_with(Field::Image, "a.dcm", &png, &dicom_policy())),
        "PNG image"
    );
}

#[test]
fn office_cross_format_mismatches() {
    let doc = ole2(&["/WordDocument"], &[]);
    assert_eq!(
        detected(run(Field::Report, "a.doc", &docx())),
        "Word document (OOXML)"
    );
    assert_eq!(
        detected(run(Field::Report, "a.docx", &doc)),
        "Word 97-2003 document"
    );
    assert_eq!(
        detected(run(Field::Report, "a.ppt", &doc)),
        "Word 97-2003 document"
    );
    assert_eq!(
        detected(run(Field::Report, "a.pptx", &docx())),
        "Word document (OOXML)"
    );
    assert_eq!(
        detected(run(Field::Report, "a.odt", &docx())),
        "Word document (OOXML)"
    );
    assert_eq!(detected(run(Field::Report, "a.docx", PDF)), "PDF document");
}

#[test]
fn infer_fooling_docx_rejected() {
    let fake = zip_of(&[
        ("word/document.xml", b"<w:document/>"),
        ("word/evil.js", b"x"),
    ]);
    assert_eq!(
        infer::get(&fake).map(|t| t.mime_type()),
        Some(Kind::Docx.media_type())
    );
    assert_eq!(detected(run(Field::Report, "a.docx", &fake)), "ZIP archive");
}

#[test]
fn office_with_code_rejected() {
    let doc_macros = ole2(&["/WordDocument"], &["/Macros", "/Macros/VBA"]);
    assert_eq!(
        detected(run(Field::Report, "a.doc", &doc_macros)),
        "OLE2 document with macros"
    );
    let ppt_vba = ole2(
        &["/PowerPoint Document", "/_VBA_PROJECT_CUR/VBA/dir"],
        &["/_VBA_PROJECT_CUR", "/_VBA_PROJECT_CUR/VBA"],
    );
    assert_eq!(
        detected(run(Field::Report, "a.ppt", &ppt_vba)),
        "OLE2 document with macros"
    );
    let ct = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml";
    let vba = docx_with(ct, "", None, &[("word/vbaProject.bin", b"vba")]);
    assert_eq!(
        detected(run(Field::Report, "a.docx", &vba)),
        "OOXML document with macros"
    );
    let external = r#"<Relationships><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="http://attacker.example/t.dotm" TargetMode="External"/></Relationships>"#;
    let remote = docx_with(ct, "", Some(external), &[]);
    assert_eq!(
        detected(run(Field::Report, "a.docx", &remote)),
        "OOXML document with external relationships"
    );
    let basic = odf(
        "application/vnd.oasis.opendocument.text",
        &[("Basic/Standard/Module1.xml", b"Sub X")],
    );
    assert_eq!(
        detected(run(Field::Report, "a.odt", &basic)),
        "OpenDocument file with macros"
    );
}

#[test]
fn docx_named_zip_is_a_zip() {
    // Treated as a plain zip: its parts fail the member rules.
    let reason = archive_reason(run(Field::Report, "a.zip", &docx()));
    assert_eq!(reason, "member type not allowed: [Content_Types].xml");
}

// ------------------------------------------------------------ image dims

#[test]
fn image_limits() {
    let policy = Policy {
        max_pixels: 100,
        ..Policy::default()
    };
    let big = encode(ImageFormat::Png, 20, 10);
    assert_eq!(
        image_reason(run_with(Field::Image, "a.png", &big, &policy)),
        "200 pixels over the limit of 100"
    );
    let mut broken = encode(ImageFormat::Jpeg, 4, 4);
    broken.truncate(6);
    assert_eq!(
        image_reason(run(Field::Image, "a.jpg", &broken)),
        "header does not parse"
    );
    assert_eq!(
        image_reason(run(Field::Report, "a.gif", b"GIF89a\x01")),
        "header does not parse"
    );
}

#[test]
fn absurd_dicom_rejected() {
    let r = run_with(
        Field::Image,
        "a.dcm",
        &dicom(u16::MAX, u16::MAX, None),
        &dicom_policy(),
    );
    assert!(image_reason(r).contains("over the limit of 50000000"));
    let r = run_with(
        Field::Image,
        "a.dcm",
        &dicom(2048, 2048, Some("1000")),
        &dicom_policy(),
    );
    assert!(image_reason(r).contains("voxels"));
    let mut truncated = dicom(64, 64, None);
    truncated.truncate(140);
    assert_eq!(
        image_reason(run_with(Field::Image, "a.dcm", &truncated, &dicom_policy())),
        "header does not parse"
    );
}

// --------------------------------------------------------------- archives

#[test]
fn archive_accepts_members_and_ignores_junk() {
    let zip = {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default();
        w.add_directory("docs/", opts).unwrap();
        for (n, data) in [
            ("docs/a.pdf", PDF),
            ("docs/b.TXT", b"notes".as_slice()),
            (
                "__MACOSX/docs/._a.pdf",
                b"\x00\x05\x16\x07 not a pdf".as_slice(),
            ),
            (".DS_Store", b"\x00\x00\x00\x01Bud1".as_slice()),
            ("docs/Thumbs.db", b"\xD0\xCF\x11\xE0 garbage".as_slice()),
            ("desktop.ini", b"[.ShellClassInfo]".as_slice()),
        ] {
            w.start_file(n, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    let got = run(Field::Report, "bundle.zip", &zip).unwrap();
    assert_eq!(got.kind, Kind::Zip);
    assert_eq!(got.media_type, "application/zip");
    assert_eq!(got.archive_members, 2);
    assert_eq!(got.dimensions, None);

    // Junk still counts towards the entry limit (7 entries) ...
    let few = Policy {
        archive: ArchiveLimits {
            max_entries: 6,
            ..ArchiveLimits::default()
        },
        ..Policy::default()
    };
    assert_eq!(
        archive_reason(run_with(Field::Report, "a.zip", &zip, &few)),
        "too many entries (limit 6)"
    );
    // ... and the inflated size.
    let junk = zip_of(&[("a.txt", b"x"), ("__MACOSX/._a.txt", &noisy_text(5000))]);
    let small = Policy {
        archive: ArchiveLimits {
            max_total_inflated: 4000,
            ..ArchiveLimits::default()
        },
        ..Policy::default()
    };
    assert_eq!(
        archive_reason(run_with(Field::Report, "a.zip", &junk, &small)),
        "inflated size over 4000 bytes"
    );
}

#[test]
fn archive_path_rules() {
    let mut zip = stored_zip(&[("AAAA.pdf", PDF)]);
    rename(&mut zip, "AAAA.pdf", "../x.pdf");
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "entry path escapes the archive: ../x.pdf"
    );
    let mut zip = stored_zip(&[("AAAAAAAA.pdf", PDF)]);
    rename(
        &mut zip,
        "AAAAAAAA.pdf",
        "ok/../../x.pdf".get(..12).unwrap(),
    );
    assert!(archive_reason(run(Field::Report, "a.zip", &zip)).starts_with("entry path escapes"));
    for abs in ["/abs.pdf", "C:\\x.pdf", "\\abs.pdf"] {
        let placeholder = "Q".repeat(abs.len() - 4) + ".pdf";
        let mut zip = stored_zip(&[(placeholder.as_str(), PDF)]);
        rename(&mut zip, &placeholder, abs);
        let reason = archive_reason(run(Field::Report, "a.zip", &zip));
        assert_eq!(reason, format!("absolute entry path: {abs}"));
    }
    let mut zip = stored_zip(&[("a\u{2000}b.pdf", PDF)]);
    rename(&mut zip, "a\u{2000}b.pdf", "a\u{202E}b.pdf");
    assert!(
        archive_reason(run(Field::Report, "a.zip", &zip))
            .starts_with("entry name contains a control character")
    );
}

#[test]
fn archive_symlink_rejected() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file("a.pdf", SimpleFileOptions::default()).unwrap();
    w.write_all(PDF).unwrap();
    w.add_symlink("link.pdf", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let zip = w.finish().unwrap().into_inner();
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "symbolic link: link.pdf"
    );
}

#[test]
fn archive_encrypted_rejected() {
    let mut zip = stored_zip(&[("a.pdf", PDF)]);
    patch_headers(&mut zip, |h, central| {
        let at = if central { 8 } else { 6 };
        h[at] |= 1;
    });
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "encrypted entry: a.pdf"
    );
}

#[test]
fn archive_unsupported_method_rejected() {
    let mut zip = stored_zip(&[("a.pdf", PDF)]);
    patch_headers(&mut zip, |h, central| {
        let at = if central { 10 } else { 8 };
        h[at..at + 2].copy_from_slice(&12_u16.to_le_bytes()); // bzip2
    });
    let reason = archive_reason(run(Field::Report, "a.zip", &zip));
    assert!(reason.contains("a.pdf"), "{reason}");
}

fn zero_bomb() -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("zeros.txt", opts).unwrap();
    let chunk = vec![b'0'; 1024 * 1024];
    for _ in 0..10 {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn archive_deflate_bomb_rejected_by_ratio() {
    let bomb = zero_bomb();
    assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &bomb)),
        "compression ratio over 100: zeros.txt"
    );
}

#[test]
fn archive_sizes_are_measured_not_trusted() {
    // Headers claim 1 byte; the stream inflates to 10 MiB.
    let mut bomb = zero_bomb();
    patch_headers(&mut bomb, |h, central| {
        let at = if central { 24 } else { 22 };
        h[at..at + 4].copy_from_slice(&1_u32.to_le_bytes());
    });
    // Inflation stops one byte past what the header declares: the header lies.
    let reason = archive_reason(run(Field::Report, "a.zip", &bomb));
    assert_eq!(reason, "entry header does not match its data: zeros.txt");
    // Same with a generous ratio.
    let policy = Policy {
        archive: ArchiveLimits {
            max_ratio: 1_000_000,
            max_total_inflated: 1024 * 1024,
            ..ArchiveLimits::default()
        },
        ..Policy::default()
    };
    let reason = archive_reason(run_with(Field::Report, "a.zip", &bomb, &policy));
    assert_eq!(reason, "entry header does not match its data: zeros.txt");
    let honest = zero_bomb();
    assert_eq!(
        archive_reason(run_with(Field::Report, "a.zip", &honest, &policy)),
        "inflated size over 1048576 bytes"
    );
}

#[test]
fn archive_total_inflated_limit() {
    let text = noisy_text(40_000);
    let zip = zip_of(&[("a.txt", &text), ("b.txt", &text), ("c.txt", &text)]);
    let policy = Policy {
        archive: ArchiveLimits {
            max_total_inflated: 100_000,
            ..ArchiveLimits::default()
        },
        ..Policy::default()
    };
    assert_eq!(
        archive_reason(run_with(Field::Report, "a.zip", &zip, &policy)),
        "inflated size over 100000 bytes"
    );
    assert_eq!(
        run(Field::Report, "a.zip", &zip).unwrap().archive_members,
        3
    );
}

#[test]
fn archive_entry_limit() {
    let names: Vec<String> = (0..1001).map(|i| format!("f{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names
        .iter()
        .map(|n| (n.as_str(), b"x".as_slice()))
        .collect();
    let zip = stored_zip(&entries);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "too many entries (limit 1000)"
    );
    let zip = stored_zip(&entries[..1000]);
    assert_eq!(
        run(Field::Report, "a.zip", &zip).unwrap().archive_members,
        1000
    );
}

#[test]
fn archive_nesting() {
    let inner = zip_of(&[("x.pdf", PDF)]);
    let outer = zip_of(&[("inner.zip", &inner)]);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &outer)),
        "nested archive: inner.zip"
    );
    let deeper = Policy {
        archive: ArchiveLimits {
            max_depth: 2,
            ..ArchiveLimits::default()
        },
        ..Policy::default()
    };
    assert!(run_with(Field::Report, "a.zip", &outer, &deeper).is_ok());
    // The entry budget is shared across levels.
    let tight = Policy {
        archive: ArchiveLimits {
            max_depth: 2,
            max_entries: 1,
            ..ArchiveLimits::default()
        },
        ..Policy::default()
    };
    assert_eq!(
        archive_reason(run_with(Field::Report, "a.zip", &outer, &tight)),
        "member inner.zip: too many entries (limit 1)"
    );
}

#[test]
fn archive_member_rules() {
    let zip = zip_of(&[("ok.pdf", PDF), ("setup.exe", PE)]);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "member type not allowed: setup.exe"
    );
    let zip = zip_of(&[("dir/x.pdf", PE)]);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "member dir/x.pdf: content does not match extension (Windows executable)"
    );
    let zip = zip_of(&[("README", b"text")]);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "member type not allowed: README"
    );
    let zip = zip_of(&[("a.tiff", b"x")]);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "member type not allowed: a.tiff"
    );
    let macro_doc = ole2(&["/WordDocument"], &["/Macros"]);
    let zip = zip_of(&[("a.doc", &macro_doc)]);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &zip)),
        "member a.doc: content does not match extension (OLE2 document with macros)"
    );
    let zip = zip_of(&[
        ("a.docx", &docx()),
        (
            "b.odt",
            &odf("application/vnd.oasis.opendocument.text", &[]),
        ),
    ]);
    assert_eq!(
        run(Field::Report, "a.zip", &zip).unwrap().archive_members,
        2
    );
    // Image-rejected members are reported as archive rejections naming the member.
    let policy = Policy {
        max_pixels: 10,
        ..Policy::default()
    };
    let zip = zip_of(&[("scan.png", &encode(ImageFormat::Png, 5, 5))]);
    assert_eq!(
        archive_reason(run_with(Field::Image, "a.zip", &zip, &policy)),
        "member scan.png: image rejected: 25 pixels over the limit of 10"
    );
    // The image field's member list: no pdf.
    let zip = zip_of(&[("a.png", &encode(ImageFormat::Png, 2, 2)), ("b.pdf", PDF)]);
    assert_eq!(
        archive_reason(run(Field::Image, "a.zip", &zip)),
        "member type not allowed: b.pdf"
    );
}

#[test]
fn archive_dicom_members() {
    let dcm = dicom(64, 64, None);
    let zip = zip_of(&[
        ("a.dcm", &dcm),
        ("IMG0001", &dcm),
        ("DICOMDIR", &dcm),
        ("x.png", &encode(ImageFormat::Png, 2, 2)),
    ]);
    assert_eq!(
        run_with(Field::Image, "cd.zip", &zip, &dicom_policy())
            .unwrap()
            .archive_members,
        4
    );
    // Without the imaging tier none of these are allowed.
    assert_eq!(
        archive_reason(run(Field::Image, "cd.zip", &zip)),
        "member type not allowed: a.dcm"
    );
    let zip = zip_of(&[("IMG0001", &dcm)]);
    assert_eq!(
        archive_reason(run(Field::Image, "cd.zip", &zip)),
        "member type not allowed: IMG0001"
    );
    // Extension-less but not DICOM.
    let zip = zip_of(&[("IMG0002", PDF)]);
    assert_eq!(
        archive_reason(run_with(Field::Image, "cd.zip", &zip, &dicom_policy())),
        "member type not allowed: IMG0002"
    );
    // Absurd DICOM member.
    let zip = zip_of(&[("IMG0003", &dicom(u16::MAX, u16::MAX, None))]);
    assert!(
        archive_reason(run_with(Field::Image, "cd.zip", &zip, &dicom_policy()))
            .starts_with("member IMG0003: image rejected: ")
    );
    // DICOM members are not allowed in the report field even with the tier.
    let zip = zip_of(&[("a.dcm", &dcm)]);
    assert_eq!(
        archive_reason(run_with(Field::Report, "a.zip", &zip, &dicom_policy())),
        "member type not allowed: a.dcm"
    );
}

#[test]
fn archive_structure_rejections() {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.add_directory("only/", SimpleFileOptions::default())
        .unwrap();
    let dirs_only = w.finish().unwrap().into_inner();
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &dirs_only)),
        "archive contains no files"
    );
    let empty = zip::ZipWriter::new(Cursor::new(Vec::new()))
        .finish()
        .unwrap()
        .into_inner();
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &empty)),
        "archive is empty"
    );
    // Self-extracting style: data before the zip.
    let sfx = [PE, &zip_of(&[("a.pdf", PDF)])].concat();
    assert_eq!(
        detected(run(Field::Report, "a.zip", &sfx)),
        "Windows executable"
    );
    assert_eq!(detected(run(Field::Report, "a.zip", PDF)), "PDF document");
    let mut truncated = zip_of(&[("a.pdf", PDF)]);
    truncated.truncate(40);
    assert_eq!(
        archive_reason(run(Field::Report, "a.zip", &truncated)),
        "archive is malformed"
    );
}

#[test]
fn reasons_do_not_echo_hostile_names() {
    let placeholder = "x".repeat(300) + ".exe";
    let zip = stored_zip(&[(placeholder.as_str(), b"MZ")]);
    let reason = archive_reason(run(Field::Report, "a.zip", &zip));
    assert!(reason.chars().count() < 160, "{reason}");
}
