//! Zip archives uploaded in any field.
//!
//! Two passes over the central directory: first every entry's metadata is
//! checked (count, path, symlink, encryption) without inflating anything;
//! then each entry's raw bytes are inflated here, counting the bytes actually
//! produced and the compressed bytes actually consumed, stopping as soon as
//! the total or the entry's cap is crossed. An entry whose header lies (sizes
//! or CRC that differ from what its bytes give) is refused, so the ratio is
//! measured on real bytes. Each file member is then checked against the
//! field's rules.

use std::io::{Cursor, Read};

use zip::CompressionMethod;

use super::filename::{display_safe, extension_of, is_bidi_control, is_forbidden_control};
use super::office::PartBudget;
use super::{Field, IntakeError, Kind, Policy, allowed_extensions, sniff};
use crate::imaging::DicomIndex;

/// Entries inflating to at most this many bytes are exempt from the ratio
/// check: real DICOM exports hold small secondary captures and masks that
/// compress 100–200:1, and the absolute inflated caps bound the work anyway.
const RATIO_FLOOR: u64 = 1024 * 1024;
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;
/// OS metadata files: still counted for entry and size limits, never
/// type-checked.
const JUNK_BASENAMES: [&str; 3] = [".ds_store", "thumbs.db", "desktop.ini"];

fn rejected(reason: impl Into<String>) -> IntakeError {
    IntakeError::ArchiveRejected {
        reason: reason.into(),
    }
}

/// Running totals shared across nesting levels.
#[derive(Debug, Default)]
struct Budget {
    entries: usize,
    inflated: u64,
}

/// One file of an archive that passed every rule: its path in the archive and its inflated size.
/// Its bytes are read with [`read_member`] when they are needed, so that a caller storing the
/// members holds one at a time, not the whole inflated archive.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveMember {
    pub path: String,
    pub size: u64,
    /// For a DICOM member: its index, read while the archive was checked.
    pub dicom: Option<DicomIndex>,
    index: usize,
}

/// Checks a zip uploaded as `.zip` in `field` and lists its file members (not directories or OS
/// junk), so that each can be stored as a document of its own; also returns the bytes inflated.
pub(crate) fn check_archive(
    field: Field,
    bytes: &[u8],
    policy: &Policy,
) -> Result<(Vec<ArchiveMember>, u64), IntakeError> {
    let mut budget = Budget::default();
    let mut members = Vec::new();
    check_zip(field, bytes, policy, 1, &mut budget, Some(&mut members))?;
    Ok((members, budget.inflated))
}

/// The largest inflated size that the archive's entries declare. Entries whose inflated bytes
/// differ from what they declare are refused when checked, so this bounds the member that a
/// caller will hold at once.
pub fn largest_declared_member(bytes: &[u8]) -> u64 {
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return 0;
    };
    (0..archive.len())
        .filter_map(|i| archive.by_index_raw(i).ok().map(|e| e.size()))
        .max()
        .unwrap_or(0)
}

