//! One file of a submission: inspected once, its members and DICOM index kept, sealed and stored;
//! and the problem an uploader is shown when a file is refused.

use bytes::Bytes;
use ring::digest;

use super::{StoredDocument, StoredFile, Submission, document_field_context};
use crate::crypto::{encrypt_field, seal_blob};
use crate::domain::{DocumentCategory, DocumentId, ObjectKey, ServiceTier};
use crate::imaging::DicomIndex;
use crate::intake::{self, Field, Filename, IntakeError, Kind};
use crate::services::ServiceError;

impl Submission {
    /// Checks one whole file against the intake rules, then seals and stores it.
    pub async fn add_file(
        &mut self,
        field: Field,
        category: DocumentCategory,
        raw_filename: &str,
        bytes: Vec<u8>,
    ) -> Result<(), ServiceError> {
        let filename = Filename::parse(raw_filename).map_err(|e| ServiceError::InvalidField {
            field: field.as_str().into(),
            message: format!("file name not accepted: {e}"),
        })?;
        let hint = self.service_hint;
        let allow_dicom_now = hint.is_none_or(ServiceTier::allows_dicom);
        let mut strict = self.services.intake_policy(false);
        let mut lenient = self.services.intake_policy(true);
        strict.archive.max_total_inflated = self.inflated_left;
        lenient.archive.max_total_inflated = self.inflated_left;

        // Held while this file is checked and stored: the file, then its sealed copy or, for an
        // archive, one member at a time with its sealed copy. Members whose inflated size is not
        // what the archive declares are refused, so the declared size bounds what is held.
        let len = bytes.len() as u64;
        let largest_member = if filename.extension().as_deref() == Some("zip") {
            intake::largest_declared_member(&bytes).min(self.inflated_left)
        } else {
            0
        };
        self.hold(len + len.max(2 * largest_member)).await?;

        // Inspection is CPU work: on the blocking pool behind the CPU semaphore. A zip's members
        // and a DICOM file's index are read here, once, and kept for storing.
        let (inspected, imaging_only, bytes, filename) = self
            .services
            .run_cpu(move || {
                let (inspected, imaging_only) =
                    match intake::inspect(field, &filename, &bytes, &strict) {
                        Ok(inspected) => (inspected, None),
                        // Refused as it stands but accepted with DICOM allowed: DICOM is all that is
                        // wrong, and the patient is told which service takes it.
                        Err(strict_error) if field == Field::Image => {
                            match intake::inspect(field, &filename, &bytes, &lenient) {
                                Ok(inspected) => {
                                    let needs = dicom_needs_imaging(&filename, inspected.kind);
                                    if !allow_dicom_now {
                                        return Err(needs);
                                    }
                                    (inspected, Some(needs))
                                }
                                Err(e) if allow_dicom_now => {
                                    return Err(intake_error(&filename, e));
                                }
                                Err(_) => return Err(intake_error(&filename, strict_error)),
                            }
                        }
                        Err(e) => return Err(intake_error(&filename, e)),
                    };
                Ok((inspected, imaging_only, bytes, filename))
            })
            .await??;
        self.inflated_left = self.inflated_left.saturating_sub(inspected.inflated);

        // With the tier known, `inspect` already applied the right rules.
        let imaging_only = if hint.is_some() { None } else { imaging_only };
        let bytes = Bytes::from(bytes);
        let archive = self
            .store(
                filename.as_str().to_owned(),
                category,
                inspected.media_type,
                bytes.clone(),
                None,
                inspected.dicom,
                imaging_only,
            )
            .await?;
        if field == Field::Image && inspected.kind == Kind::Zip {
            for (n, member) in inspected.members.into_iter().enumerate() {
                self.store_member(n, member, &bytes, category, archive)
                    .await?;
            }
        }
        Ok(())
    }

