//! Submitting a second-opinion request: every file is checked, hashed, sealed under a fresh case key
//! and stored as it arrives (so memory holds one file at a time); the case row, its documents and the
//! audit events are then committed in one transaction. All or nothing: any failure deletes the blobs
//! this submission wrote, and no row exists until the end.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use ring::digest;
use serde::Serialize;
use utoipa::ToSchema;

use super::budget::Reservation;
use super::{ServiceError, Services};
use crate::crypto::{CaseKey, encrypt_field, seal_blob};
use crate::db::{CaseRecord, DbError, DocumentRecord};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, CaseStatus, ContactPreference,
    DocumentCategory, DocumentId, EmailAddress, ObjectKey, Reference, ServiceTier, Sponsor,
    patient,
};
use crate::imaging::DicomIndex;
use crate::intake::{self, Field, Filename, IntakeError, Kind};
use crate::storage::BlobStore;

/// What the patient is told once the request is stored.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Receipt {
    pub reference: String,
    pub case_id: CaseId,
    pub received_at: DateTime<Utc>,
    pub contact_by: DateTime<Utc>,
    pub documents: Vec<StoredDocument>,
}

/// One stored file, as reported back to its uploader.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoredDocument {
    pub id: DocumentId,
    pub filename: String,
    pub category: DocumentCategory,
    pub media_type: String,
    pub size: u64,
    pub sha256: String,
}

struct StoredFile {
    document: StoredDocument,
    object_key: ObjectKey,
    /// The archive this file was unpacked from.
    parent: Option<DocumentId>,
    /// For DICOM: its index, sealed under the case key.
    dicom_index_enc: Option<Vec<u8>>,
    /// Set when the file is acceptable only in the imaging tier (DICOM), with the error to give
    /// if the request turns out not to be for that tier.
    imaging_only: Option<ServiceError>,
}

/// The context string binding an encrypted field to its row and column.
pub fn field_context(case: CaseId, column: &str) -> String {
    format!("case/{case}/{column}")
}

pub fn document_field_context(document: DocumentId, column: &str) -> String {
    format!("document/{document}/{column}")
}

/// A request being received.
pub struct Submission {
    services: Arc<Services>,
    case_id: CaseId,
    case_key: CaseKey,
    actor: AuditActor,
    client: Option<String>,
    service_hint: Option<ServiceTier>,
    files: Vec<StoredFile>,
    images: usize,
    reports: usize,
    letters: usize,
    /// The request's memory from the upload budget: grows as it holds more.
    held: Reservation,
    /// Inflated bytes the request may still produce while its files are checked (archive members,
    /// office parts, deflated DICOM data sets): `intake.archive_max_inflated_bytes` for the whole
    /// request, not per file.
    inflated_left: u64,
    finished: bool,
}

impl Submission {
    /// A new request from a patient: a new case with a new key.
    pub fn begin(services: Arc<Services>, client: Option<String>, held: Reservation) -> Self {
        Self::for_case(
            services,
            CaseId::new(),
            CaseKey::generate(),
            None,
            AuditActor::Patient,
            client,
            held,
        )
    }

    /// Documents added to an existing case (through a link or by a partner), under the case's
    /// own key and its tier's rules (`tier`; a new request learns it from its `service` field).
    /// `held` is the request's share of the upload budget ([`Services::upload_reservation`]).
    pub fn for_case(
        services: Arc<Services>,
        case_id: CaseId,
        case_key: CaseKey,
        tier: Option<ServiceTier>,
        actor: AuditActor,
        client: Option<String>,
        held: Reservation,
    ) -> Self {
        Self {
            case_id,
            case_key,
            actor,
            client,
            service_hint: tier,
            files: Vec::new(),
            images: 0,
            reports: 0,
            letters: 0,
            held,
            inflated_left: services.settings.intake.archive_max_inflated_bytes,
            services,
            finished: false,
        }
    }

    /// The service tier, when the form sends it before the files (it decides whether DICOM is allowed).
    pub fn set_service_hint(&mut self, raw: &str) {
        if self.service_hint.is_none() {
            self.service_hint = ServiceTier::parse(raw.trim());
        }
    }

