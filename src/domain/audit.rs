//! The audit trail: one row per event that touches personal data, chained by hashes so that an
//! edited, removed or reordered row is found by `consilium audit verify`.
//!
//! `hash(n) = SHA-256(hash(n-1) ‖ canonical(row n))`, with 32 zero bytes before the first row.
//! The canonical form is fixed: do not change it, or every existing chain stops verifying. A row
//! that stands for several repeated events carries a `count`, hashed after the eight fields of
//! version 1; a row without one hashes exactly as before.

use chrono::{DateTime, SecondsFormat, Utc};
use ring::digest;

use super::ids::{CaseId, DocumentId};

/// The hash before the first row.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditActor {
    Patient,
    Admin(String),
    Partner(String),
    Link(String),
    System,
}

impl AuditActor {
    pub fn to_wire(&self) -> String {
        match self {
            Self::Patient => "patient".into(),
            Self::System => "system".into(),
            Self::Admin(name) => format!("admin:{name}"),
            Self::Partner(name) => format!("partner:{name}"),
            Self::Link(id) => format!("link:{id}"),
        }
    }
}

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    RequestSubmitted,
    DocumentStored,
    DocumentDownloaded,
    AccessDenied,
    LinkCreated,
    LinkOpened,
    LinkDenied,
    LinkRevoked,
    OpinionUploaded,
    DocumentPreviewed,
    CaseViewed,
    LinksListed,
    CaseCorrected,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestSubmitted => "request.submitted",
            Self::DocumentStored => "document.stored",
            Self::DocumentDownloaded => "document.downloaded",
            Self::AccessDenied => "access.denied",
            Self::LinkCreated => "link.created",
            Self::LinkOpened => "link.opened",
            Self::LinkDenied => "link.denied",
            Self::LinkRevoked => "link.revoked",
            Self::OpinionUploaded => "opinion.uploaded",
            Self::DocumentPreviewed => "document.previewed",
            Self::CaseViewed => "case.viewed",
            Self::LinksListed => "links.listed",
            Self::CaseCorrected => "case.corrected",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Denied,
    IntegrityError,
    WrongPasscode,
    Locked,
    Expired,
    Revoked,
    UsedUp,
    Forbidden,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::IntegrityError => "integrity-error",
            Self::WrongPasscode => "wrong-passcode",
            Self::Locked => "locked",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::UsedUp => "used-up",
            Self::Forbidden => "forbidden",
        }
    }
}

/// An event about to be appended; the repository assigns `seq` and the hash.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: AuditAction,
    pub case_id: Option<CaseId>,
    pub document_id: Option<DocumentId>,
    pub link_id: Option<String>,
    pub client: Option<String>,
    pub outcome: AuditOutcome,
    /// What else the row must say, never personal data: e.g. `fields=email,phone` for a
    /// correction (the names of the fields changed, not their values).
    pub detail: Option<String>,
    /// How many events this row stands for, when it aggregates repeats (`None`: one).
    pub count: Option<u64>,
}

impl AuditEvent {
    /// An event now; an event by a link carries that link's id.
    pub fn new(actor: AuditActor, action: AuditAction, outcome: AuditOutcome) -> Self {
        let link_id = match &actor {
            AuditActor::Link(id) => Some(id.clone()),
            _ => None,
        };
        Self {
            at: Utc::now(),
            actor,
            action,
            case_id: None,
            document_id: None,
            link_id,
            client: None,
            outcome,
            detail: None,
            count: None,
        }
    }

    #[must_use]
    pub fn case(mut self, case: CaseId) -> Self {
        self.case_id = Some(case);
        self
    }

    #[must_use]
    pub fn document(mut self, document: DocumentId) -> Self {
        self.document_id = Some(document);
        self
    }

    #[must_use]
    pub fn link(mut self, link: super::ids::LinkId) -> Self {
        self.link_id = Some(link.to_string());
        self
    }

    #[must_use]
    pub fn client(mut self, client: Option<String>) -> Self {
        self.client = client;
        self
    }

    #[must_use]
    pub fn detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A stored row, as read back for verification: every field as text, exactly as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub case_id: Option<String>,
    pub document_id: Option<String>,
    pub link_id: Option<String>,
    pub client: Option<String>,
    pub outcome: String,
    /// Absent on most rows (and on every row written before it existed).
    pub detail: Option<String>,
    /// How many events the row stands for, when it aggregates repeats.
    pub count: Option<i64>,
    pub hash: Vec<u8>,
}

