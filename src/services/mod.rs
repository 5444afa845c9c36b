//! Use cases: submit a request, read a case, stream a document, manage admin tokens and keys.
//! Handlers call these; these call the repositories, the blob store and crypto.

pub mod admin;
pub mod audit;
pub mod budget;
pub mod cases;
pub mod documents;
pub mod keys;
pub mod links;
pub mod partners;
pub mod previews;
pub mod submit;

use std::sync::Arc;

use crate::config::Settings;
use crate::crypto::{CaseKey, KekId, KeyRing, WrappedCaseKey};
use crate::db::{DbError, Repository, SqlRepository};
use crate::domain::{CaseId, CaseStatus, Clock, ErrorCode, SystemClock, WorkingCalendar};
use crate::intake::{ArchiveLimits, Policy};
use crate::storage::{self, BlobStore, StorageError};
use crate::telemetry::Metrics;
use budget::{ClientUploads, Reservation, UploadBudget};

/// Errors of the use cases. Each user-facing variant maps to one problem `code` in `http::problem`;
/// `Internal` is opaque to clients and logged.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("field `{field}` is invalid: {message}")]
    InvalidField { field: String, message: String },
    /// A field of a closed set given a value outside it (`invalid-field` with `allowed`).
    #[error("field `{field}` is not one of the allowed values")]
    InvalidChoice {
        field: String,
        allowed: &'static [&'static str],
    },
    #[error("terms not accepted")]
    TermsNotAccepted,
    #[error("too many images (limit {limit})")]
    TooManyImages { limit: usize },
    #[error("too many files in `{field}` (limit {limit})")]
    TooManyFiles { field: &'static str, limit: usize },
    #[error("the imaging tier needs at least one image")]
    ImagesRequired,
    #[error("file over {limit_bytes} bytes")]
    FileTooLarge { filename: String, limit_bytes: u64 },
    #[error("request body over {limit_bytes} bytes")]
    RequestTooLarge { limit_bytes: u64 },
    /// The client sent nothing of its body for `idle_seconds`.
    #[error("request body idle for {idle_seconds} s")]
    RequestTimeout { idle_seconds: u64 },
    #[error("extension not allowed")]
    ExtensionNotAllowed {
        filename: String,
        allowed: Vec<String>,
    },
    #[error("content does not match the extension")]
    ContentMismatch { filename: String, detected: String },
    #[error("archive rejected: {reason}")]
    ArchiveRejected { filename: String, reason: String },
    #[error("image rejected: {reason}")]
    ImageRejected { filename: String, reason: String },
    /// A DICOM file (`extension-not-allowed`), or a zip holding DICOM (`archive-rejected`), sent
    /// with a service that does not take DICOM: acceptable as it is with the imaging tier.
    #[error("DICOM needs the records and images review")]
    DicomNeedsImagingReview {
        filename: String,
        in_archive: bool,
        allowed: Vec<String>,
    },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("not found")]
    NotFound,
    #[error("unauthorized")]
    Unauthorized,
    #[error("not previewable: {reason}")]
    NotPreviewable { reason: String },
    #[error("forbidden")]
    Forbidden,
    #[error("link expired")]
    LinkExpired,
    #[error("link revoked")]
    LinkRevoked { locked: bool },
    #[error("link used up")]
    LinkUsedUp,
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    /// `case_id`: the case the key created, when there is one (the partner's own).
    #[error("idempotency key reused with a different body")]
    IdempotencyConflict { case_id: Option<CaseId> },
    /// The case's status does not allow the action; `allowed` are the statuses that would.
    #[error("the case's status does not allow this")]
    InvalidTransition {
        status: CaseStatus,
        allowed: Vec<CaseStatus>,
    },
    /// The same request is still in progress (`retry_after_seconds` set), or a document id already
    /// holds different bytes.
    #[error("conflict: {reason}")]
    Conflict {
        reason: &'static str,
        retry_after_seconds: Option<u64>,
    },
    #[error("checksum mismatch")]
    ChecksumMismatch {
        filename: String,
        declared: String,
        actual: String,
    },
    #[error("a stored blob failed to verify")]
    Integrity,
    #[error("temporarily unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after_seconds: u64,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The problem code this error answers with.
    pub fn code(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Self::InvalidField { .. } | Self::InvalidChoice { .. } => C::InvalidField,
            Self::TermsNotAccepted => C::TermsNotAccepted,
            Self::TooManyImages { .. } => C::TooManyImages,
            Self::TooManyFiles { .. } => C::TooManyFiles,
            Self::ImagesRequired => C::ImagesRequired,
            Self::FileTooLarge { .. } => C::FileTooLarge,
            Self::RequestTooLarge { .. } => C::RequestTooLarge,
            Self::RequestTimeout { .. } => C::RequestTimeout,
            // DICOM sent with a service that does not take it keeps the code of what was sent.
            Self::ExtensionNotAllowed { .. }
            | Self::DicomNeedsImagingReview {
                in_archive: false, ..
            } => C::ExtensionNotAllowed,
            Self::ContentMismatch { .. } => C::ContentMismatch,
            Self::ArchiveRejected { .. }
            | Self::DicomNeedsImagingReview {
                in_archive: true, ..
            } => C::ArchiveRejected,
            Self::ImageRejected { .. } => C::ImageRejected,
            Self::Malformed(_) => C::MalformedRequest,
            Self::UnsupportedMediaType => C::UnsupportedMediaType,
            Self::NotFound => C::NotFound,
            Self::Unauthorized => C::Unauthorized,
            Self::Integrity => C::IntegrityError,
            Self::Unavailable { .. } => C::Unavailable,
            Self::RateLimited { .. } => C::RateLimited,
            Self::Forbidden => C::Forbidden,
            Self::NotPreviewable { .. } => C::NotPreviewable,
            Self::LinkExpired => C::LinkExpired,
            Self::LinkRevoked { .. } => C::LinkRevoked,
            Self::LinkUsedUp => C::LinkUsedUp,
            Self::IdempotencyConflict { .. } => C::IdempotencyConflict,
            Self::InvalidTransition { .. } => C::InvalidTransition,
            Self::Conflict { .. } => C::Conflict,
            Self::ChecksumMismatch { .. } => C::ChecksumMismatch,
            Self::Internal(_) => C::InternalError,
        }
    }
}

