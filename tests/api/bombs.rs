//! Hostile files built byte by byte, for the intake tests and the ingest benchmark (which includes
//! this file with `#[path]`): deflated DICOM data sets that inflate a thousandfold, CD exports of
//! them, zips whose headers say what they like, and a highly compressible mask. They are built
//! cheaply: one deflated MiB is chained as many times as needed.

// Shared by the API tests and the ingest benchmark, which each use some of it.
#![allow(dead_code)]

use std::io::Write;

use flate2::{Compress, Compression, FlushCompress};

const MIB: usize = 1024 * 1024;

/// An explicit VR little endian element with a short (16-bit) length.
fn short_element(group: u16, element: u16, vr: [u8; 2], value: &[u8]) -> Vec<u8> {
    let mut value = value.to_vec();
    if value.len() % 2 == 1 {
        value.push(if &vr == b"UI" { 0 } else { b' ' });
    }
    let mut out = Vec::new();
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&vr);
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&value);
    out
}

/// The header of an explicit VR little endian element with a 32-bit length (OB, OW).
fn long_element_header(group: u16, element: u16, vr: [u8; 2], len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&vr);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&len.to_le_bytes());
    out
}

/// Raw deflate of `data` from a fresh compressor, ending byte-aligned with no final block, so that
/// such pieces can be chained.
pub fn deflate_piece(data: &[u8]) -> Vec<u8> {
    let mut compressor = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    compressor
        .compress_vec(data, &mut out, FlushCompress::Full)
        .unwrap();
    while compressor.total_in() < data.len() as u64 || out.len() == out.capacity() {
        out.reserve(64 * 1024);
        let consumed = usize::try_from(compressor.total_in()).unwrap();
        compressor
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Full)
            .unwrap();
    }
    out
}

const CLASS: &[u8] = b"1.2.840.10008.5.1.4.1.1.2";
const INSTANCE: &[u8] = b"1.2.826.0.1.3680043.10.1234.77";

/// Preamble, "DICM" and a file meta group naming `transfer_syntax`.
pub fn dicom_preamble_and_meta(transfer_syntax: &[u8]) -> Vec<u8> {
    let mut meta_body = long_element_header(0x0002, 0x0001, *b"OB", 2);
    meta_body.extend_from_slice(&[0, 1]);
    meta_body.extend(short_element(0x0002, 0x0002, *b"UI", CLASS));
    meta_body.extend(short_element(0x0002, 0x0003, *b"UI", INSTANCE));
    meta_body.extend(short_element(0x0002, 0x0010, *b"UI", transfer_syntax));
    let mut out = vec![0_u8; 128];
    out.extend_from_slice(b"DICM");
    out.extend(short_element(
        0x0002,
        0x0000,
        *b"UL",
        &u32::try_from(meta_body.len()).unwrap().to_le_bytes(),
    ));
    out.extend(meta_body);
    out
}

/// The elements of a 512 x 512 monochrome image up to the header of its pixel data (explicit VR
/// little endian), the pixel data `pixel_bytes` long.
pub fn image_header(bits: u16, pixel_bytes: u32) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend(short_element(0x0008, 0x0016, *b"UI", CLASS));
    header.extend(short_element(0x0008, 0x0018, *b"UI", INSTANCE));
    header.extend(short_element(0x0008, 0x0060, *b"CS", b"CT"));
    header.extend(short_element(0x0028, 0x0002, *b"US", &1_u16.to_le_bytes()));
    header.extend(short_element(0x0028, 0x0004, *b"CS", b"MONOCHROME2"));
    header.extend(short_element(
        0x0028,
        0x0010,
        *b"US",
        &512_u16.to_le_bytes(),
    ));
    header.extend(short_element(
        0x0028,
        0x0011,
        *b"US",
        &512_u16.to_le_bytes(),
    ));
    header.extend(short_element(0x0028, 0x0100, *b"US", &bits.to_le_bytes()));
    header.extend(short_element(0x0028, 0x0101, *b"US", &bits.to_le_bytes()));
    header.extend(short_element(
        0x0028,
        0x0102,
        *b"US",
        &(bits - 1).to_le_bytes(),
    ));
    header.extend(short_element(0x0028, 0x0103, *b"US", &0_u16.to_le_bytes()));
    let vr = if bits == 8 { *b"OB" } else { *b"OW" };
    header.extend(long_element_header(0x7FE0, 0x0010, vr, pixel_bytes));
    header
}

