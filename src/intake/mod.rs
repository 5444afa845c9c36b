//! File intake: decides whether an uploaded file may be stored for a given
//! form field.
//!
//! [`inspect`] checks, in order:
//! 1. the byte length against [`Policy::max_file_bytes`] (the upload path
//!    also enforces this while streaming);
//! 2. the extension (from the sanitised [`Filename`]) against the field's
//!    allow-list ([`allowed_extensions`]);
//! 3. that the bytes are what the extension claims (magic numbers and
//!    container structure; `infer` is only used to label what was found);
//! 4. for office containers, that they carry no code (VBA/macros, `ActiveX`,
//!    ODF Basic/Scripts) and, for OOXML, no external relationships;
//! 5. for images and DICOM, the dimensions read from the header before any
//!    decode;
//! 6. for zip archives, the archive limits and every member recursively.
//!
//! Error reasons never contain file contents; member names in archive
//! reasons are passed through a display filter that masks control and bidi
//! characters and truncates long names.
//!
//! Errors for archive members are reported as
//! [`IntakeError::ArchiveRejected`] whose reason names the member and the
//! cause (`member x.png: image rejected: header does not parse`,
//! `member x.pdf: content does not match extension (Windows executable)`).

mod archive;
mod filename;
mod image_header;
mod office;
mod sniff;

pub use archive::{ArchiveMember, largest_declared_member, read_member};
pub use filename::{Filename, FilenameError, MAX_FILENAME_BYTES};

use crate::imaging::DicomIndex;

/// The kind of an archive member that passed [`inspect`]: DICOM by its bytes (members often
/// have no extension), anything else by its extension.
pub fn member_kind(path: &str, bytes: &[u8]) -> Option<Kind> {
    if sniff::is_dicom(bytes) {
        return Some(Kind::Dicom);
    }
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Kind::from_extension(&ext)
}

/// The upload form field a file was submitted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Report,
    Image,
    GuaranteeLetter,
}

impl Field {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Report => "report",
            Field::Image => "image",
            Field::GuaranteeLetter => "guarantee_letter",
        }
    }

    /// Inverse of [`Field::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Field> {
        match s {
            "report" => Some(Field::Report),
            "image" => Some(Field::Image),
            "guarantee_letter" => Some(Field::GuaranteeLetter),
            _ => None,
        }
    }
}

/// Limits applied to zip archives (measured on the inflated streams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Most entries (files, directories and OS junk, over all nesting levels).
    pub max_entries: usize,
    /// Most inflated bytes over all entries (and nesting levels).
    pub max_total_inflated: u64,
    /// Highest inflated/compressed ratio per entry (entries over 1 KiB).
    pub max_ratio: u64,
    /// Deepest archive nesting; 1 means no archive inside the archive.
    pub max_depth: u32,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        ArchiveLimits {
            max_entries: 1000,
            max_total_inflated: 64 * 1024 * 1024,
            max_ratio: 100,
            max_depth: 1,
        }
    }
}

/// What [`inspect`] allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub max_file_bytes: u64,
    /// Accept DICOM (`.dcm`, and extension-less DICOM members in zips) in
    /// the image field (imaging tier).
    pub allow_dicom: bool,
    /// Most width×height for raster images and rows×columns for DICOM.
    pub max_pixels: u64,
    /// Most rows×columns×frames for DICOM.
    pub max_dicom_voxels: u64,
    pub archive: ArchiveLimits,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_file_bytes: 8_388_608,
            allow_dicom: false,
            max_pixels: 50_000_000,
            max_dicom_voxels: 2_000_000_000,
            archive: ArchiveLimits::default(),
        }
    }
}

const REPORT_EXTENSIONS: &[&str] = &[
    "gif", "jpg", "jpeg", "png", "bmp", "eps", "tif", "txt", "rtf", "html", "pdf", "doc", "docx",
    "odt", "ppt", "pptx", "odp", "zip",
];
const IMAGE_EXTENSIONS: &[&str] = &["gif", "jpg", "jpeg", "png", "zip"];
const IMAGE_EXTENSIONS_DICOM: &[&str] = &["gif", "jpg", "jpeg", "png", "zip", "dcm"];