/// The stored text form of a time: RFC 3339, UTC, microseconds (sorts as text).
pub fn timestamp_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The canonical bytes hashed for a row: length-prefixed fields in a fixed order, so no choice of
/// field contents can make two different rows hash alike. `detail` is appended only when present,
/// so rows without one (every row written before it existed) hash exactly as they always did.
fn canonical(record: &AuditRecord) -> Vec<u8> {
    let fields: [Option<&str>; 8] = [
        Some(record.at.as_str()),
        Some(record.actor.as_str()),
        Some(record.action.as_str()),
        record.case_id.as_deref(),
        record.document_id.as_deref(),
        record.link_id.as_deref(),
        record.client.as_deref(),
        Some(record.outcome.as_str()),
    ];
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"consilium-audit-v1");
    out.extend_from_slice(&record.seq.to_be_bytes());
    for field in fields {
        match field {
            None => out.push(0),
            Some(text) => {
                out.push(1);
                out.extend_from_slice(&(text.len() as u64).to_be_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    if let Some(detail) = &record.detail {
        out.push(1);
        out.extend_from_slice(&(detail.len() as u64).to_be_bytes());
        out.extend_from_slice(detail.as_bytes());
    }
    // After the detail, and tagged, so that a count can never read as (part of) a detail.
    if let Some(count) = record.count {
        out.extend_from_slice(b"count");
        out.extend_from_slice(&count.to_be_bytes());
    }
    out
}

/// The hash of `record` given the hash of the row before it. `record.hash` is ignored.
pub fn chain_hash(previous: &[u8], record: &AuditRecord) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(previous);
    ctx.update(&canonical(record));
    ctx.finish().as_ref().to_vec()
}

/// Where a chain first breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: &'static str,
}

/// Walks rows in `seq` order from the genesis hash. Returns the first row that does not hold.
pub fn verify_chain<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<usize, ChainBreak> {
    let mut previous = GENESIS_HASH.to_vec();
    let mut count = 0;
    for (expected_seq, record) in (1..).zip(records) {
        if record.seq != expected_seq {
            return Err(ChainBreak {
                seq: record.seq,
                reason: "sequence gap: a row before it was removed or reordered",
            });
        }
        let hash = chain_hash(&previous, record);
        if hash != record.hash {
            return Err(ChainBreak {
                seq: record.seq,
                reason: "hash does not match the row's contents",
            });
        }
        previous = hash;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut previous = GENESIS_HASH.to_vec();
        (1..=n)
            .map(|seq| {
                let mut r = AuditRecord {
                    seq,
                    at: format!("2026-11-21T10:00:0{seq}.000000Z"),
                    actor: "patient".into(),
                    action: "request.submitted".into(),
                    case_id: Some("c".into()),
                    document_id: None,
                    link_id: None,
                    client: Some("127.0.0.1".into()),
                    outcome: "success".into(),
                    detail: None,
                    count: None,
                    hash: vec![],
                };
                r.hash = chain_hash(&previous, &r);
                previous.clone_from(&r.hash);
                r
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
        assert_eq!(verify_chain(&[]), Ok(0));
    }

    #[test]
    fn an_edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].outcome = "denied".into();
        assert_eq!(verify_chain(&rows).unwrap_err().seq, 3);
    }

    #[test]
    fn a_removed_row_is_named() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(verify_chain(&rows).unwrap_err().seq, 3);
    }

    #[test]
    fn a_detail_is_hashed_and_rows_without_one_hash_as_before() {
        let rows = chain(3);
        // The hash of a row without a detail, written out as it was before details existed.
        let mut v1 = b"consilium-audit-v1".to_vec();
        v1.extend_from_slice(&1i64.to_be_bytes());
        for field in [
            Some(rows[0].at.as_str()),
            Some("patient"),
            Some("request.submitted"),
            Some("c"),
            None,
            None,
            Some("127.0.0.1"),
            Some("success"),
        ] {
            match field {
                None => v1.push(0),
                Some(t) => {
                    v1.push(1);
                    v1.extend_from_slice(&(t.len() as u64).to_be_bytes());
                    v1.extend_from_slice(t.as_bytes());
                }
            }
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&GENESIS_HASH);
        ctx.update(&v1);
        assert_eq!(rows[0].hash, ctx.finish().as_ref());
        // A detail added or edited afterwards breaks the chain at that row.
        let mut edited = rows.clone();
        edited[1].detail = Some("fields=email".into());
        assert_eq!(verify_chain(&edited).unwrap_err().seq, 2);
    }

    #[test]
    fn a_count_is_part_of_the_hash() {
        let mut rows = chain(2);
        let before = rows[1].hash.clone();
        rows[1].count = Some(7);
        let counted = chain_hash(&rows[0].hash, &rows[1]);
        assert_ne!(counted, before);
        rows[1].hash = counted;
        assert_eq!(verify_chain(&rows), Ok(2));
        rows[1].count = Some(8);
        assert_eq!(verify_chain(&rows).unwrap_err().seq, 2);
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let mut rows = chain(1);
        let before = rows[0].hash.clone();
        rows[0].case_id = None;
        rows[0].document_id = Some("c".into());
        assert_ne!(chain_hash(&GENESIS_HASH, &rows[0]), before);
    }
}
