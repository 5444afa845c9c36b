//! Submitting a second-opinion request: every file is checked, hashed, sealed under a fresh case key
//! and stored as it arrives (so memory holds one file at a time); the case row, its documents and the
//! audit events are then committed in one transaction. All or nothing: any failure deletes the blobs
//! this submission wrote, and no row exists until the end.

mod files;
mod patient_form;

pub use files::intake_error;
use patient_form::PatientForm;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::budget::Reservation;
use super::{ServiceError, Services};
use crate::crypto::{CaseKey, encrypt_field};
use crate::db::{CaseRecord, DbError, DocumentRecord};
use crate::domain::{
    AuditAction, AuditActor, AuditEvent, AuditOutcome, CaseId, CaseStatus, DocumentCategory,
    DocumentId, ObjectKey, Reference, ServiceTier,
};
use crate::intake::Field;
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