    /// Makes sure the upload budget covers `bytes` held by this request now (its reservation
    /// grows as bytes arrive); `unavailable` when the budget stays full.
    pub async fn hold(&mut self, bytes: u64) -> Result<(), ServiceError> {
        if self.held.ensure(bytes).await {
            Ok(())
        } else {
            Err(ServiceError::Unavailable {
                reason: "upload budget full".into(),
                retry_after_seconds: 10,
            })
        }
    }

    /// Counts a file about to be read, refusing it before any of its bytes are read when the
    /// field is full.
    pub fn claim_slot(&mut self, field: Field) -> Result<(), ServiceError> {
        let intake = &self.services.settings.intake;
        match field {
            Field::Image => {
                self.images += 1;
                if self.images > intake.max_images {
                    return Err(ServiceError::TooManyImages {
                        limit: intake.max_images,
                    });
                }
            }
            Field::Report => {
                self.reports += 1;
                if self.reports > intake.max_reports {
                    return Err(ServiceError::TooManyFiles {
                        field: "report",
                        limit: intake.max_reports,
                    });
                }
            }
            Field::GuaranteeLetter => {
                self.letters += 1;
                if self.letters > 1 {
                    return Err(ServiceError::TooManyFiles {
                        field: "guarantee_letter",
                        limit: 1,
                    });
                }
            }
        }
        Ok(())
    }

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