/// Inflates one member listed by [`archive_members`] from the same archive bytes: exactly the
/// size measured when the archive was checked, or an error.
pub fn read_member(bytes: &[u8], member: &ArchiveMember) -> Result<Vec<u8>, IntakeError> {
    let shown = display_safe(&member.path);
    let unreadable = || rejected(format!("entry could not be read: {shown}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| unreadable())?;
    let entry = archive.by_index(member.index).map_err(|_| unreadable())?;
    let mut data = Vec::with_capacity(usize::try_from(member.size).unwrap_or(0));
    entry
        .take(member.size.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|_| unreadable())?;
    if data.len() as u64 != member.size {
        return Err(unreadable());
    }
    Ok(data)
}

struct EntryMeta {
    name: String,
    is_dir: bool,
    compressed: u64,
    size: u64,
    crc32: u32,
    method: CompressionMethod,
}

fn check_zip(
    field: Field,
    bytes: &[u8],
    policy: &Policy,
    depth: u32,
    budget: &mut Budget,
    mut collect: Option<&mut Vec<ArchiveMember>>,
) -> Result<usize, IntakeError> {
    let limits = &policy.archive;
    if bytes.is_empty() {
        return Err(IntakeError::ContentMismatch {
            detected: "empty file".into(),
        });
    }
    if sniff::is_empty_zip(bytes) {
        return Err(rejected("archive is empty"));
    }
    if !sniff::is_zip(bytes) {
        return Err(super::mismatch(bytes));
    }
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| rejected("archive is malformed"))?;
    if archive.offset() != 0 {
        return Err(rejected("archive has data before its first entry"));
    }
    budget.entries = budget.entries.saturating_add(archive.len());
    if budget.entries > limits.max_entries {
        return Err(rejected(format!(
            "too many entries (limit {})",
            limits.max_entries
        )));
    }
    if archive.has_duplicate_names() {
        return Err(rejected("duplicate entry names"));
    }

    // Pass 1: metadata only.
    let mut metas = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|_| rejected("archive is malformed"))?;
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        check_entry_path(&name)?;
        let unix_type = (entry.external_attributes() >> 16) & S_IFMT;
        if entry.is_symlink() || unix_type == S_IFLNK {
            return Err(rejected(format!("symbolic link: {}", display_safe(&name))));
        }
        if entry.encrypted() {
            return Err(rejected(format!(
                "encrypted entry: {}",
                display_safe(&name)
            )));
        }
        metas.push(EntryMeta {
            is_dir: entry.is_dir(),
            compressed: entry.compressed_size(),
            size: entry.size(),
            crc32: entry.crc32(),
            method: entry.compression(),
            name,
        });
    }

    // Pass 2: inflate (bounded) and check members.
    let mut members = 0;
    for (index, meta) in metas.iter().enumerate() {
        let data = inflate_entry(&mut archive, index, meta, policy, budget)?;
        if meta.is_dir || is_junk(&meta.name) {
            continue;
        }
        members += 1;
        let dicom = check_member(field, &meta.name, &data, policy, depth, budget)?;
        if let Some(collected) = collect.as_deref_mut() {
            collected.push(ArchiveMember {
                path: meta.name.clone(),
                size: data.len() as u64,
                dicom,
                index,
            });
        }
    }
    if members == 0 {
        return Err(rejected("archive contains no files"));
    }
    Ok(members)
}

/// Reject absolute paths, drive letters, `..` components, empty names and
/// names with control or bidi characters.
fn check_entry_path(name: &str) -> Result<(), IntakeError> {
    let shown = display_safe(name);
    if name.is_empty() {
        return Err(rejected("entry with an empty name"));
    }
    if name
        .chars()
        .any(|c| is_forbidden_control(c) || is_bidi_control(c))
    {
        return Err(rejected(format!(
            "entry name contains a control character: {shown}"
        )));
    }
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with('/') || name.starts_with('\\') || drive {
        return Err(rejected(format!("absolute entry path: {shown}")));
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Err(rejected(format!("entry path escapes the archive: {shown}")));
    }
    Ok(())
}

fn basename(name: &str) -> &str {
    name.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
}

fn is_junk(name: &str) -> bool {
    let in_macosx = name.split(['/', '\\']).any(|c| c == "__MACOSX");
    let base = basename(name).to_ascii_lowercase();
    in_macosx || JUNK_BASENAMES.contains(&base.as_str())
}

/// Inflate one entry from its raw bytes, counting real output bytes against
/// the total budget and the entry's ratio cap (never reading more than one
/// byte past either), then refuse it when its header lies: the compressed
/// bytes consumed, the inflated size or the CRC differ from what it declares.
/// The ratio is then that of the bytes actually read.
fn inflate_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    meta: &EntryMeta,
    policy: &Policy,
    budget: &mut Budget,
) -> Result<Vec<u8>, IntakeError> {
    let limits = &policy.archive;
    let shown = display_safe(&meta.name);
    let unreadable = || rejected(format!("entry could not be read: {shown}"));
    let lies = || rejected(format!("entry header does not match its data: {shown}"));
    if !matches!(
        meta.method,
        CompressionMethod::Stored | CompressionMethod::Deflated
    ) {
        return Err(rejected(format!("unsupported compression method: {shown}")));
    }
    let mut raw = Vec::new();
    archive
        .by_index_raw(index)
        .map_err(|_| unreadable())?
        .take(meta.compressed.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|_| unreadable())?;
    if raw.len() as u64 != meta.compressed {
        return Err(lies());
    }
    let remaining = limits.max_total_inflated.saturating_sub(budget.inflated);
    // Largest output that keeps the entry's ratio within the limit (measured on the compressed
    // bytes, which must all be consumed: see below).
    let ratio_cap = limits
        .max_ratio
        .saturating_mul(meta.compressed.max(1))
        .max(RATIO_FLOOR);
    let cap = remaining.min(ratio_cap);
    let mut decoder = match meta.method {
        CompressionMethod::Deflated => Some(flate2::bufread::DeflateDecoder::new(raw.as_slice())),
        _ => None,
    };
    let mut data = Vec::new();
    let mut chunk = vec![0_u8; 64 * 1024];
    let mut stored = raw.as_slice();
    loop {
        let n = match decoder.as_mut() {
            Some(d) => d.read(&mut chunk),
            None => stored.read(&mut chunk),
        }
        .map_err(|_| unreadable())?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        let len = data.len() as u64;
        if len > meta.size {
            return Err(lies());
        }
        if len > remaining {
            return Err(rejected(format!(
                "inflated size over {} bytes",
                limits.max_total_inflated
            )));
        }
        if len > cap {
            return Err(rejected(format!(
                "compression ratio over {}: {shown}",
                limits.max_ratio
            )));
        }
    }
    let unconsumed = decoder.map_or(0, |d| d.get_ref().len());
    if unconsumed != 0 || data.len() as u64 != meta.size || crc32fast::hash(&data) != meta.crc32 {
        return Err(lies());
    }
    budget.inflated += data.len() as u64;
    Ok(data)
}