impl From<crate::domain::patient::FieldError> for ServiceError {
    fn from(e: crate::domain::patient::FieldError) -> Self {
        Self::InvalidField {
            field: e.field.to_owned(),
            message: e.message,
        }
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(inner) => Self::Unavailable {
                reason: format!("database: {inner}"),
                retry_after_seconds: 5,
            },
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

impl From<StorageError> for ServiceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => Self::Internal("blob missing for a stored document".into()),
            StorageError::Unavailable(reason) => Self::Unavailable {
                reason: format!("storage: {reason}"),
                retry_after_seconds: 5,
            },
            StorageError::Io(io) => Self::Internal(format!("storage: {io}")),
        }
    }
}

/// Everything a use case needs, built once at startup and shared by every worker.
pub struct Services {
    pub settings: Settings,
    pub repo: Arc<dyn Repository>,
    pub blobs: Arc<dyn BlobStore>,
    pub keys: KeyRing,
    pub calendar: WorkingCalendar,
    pub budget: UploadBudget,
    pub client_uploads: ClientUploads,
    pub metrics: Metrics,
    /// Bounds CPU-heavy work (intake inspection, sealing, DICOM decode, thumbnails) to the cores
    /// there are: see [`Services::run_cpu`].
    pub cpu_permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// Refused accesses being aggregated, and how far the audit chain is verified.
    pub audit: audit::AuditState,
    /// Where expiry, deadlines, sessions and timestamps read the time.
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Database(#[from] DbError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("keys: {0}")]
    Keys(String),
}

impl Services {
    /// Connects to the database and storage the settings name, and loads the key ring.
    pub async fn connect(settings: Settings) -> Result<Self, StartupError> {
        let keys = keys::load_key_ring(&settings).map_err(StartupError::Keys)?;
        let repo =
            SqlRepository::connect(&settings.database_url()?, settings.database.max_connections)
                .await?;
        let blobs = storage::open(&settings.storage_backend()?).await?;
        Self::assemble(settings, Arc::new(repo), blobs, keys)
    }

    /// Builds from parts (tests use this with their own stores).
    pub fn assemble(
        settings: Settings,
        repo: Arc<dyn Repository>,
        blobs: Arc<dyn BlobStore>,
        keys: KeyRing,
    ) -> Result<Self, StartupError> {
        let calendar = WorkingCalendar::new(settings.time_zone()?, settings.bank_holidays()?);
        let budget = UploadBudget::new(
            settings.intake.upload_budget_bytes,
            std::time::Duration::from_secs(settings.intake.upload_budget_wait_seconds),
        );
        let client_uploads = ClientUploads::new(settings.intake.max_uploads_per_client);
        let audit = audit::AuditState::new(std::time::Duration::from_secs(
            settings.server.denial_audit_window_seconds,
        ));
        Ok(Self {
            audit,
            settings,
            repo,
            blobs,
            keys,
            calendar,
            budget,
            client_uploads,
            metrics: Metrics::new(),
            cpu_permits: std::sync::Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            )),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same services reading the time from `clock` (tests move a [`crate::domain::ManualClock`]).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs CPU-heavy work on the blocking pool, behind the CPU semaphore shared by intake and
    /// rendering, so that no mix of uploads and previews runs more such tasks than there are cores.
    pub async fn run_cpu<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let permit = self
            .cpu_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Internal("CPU semaphore closed".into()))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("CPU task: {e}")))
    }

    /// A request's share of the upload budget, for a body of `body_bytes` (its `Content-Length`;
    /// unknown for a chunked body). It claims what one file of it and its sealed copy hold at
    /// most: each file is sealed and stored before the next is read.
    pub fn upload_reservation(&self, body_bytes: Option<u64>) -> Reservation {
        let max_file = self.settings.intake.max_file_bytes;
        let file = body_bytes.map_or(max_file, |len| len.min(max_file));
        self.budget.start(2 * file)
    }

    /// The intake policy for one upload field, from configuration.
    pub fn intake_policy(&self, allow_dicom: bool) -> Policy {
        let i = &self.settings.intake;
        Policy {
            max_file_bytes: i.max_file_bytes,
            allow_dicom,
            max_pixels: i.max_pixels,
            max_dicom_voxels: i.max_dicom_voxels,
            archive: ArchiveLimits {
                max_entries: i.archive_max_entries,
                max_total_inflated: i.archive_max_inflated_bytes,
                max_ratio: i.archive_max_ratio,
                max_depth: i.archive_max_depth,
            },
        }
    }

    /// Unwraps a case's key from its stored form.
    pub fn case_key(
        &self,
        case: CaseId,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<CaseKey, ServiceError> {
        let wrapped = WrappedCaseKey {
            kek_id: KekId::parse(kek_id).map_err(|e| ServiceError::Internal(e.to_string()))?,
            bytes: wrapped.to_vec(),
        };
        self.keys
            .unwrap(&case.to_string(), &wrapped)
            .map_err(|e| ServiceError::Internal(format!("case key of {case}: {e}")))
    }
}