    /// Inflates one checked archive member and stores it as a document of its own. Members are
    /// held one at a time, within what `add_file` reserved.
    async fn store_member(
        &mut self,
        n: usize,
        member: intake::ArchiveMember,
        archive_bytes: &Bytes,
        category: DocumentCategory,
        archive: DocumentId,
    ) -> Result<DocumentId, ServiceError> {
        let base = member.path.rsplit(['/', '\\']).next().unwrap_or_default();
        let name = Filename::parse(base)
            .map_or_else(|_| format!("member-{}", n + 1), |f| f.as_str().to_owned());
        let archive_bytes = archive_bytes.clone();
        let dicom = member.dicom.clone();
        let (media_type, data) = self
            .services
            .run_cpu(move || {
                let data = intake::read_member(&archive_bytes, &member)?;
                let media_type = intake::member_kind(&member.path, &data)
                    .map_or("application/octet-stream", Kind::media_type);
                Ok::<_, IntakeError>((media_type, data))
            })
            .await?
            // The intake error names the member: the log gets its position only.
            .map_err(|_| {
                ServiceError::Internal(format!("re-reading checked archive member {}", n + 1))
            })?;
        self.store(
            name,
            category,
            media_type,
            Bytes::from(data),
            Some(archive),
            dicom,
            None,
        )
        .await
    }

    /// Hashes, seals and stores one document's bytes; a DICOM file's index (read at inspection)
    /// is sealed beside it.
    #[allow(clippy::too_many_arguments)]
    async fn store(
        &mut self,
        filename: String,
        category: DocumentCategory,
        media_type: &str,
        bytes: Bytes,
        parent: Option<DocumentId>,
        dicom: Option<DicomIndex>,
        imaging_only: Option<ServiceError>,
    ) -> Result<DocumentId, ServiceError> {
        let id = DocumentId::new();
        let object_key = ObjectKey::document(self.case_id, id);
        let key = self.case_key.clone();
        let kek = self.services.keys.active_id().clone();
        let sealing_key = object_key.clone();
        let (sha256, size, sealed, dicom_index_enc) =
            self.services
                .run_cpu(move || {
                    let sha256 = hex::encode(digest::digest(&digest::SHA256, &bytes));
                    let sealed = seal_blob(&key, &kek, sealing_key.as_str(), &bytes);
                    // The viewer groups DICOM by study and series: the index is sealed like every
                    // personal field (it holds the patient's name, ids and descriptions).
                    let dicom_index_enc = dicom
                        .and_then(|index| serde_json::to_vec(&index).ok())
                        .map(|json| {
                            encrypt_field(&key, &document_field_context(id, "dicom_index"), &json)
                        });
                    (sha256, bytes.len() as u64, sealed, dicom_index_enc)
                })
                .await?;
        self.services
            .blobs
            .put(&object_key, Bytes::from(sealed))
            .await?;
        self.services.metrics.bytes_ingested(size);
        self.files.push(StoredFile {
            document: StoredDocument {
                id,
                filename,
                category,
                media_type: media_type.to_owned(),
                size,
                sha256,
            },
            object_key,
            parent,
            imaging_only,
            dicom_index_enc,
        });
        Ok(id)
    }
}

/// Maps an inspection failure to the problem the uploader sees (with their own file's name).
pub fn intake_error(filename: &Filename, error: IntakeError) -> ServiceError {
    let filename = filename.as_str().to_owned();
    match error {
        IntakeError::FileTooLarge { limit_bytes } => ServiceError::FileTooLarge {
            filename,
            limit_bytes,
        },
        IntakeError::ExtensionNotAllowed { allowed } => ServiceError::ExtensionNotAllowed {
            filename,
            allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
        },
        IntakeError::ContentMismatch { detected } => {
            ServiceError::ContentMismatch { filename, detected }
        }
        IntakeError::ArchiveRejected { reason } => {
            ServiceError::ArchiveRejected { filename, reason }
        }
        IntakeError::ImageRejected { reason } => ServiceError::ImageRejected { filename, reason },
    }
}

/// An image upload that only DICOM keeps out of a non-imaging service: a `.dcm`, or a zip of DICOM.
fn dicom_needs_imaging(filename: &Filename, kind: Kind) -> ServiceError {
    ServiceError::DicomNeedsImagingReview {
        filename: filename.as_str().to_owned(),
        in_archive: kind == Kind::Zip,
        allowed: intake::allowed_extensions(Field::Image, false)
            .iter()
            .map(|e| (*e).to_owned())
            .collect(),
    }
}