/// Content check of a member; inflation of office metadata parts and of
/// deflated DICOM data sets is charged to the archive's total. Returns a
/// DICOM member's index.
fn member_content(
    kind: Kind,
    data: &[u8],
    policy: &Policy,
    budget: &mut Budget,
) -> Result<Option<DicomIndex>, IntakeError> {
    let remaining = policy
        .archive
        .max_total_inflated
        .saturating_sub(budget.inflated);
    let mut parts = PartBudget::new(remaining, policy.archive.max_ratio);
    let result = super::check_content(kind, data, policy, &mut parts);
    budget.inflated = budget.inflated.saturating_add(parts.used());
    result.map(|content| content.dicom)
}

/// Type-check one file member against the field's rules; a DICOM member's index.
fn check_member(
    field: Field,
    name: &str,
    data: &[u8],
    policy: &Policy,
    depth: u32,
    budget: &mut Budget,
) -> Result<Option<DicomIndex>, IntakeError> {
    let shown = display_safe(name);
    let base = basename(name);
    let allowed = allowed_extensions(field, policy.allow_dicom);
    let not_allowed = || rejected(format!("member type not allowed: {shown}"));
    let wrap = |e: IntakeError| match e {
        IntakeError::ContentMismatch { detected } => rejected(format!(
            "member {shown}: content does not match extension ({detected})"
        )),
        IntakeError::ImageRejected { reason } => {
            rejected(format!("member {shown}: image rejected: {reason}"))
        }
        IntakeError::ArchiveRejected { reason } => rejected(format!("member {shown}: {reason}")),
        other => other,
    };
    match extension_of(base) {
        Some(ext) if ext == "zip" && allowed.contains(&"zip") => {
            if depth >= policy.archive.max_depth {
                return Err(rejected(format!("nested archive: {shown}")));
            }
            check_zip(field, data, policy, depth + 1, budget, None)
                .map(|_| None)
                .map_err(wrap)
        }
        Some(ext) if allowed.contains(&ext.as_str()) => {
            let kind = Kind::from_extension(&ext).ok_or_else(not_allowed)?;
            member_content(kind, data, policy, budget).map_err(wrap)
        }
        // Extension-less DICOM (typical of CD exports) and DICOMDIR.
        None if field == Field::Image && policy.allow_dicom => {
            if sniff::is_dicom(data) {
                member_content(Kind::Dicom, data, policy, budget).map_err(wrap)
            } else {
                Err(not_allowed())
            }
        }
        _ => Err(not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for ok in ["a.pdf", "dir/a.pdf", "dir/", "a..b.pdf", "..a.pdf"] {
            assert!(check_entry_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "\\x.pdf",
            "C:\\x.pdf",
            "c:/x.pdf",
            "../x.pdf",
            "a/../../x.pdf",
            "a\\..\\x.pdf",
            "..",
        ] {
            assert!(check_entry_path(bad).is_err(), "{bad}");
        }
        assert!(check_entry_path("a\u{202E}fdp.exe").is_err());
        assert!(check_entry_path("a\0.pdf").is_err());
    }

    #[test]
    fn junk_rules() {
        for junk in [
            "__MACOSX/._a.pdf",
            "x/__MACOSX/y",
            ".DS_Store",
            "dir/Thumbs.db",
            "DESKTOP.INI",
        ] {
            assert!(is_junk(junk), "{junk}");
        }
        for not_junk in ["a.pdf", "macosx/a.pdf", "thumbs.db.pdf"] {
            assert!(!is_junk(not_junk), "{not_junk}");
        }
    }
}