    /// Validates the form fields and commits the case. On error the caller calls `abort`.
    pub async fn commit(
        &mut self,
        fields: &HashMap<String, String>,
    ) -> Result<Receipt, ServiceError> {
        let form = PatientForm::parse(fields)?;
        if !form.service.allows_dicom()
            && let Some(error) = self.files.iter_mut().find_map(|f| f.imaging_only.take())
        {
            return Err(error);
        }
        if form.service == ServiceTier::RecordsAndImagesReview
            && !self
                .files
                .iter()
                .any(|f| f.document.category == DocumentCategory::Image)
        {
            return Err(ServiceError::ImagesRequired);
        }

        let services = Arc::clone(&self.services);
        // Stored with microsecond precision; the receipt shows the same instant.
        let received_at = self.services.clock.now_stored();
        let contact_by = services.calendar.contact_by(received_at);
        let case_id = self.case_id;
        let key = &self.case_key;
        let seal = |column: &str, value: &str| {
            encrypt_field(key, &field_context(case_id, column), value.as_bytes())
        };
        let wrapped = services.keys.wrap(&case_id.to_string(), key);
        let documents = self.document_records(received_at);
        let mut events = vec![
            AuditEvent::new(
                self.actor.clone(),
                AuditAction::RequestSubmitted,
                AuditOutcome::Success,
            )
            .case(case_id)
            .client(self.client.clone()),
        ];
        events.extend(self.stored_events());
        for event in &mut events {
            event.at = received_at;
        }

        // References are random: on the rare collision, draw again.
        for _ in 0..5 {
            let record = CaseRecord {
                id: case_id,
                reference: Reference::generate(),
                status: CaseStatus::Received,
                service: form.service,
                contact_preference: form.contact_preference,
                sponsor: form.sponsor,
                received_at,
                contact_by,
                kek_id: wrapped.kek_id.as_str().to_owned(),
                wrapped_key: wrapped.bytes.clone(),
                full_name_enc: seal("full_name", &form.full_name),
                email_enc: seal("email", form.email.as_str()),
                phone_enc: form.phone.as_deref().map(|p| seal("phone", p)),
                condition_enc: seal("condition", &form.condition),
                sponsor_reference_enc: form
                    .sponsor_reference
                    .as_deref()
                    .map(|r| seal("sponsor_reference", r)),
            };
            match services
                .repo
                .create_case(&record, &documents, &events)
                .await
            {
                Ok(()) => {
                    self.finished = true;
                    return Ok(Receipt {
                        reference: record.reference.as_str().to_owned(),
                        case_id,
                        received_at,
                        contact_by,
                        documents: self.top_level_documents(),
                    });
                }
                Err(DbError::Duplicate) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Internal(
            "could not draw a free reference".into(),
        ))
    }

    /// Commits the stored files to the existing case (see `for_case`). On error the caller calls `abort`.
    pub async fn commit_additions(&mut self) -> Result<Vec<StoredDocument>, ServiceError> {
        if self.files.is_empty() {
            return Err(ServiceError::InvalidField {
                field: "file".into(),
                message: "no file was sent".into(),
            });
        }
        let now = self.services.clock.now_stored();
        let documents = self.document_records(now);
        let mut events = self.stored_events();
        for event in &mut events {
            event.at = now;
        }
        self.services
            .repo
            .add_documents(&documents, &events)
            .await?;
        self.finished = true;
        Ok(self.top_level_documents())
    }

    /// What the uploader is told: the files they sent (archive members are stored, not listed).
    fn top_level_documents(&self) -> Vec<StoredDocument> {
        self.files
            .iter()
            .filter(|f| f.parent.is_none())
            .map(|f| f.document.clone())
            .collect()
    }

    fn document_records(&self, created_at: DateTime<Utc>) -> Vec<DocumentRecord> {
        self.files
            .iter()
            .map(|f| DocumentRecord {
                id: f.document.id,
                case_id: self.case_id,
                category: f.document.category,
                media_type: f.document.media_type.clone(),
                size: f.document.size,
                sha256: f.document.sha256.clone(),
                filename_enc: encrypt_field(
                    &self.case_key,
                    &document_field_context(f.document.id, "filename"),
                    f.document.filename.as_bytes(),
                ),
                object_key: f.object_key.as_str().to_owned(),
                created_at,
                parent_id: f.parent,
                dicom_index_enc: f.dicom_index_enc.clone(),
            })
            .collect()
    }

    /// One event per stored file: `document.stored`, or `opinion.uploaded` for an opinion.
    fn stored_events(&self) -> Vec<AuditEvent> {
        self.files
            .iter()
            .map(|f| {
                let action = if f.document.category == DocumentCategory::Opinion {
                    AuditAction::OpinionUploaded
                } else {
                    AuditAction::DocumentStored
                };
                AuditEvent::new(self.actor.clone(), action, AuditOutcome::Success)
                    .case(self.case_id)
                    .document(f.document.id)
                    .client(self.client.clone())
            })
            .collect()
    }

    /// Deletes every blob this submission stored.
    pub async fn abort(mut self) {
        self.finished = true;
        let keys: Vec<ObjectKey> = self.files.drain(..).map(|f| f.object_key).collect();
        delete_all(self.services.blobs.as_ref(), &keys).await;
    }
}

impl Drop for Submission {
    /// A submission dropped mid-way (the client went away) still removes its blobs.
    fn drop(&mut self) {
        if self.finished || self.files.is_empty() {
            return;
        }
        let keys: Vec<ObjectKey> = self.files.drain(..).map(|f| f.object_key).collect();
        let blobs = Arc::clone(&self.services.blobs);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { delete_all(blobs.as_ref(), &keys).await });
        }
    }
}

