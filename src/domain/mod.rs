//! The service's vocabulary: ids, cases, documents, deadlines and the audit chain.
//! Nothing here knows about HTTP, SQL or object storage.

pub mod audit;
pub mod case;
pub mod clock;
pub mod deadline;
pub mod error_code;
pub mod ids;
pub mod patient;
pub mod reference;

pub use audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome, GENESIS_HASH};
pub use case::{
    CaseStatus, ContactPreference, DocumentCategory, EmailAddress, LinkRole, LinkScope,
    ServiceTier, Sponsor,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use deadline::WorkingCalendar;
pub use error_code::ErrorCode;
pub use ids::{CaseId, DocumentId, LinkId, ObjectKey};
pub use reference::Reference;