/// The lower-case extensions a field accepts (for the file itself; archive
/// members use the same list minus `zip`).
#[must_use]
pub fn allowed_extensions(field: Field, allow_dicom: bool) -> &'static [&'static str] {
    match field {
        Field::Report | Field::GuaranteeLetter => REPORT_EXTENSIONS,
        Field::Image if allow_dicom => IMAGE_EXTENSIONS_DICOM,
        Field::Image => IMAGE_EXTENSIONS,
    }
}

/// The kind of file that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Bmp,
    Tiff,
    Eps,
    Pdf,
    Rtf,
    Text,
    Html,
    Doc,
    Docx,
    Ppt,
    Pptx,
    Odt,
    Odp,
    Zip,
    Dicom,
}

impl Kind {
    /// The media type to store and serve the file with.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Bmp => "image/bmp",
            Kind::Tiff => "image/tiff",
            Kind::Eps => "application/postscript",
            Kind::Pdf => "application/pdf",
            Kind::Rtf => "application/rtf",
            Kind::Text => "text/plain; charset=utf-8",
            Kind::Html => "text/html; charset=utf-8",
            Kind::Doc => "application/msword",
            Kind::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Kind::Ppt => "application/vnd.ms-powerpoint",
            Kind::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Kind::Odt => "application/vnd.oasis.opendocument.text",
            Kind::Odp => "application/vnd.oasis.opendocument.presentation",
            Kind::Zip => "application/zip",
            Kind::Dicom => "application/dicom",
        }
    }

    /// The kind an extension (lower-case, no dot) claims. This does not
    /// consult any allow-list.
    #[must_use]
    pub fn from_extension(ext: &str) -> Option<Kind> {
        Some(match ext {
            "jpg" | "jpeg" => Kind::Jpeg,
            "png" => Kind::Png,
            "gif" => Kind::Gif,
            "bmp" => Kind::Bmp,
            "tif" => Kind::Tiff,
            "eps" => Kind::Eps,
            "pdf" => Kind::Pdf,
            "rtf" => Kind::Rtf,
            "txt" => Kind::Text,
            "html" => Kind::Html,
            "doc" => Kind::Doc,
            "docx" => Kind::Docx,
            "ppt" => Kind::Ppt,
            "pptx" => Kind::Pptx,
            "odt" => Kind::Odt,
            "odp" => Kind::Odp,
            "zip" => Kind::Zip,
            "dcm" => Kind::Dicom,
            _ => return None,
        })
    }
}

/// The result of a successful inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    pub media_type: &'static str,
    pub kind: Kind,
    /// (width, height) for raster images; (columns, rows) for DICOM with an
    /// image; `None` otherwise (including zips).
    pub dimensions: Option<(u32, u32)>,
    /// For zips: number of file members that were type-checked (directories
    /// and OS junk not counted); 0 otherwise.
    pub archive_members: usize,
    /// For zips: those members, in order (nested archives' members not listed).
    pub members: Vec<ArchiveMember>,
    /// For DICOM: the index read while checking it (each object is parsed once, at intake).
    pub dicom: Option<DicomIndex>,
    /// Bytes inflated while checking (archive members, office parts, deflated DICOM data sets),
    /// all within `policy.archive.max_total_inflated`.
    pub inflated: u64,
}

/// What [`check_content`] read from a file's bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Content {
    /// (width, height) for raster images; (columns, rows) for DICOM with an image.
    pub dimensions: Option<(u32, u32)>,
    pub dicom: Option<DicomIndex>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("file too large")]
    FileTooLarge { limit_bytes: u64 },
    #[error("extension not allowed")]
    ExtensionNotAllowed { allowed: &'static [&'static str] },
    #[error("content does not match extension")]
    ContentMismatch { detected: String },
    #[error("archive rejected: {reason}")]
    ArchiveRejected { reason: String },
    #[error("image rejected: {reason}")]
    ImageRejected { reason: String },
}

/// A `ContentMismatch` labelled with what the bytes look like.
pub(crate) fn mismatch(bytes: &[u8]) -> IntakeError {
    IntakeError::ContentMismatch {
        detected: sniff::describe(bytes),
    }
}