async fn delete_all(blobs: &dyn BlobStore, keys: &[ObjectKey]) {
    for key in keys {
        if let Err(e) = blobs.delete(key).await {
            // The sweep removes unreferenced blobs later; the object key names no person.
            tracing::warn!(object_key = %key, error = %e, "could not delete the blob of a rejected request");
        }
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

/// The patient's answers, validated.
struct PatientForm {
    full_name: String,
    email: EmailAddress,
    phone: Option<String>,
    contact_preference: ContactPreference,
    service: ServiceTier,
    condition: String,
    sponsor: Sponsor,
    sponsor_reference: Option<String>,
}

fn invalid(field: &str, message: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// A form field, by the patient rules (`domain::patient`).
fn text(
    fields: &HashMap<String, String>,
    name: &'static str,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, ServiceError> {
    Ok(patient::text(
        name,
        fields.get(name).map(String::as_str),
        max,
        multiline,
    )?)
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    fields.get(name).map(String::as_str)
}

impl PatientForm {
    fn parse(fields: &HashMap<String, String>) -> Result<Self, ServiceError> {
        let full_name = patient::full_name(field(fields, "full_name"))?;
        let email = patient::email(field(fields, "email"))?;
        let contact_preference = patient::contact_preference(field(fields, "contact_preference"))?;
        let phone = patient::phone(field(fields, "phone"))?;
        patient::contact(phone.as_deref(), contact_preference)?;
        let service = ServiceTier::parse(&patient::required(
            "service",
            field(fields, "service"),
            40,
            false,
        )?)
        .ok_or_else(|| {
            invalid(
                "service",
                "must be records_review or records_and_images_review",
            )
        })?;
        let condition = patient::condition(field(fields, "condition"))?;
        let sponsor = match text(fields, "sponsor", 20, false)? {
            None => Sponsor::SelfFunded,
            Some(raw) => Sponsor::parse(&raw)
                .ok_or_else(|| invalid("sponsor", "must be self, embassy or insurer"))?,
        };
        let sponsor_reference = patient::sponsor_reference(field(fields, "sponsor_reference"))?;
        if sponsor != Sponsor::SelfFunded && sponsor_reference.is_none() {
            return Err(invalid(
                "sponsor_reference",
                "required for embassy or insurer sponsorship",
            ));
        }
        let accepted = fields.get("terms_accepted").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "true" | "yes" | "on"
            )
        });
        if !accepted {
            return Err(ServiceError::TermsNotAccepted);
        }
        Ok(Self {
            full_name,
            email,
            phone,
            contact_preference,
            service,
            condition,
            sponsor,
            sponsor_reference: sponsor_reference.filter(|_| sponsor != Sponsor::SelfFunded),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut base: HashMap<String, String> = [
            ("full_name", "Jane Doe"),
            ("email", "jane@example.org"),
            ("service", "records_review"),
            (
                "condition",
                "Second opinion on a biopsy result.\nPlease review.",
            ),
            ("terms_accepted", "on"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in pairs {
            if v.is_empty() {
                base.remove(*k);
            } else {
                base.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        base
    }

    fn field_of(err: ServiceError) -> String {
        match err {
            ServiceError::InvalidField { field, .. } => field,
            other => panic!("expected invalid-field, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_form_parses() {
        let f = PatientForm::parse(&form(&[])).unwrap();
        assert_eq!(f.full_name, "Jane Doe");
        assert_eq!(f.contact_preference, ContactPreference::Email);
        assert_eq!(f.sponsor, Sponsor::SelfFunded);
    }

    #[test]
    fn each_rule_names_its_field() {
        let long_name = "x".repeat(201);
        let long_condition = "x".repeat(5001);
        for (pairs, field) in [
            (vec![("full_name", "")], "full_name"),
            (vec![("full_name", long_name.as_str())], "full_name"),
            (vec![("email", "not-an-email")], "email"),
            (vec![("contact_preference", "phone")], "phone"),
            (vec![("contact_preference", "pigeon")], "contact_preference"),
            (vec![("phone", "call me")], "phone"),
            (vec![("service", "gold")], "service"),
            (vec![("condition", "")], "condition"),
            (vec![("condition", long_condition.as_str())], "condition"),
            (vec![("sponsor", "embassy")], "sponsor_reference"),
            (vec![("sponsor", "uncle")], "sponsor"),
            (vec![("full_name", "Jane\u{7}Doe")], "full_name"),
        ] {
            assert_eq!(
                field_of(PatientForm::parse(&form(&pairs)).err().unwrap()),
                field
            );
        }
    }

    #[test]
    fn terms_must_be_accepted() {
        for value in ["", "false", "no", "0"] {
            assert!(matches!(
                PatientForm::parse(&form(&[("terms_accepted", value)])),
                Err(ServiceError::TermsNotAccepted)
            ));
        }
        for value in ["true", "YES", "on"] {
            assert!(PatientForm::parse(&form(&[("terms_accepted", value)])).is_ok());
        }
    }

    #[test]
    fn phone_contact_with_a_number_is_accepted() {
        let f = PatientForm::parse(&form(&[
            ("contact_preference", "phone"),
            ("phone", "+44 (0)20 7946 0958"),
        ]))
        .unwrap();
        assert_eq!(f.phone.as_deref(), Some("+44 (0)20 7946 0958"));
    }
}