/// A CT slice whose data set is deflated (transfer syntax 1.2.840.10008.1.2.1.99) and inflates to
/// about `inflated_mib` MiB: a small header, then zeroed pixel data. Made by chaining one deflated
/// MiB of zeros, so a 256 MiB bomb costs the test nothing to build.
pub fn deflated_dicom(inflated_mib: u32) -> Vec<u8> {
    let mut out = dicom_preamble_and_meta(b"1.2.840.10008.1.2.1.99");
    let pixel_bytes = inflated_mib * u32::try_from(MIB).expect("MiB");
    out.extend(deflate_piece(&image_header(16, pixel_bytes)));
    out.extend(repeated_deflate(0, inflated_mib));
    out
}

/// An all-zero 512 x 512 8-bit mask, uncompressed (256 KiB that zip to almost nothing).
pub fn mask_dicom() -> Vec<u8> {
    let mut out = dicom_preamble_and_meta(b"1.2.840.10008.1.2.1");
    out.extend(image_header(8, 512 * 512));
    out.resize(out.len() + 512 * 512, 0);
    out
}

/// A raw deflate stream of `mib` MiB of `byte`: one deflated MiB chained, then an empty final
/// block (fixed Huffman) that ends the stream.
pub fn repeated_deflate(byte: u8, mib: u32) -> Vec<u8> {
    let piece = deflate_piece(&vec![byte; MIB]);
    let mut out = Vec::with_capacity(piece.len() * mib as usize + 2);
    for _ in 0..mib {
        out.extend_from_slice(&piece);
    }
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

/// A zip with one entry written by hand, so that its headers can say what they like.
pub fn zip_with_raw_entry(
    name: &str,
    deflated: &[u8],
    declared_compressed: u32,
    declared_size: u32,
    crc: u32,
) -> Vec<u8> {
    let mut data = deflated.to_vec();
    data.resize(declared_compressed as usize, 0);
    let name = name.as_bytes();
    let name_len = u16::try_from(name.len()).unwrap();
    let mut out = Vec::new();
    // Local file header.
    out.extend_from_slice(&0x0403_4b50_u32.to_le_bytes());
    out.extend_from_slice(&20_u16.to_le_bytes()); // version needed
    out.extend_from_slice(&0_u16.to_le_bytes()); // flags
    out.extend_from_slice(&8_u16.to_le_bytes()); // deflated
    out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&declared_compressed.to_le_bytes());
    out.extend_from_slice(&declared_size.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&0_u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&data);
    let central_start = u32::try_from(out.len()).unwrap();
    // Central directory header.
    out.extend_from_slice(&0x0201_4b50_u32.to_le_bytes());
    out.extend_from_slice(&20_u16.to_le_bytes()); // version made by
    out.extend_from_slice(&20_u16.to_le_bytes()); // version needed
    out.extend_from_slice(&0_u16.to_le_bytes());
    out.extend_from_slice(&8_u16.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0x21, 0]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&declared_compressed.to_le_bytes());
    out.extend_from_slice(&declared_size.to_le_bytes());
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
    out.extend_from_slice(&0_u32.to_le_bytes()); // external attributes
    out.extend_from_slice(&0_u32.to_le_bytes()); // local header offset
    out.extend_from_slice(name);
    let central_len = u32::try_from(out.len()).unwrap() - central_start;
    // End of central directory.
    out.extend_from_slice(&0x0605_4b50_u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&1_u16.to_le_bytes());
    out.extend_from_slice(&1_u16.to_le_bytes());
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_start.to_le_bytes());
    out.extend_from_slice(&0_u16.to_le_bytes());
    out
}

/// A CD export: `count` extension-less DICOM members under `DICOM/`, each [`deflated_dicom`] of
/// `inflated_mib` MiB (zip members stored: their data sets are deflated already).
pub fn deflated_dicom_cd(count: usize, inflated_mib: u32) -> Vec<u8> {
    let member = deflated_dicom(inflated_mib);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for n in 1..=count {
        zip.start_file(format!("DICOM/IM{n:04}"), options)
            .expect("zip entry");
        zip.write_all(&member).expect("zip member");
    }
    zip.finish().expect("zip").into_inner()
}