/// Decide whether `bytes`, uploaded as `filename` under `field`, may be
/// accepted.
pub fn inspect(
    field: Field,
    filename: &Filename,
    bytes: &[u8],
    policy: &Policy,
) -> Result<Inspected, IntakeError> {
    if bytes.len() as u64 > policy.max_file_bytes {
        return Err(IntakeError::FileTooLarge {
            limit_bytes: policy.max_file_bytes,
        });
    }
    let allowed = allowed_extensions(field, policy.allow_dicom);
    let kind = filename
        .extension()
        .filter(|ext| allowed.contains(&ext.as_str()))
        .and_then(|ext| Kind::from_extension(&ext))
        .ok_or(IntakeError::ExtensionNotAllowed { allowed })?;
    if kind == Kind::Zip {
        let (members, inflated) = archive::check_archive(field, bytes, policy)?;
        return Ok(Inspected {
            media_type: kind.media_type(),
            kind,
            dimensions: None,
            archive_members: members.len(),
            members,
            dicom: None,
            inflated,
        });
    }
    let mut parts =
        office::PartBudget::new(policy.archive.max_total_inflated, policy.archive.max_ratio);
    let content = check_content(kind, bytes, policy, &mut parts)?;
    Ok(Inspected {
        media_type: kind.media_type(),
        kind,
        dimensions: content.dimensions,
        archive_members: 0,
        members: Vec::new(),
        dicom: content.dicom,
        inflated: parts.used(),
    })
}

/// Check that `bytes` are a `kind` file (any kind but [`Kind::Zip`], which
/// [`archive`] handles) and, for images, that the header dimensions are
/// within the policy. `parts` bounds the inflation of office metadata parts
/// and of deflated DICOM data sets.
pub(crate) fn check_content(
    kind: Kind,
    bytes: &[u8],
    policy: &Policy,
    parts: &mut office::PartBudget,
) -> Result<Content, IntakeError> {
    let dimensions = |d| Content {
        dimensions: d,
        dicom: None,
    };
    if bytes.is_empty() {
        return Err(IntakeError::ContentMismatch {
            detected: "empty file".into(),
        });
    }
    let require = |ok: bool| if ok { Ok(()) } else { Err(mismatch(bytes)) };
    match kind {
        Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Bmp | Kind::Tiff => {
            let magic = match kind {
                Kind::Jpeg => sniff::is_jpeg(bytes),
                Kind::Png => sniff::is_png(bytes),
                Kind::Gif => sniff::is_gif(bytes),
                Kind::Bmp => sniff::is_bmp(bytes),
                _ => sniff::is_tiff(bytes),
            };
            require(magic)?;
            image_header::raster_dimensions(kind, bytes, policy).map(|d| dimensions(Some(d)))
        }
        Kind::Dicom => {
            require(sniff::is_dicom(bytes))?;
            let read = image_header::read_dicom(bytes, policy, parts.remaining())?;
            parts.charge(read.inflated);
            Ok(Content {
                dimensions: read.dimensions,
                dicom: Some(read.index),
            })
        }
        Kind::Eps => require(sniff::is_eps(bytes)).map(|()| dimensions(None)),
        Kind::Pdf => require(sniff::is_pdf(bytes)).map(|()| dimensions(None)),
        Kind::Rtf => require(sniff::is_rtf(bytes)).map(|()| dimensions(None)),
        Kind::Text => require(sniff::is_text(bytes)).map(|()| dimensions(None)),
        Kind::Html => require(sniff::is_html(bytes)).map(|()| dimensions(None)),
        Kind::Doc | Kind::Ppt => office::check_ole2(bytes, kind).map(|()| dimensions(None)),
        Kind::Docx | Kind::Pptx | Kind::Odt | Kind::Odp => {
            office::check_zip_office(bytes, kind, parts).map(|()| dimensions(None))
        }
        Kind::Zip => require(sniff::is_zip(bytes)).map(|()| dimensions(None)),
    }
}

#[cfg(test)]
mod tests;
