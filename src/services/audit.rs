//! The audit trail as the running service keeps it: refused accesses written without flooding it,
//! and the chain verified incrementally for the audit read.
//!
//! Refusals: a refused attempt on a case or document that does not exist writes nothing (the ids
//! are unguessable; a row for each would let anyone fill the table). On one that exists, the first
//! refusal per client, actor and target in a window (`server.denial_audit_window_seconds`) is
//! written at once; the repeats within the window are counted and written as one row carrying
//! their `count` when the window closes (a background flush, and at shutdown).
//!
//! Verification: the service remembers how far the chain has been verified (its sequence number
//! and hash) and on each audit read verifies only the rows appended since, plus each row it serves
//! against the row before it (so an edit to a served row is seen at once). `consilium audit verify`
//! walks the whole chain.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::DbError;
use crate::domain::audit::{AuditRecord, chain_hash};
use crate::domain::{AuditEvent, GENESIS_HASH};

use super::Services;

/// Rows read per query while verifying.
const VERIFY_BATCH: i64 = 1000;
/// Open refusal windows kept before expired ones are flushed early.
const MAX_OPEN_WINDOWS: usize = 10_000;

/// Who was refused what, from where.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct DenialKey {
    client: Option<String>,
    actor: String,
    action: &'static str,
    outcome: &'static str,
    case: Option<String>,
    document: Option<String>,
}

impl DenialKey {
    fn of(event: &AuditEvent) -> Self {
        Self {
            client: event.client.clone(),
            actor: event.actor.to_wire(),
            action: event.action.as_str(),
            outcome: event.outcome.as_str(),
            case: event.case_id.map(|c| c.to_string()),
            document: event.document_id.map(|d| d.to_string()),
        }
    }
}

struct DenialWindow {
    opened: Instant,
    /// Refusals after the first one in this window (not written yet).
    repeats: u64,
    template: AuditEvent,
}

impl DenialWindow {
    /// The row standing for this window's repeats, if there were any.
    fn summary(self) -> Option<AuditEvent> {
        (self.repeats > 0).then(|| {
            let mut event = self.template;
            event.at = chrono::Utc::now();
            event.count = Some(self.repeats);
            event
        })
    }
}

/// How far the chain is known to hold.
struct Checkpoint {
    seq: i64,
    hash: Vec<u8>,
    broken: bool,
}

/// The service's audit state (one per process).
pub struct AuditState {
    window: Duration,
    denials: Mutex<HashMap<DenialKey, DenialWindow>>,
    checkpoint: tokio::sync::Mutex<Checkpoint>,
}

impl AuditState {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            denials: Mutex::new(HashMap::new()),
            checkpoint: tokio::sync::Mutex::new(Checkpoint {
                seq: 0,
                hash: GENESIS_HASH.to_vec(),
                broken: false,
            }),
        }
    }

    fn open_windows(&self) -> std::sync::MutexGuard<'_, HashMap<DenialKey, DenialWindow>> {
        self.denials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Decides what to write for one refusal: the refusal itself (first in its window), and the
    /// summary of the window it closes.
    fn admit_denial(&self, event: &AuditEvent) -> (bool, Vec<AuditEvent>) {
        let now = Instant::now();
        let key = DenialKey::of(event);
        let mut open = self.open_windows();
        let mut summaries = Vec::new();
        if open.len() >= MAX_OPEN_WINDOWS {
            summaries.extend(self.take_closed(&mut open, now, false));
        }
        let fresh = || DenialWindow {
            opened: now,
            repeats: 0,
            template: event.clone(),
        };
        match open.get_mut(&key) {
            Some(window) if now.duration_since(window.opened) < self.window => {
                window.repeats += 1;
                (false, summaries)
            }
            Some(window) => {
                let closed = std::mem::replace(window, fresh());
                summaries.extend(closed.summary());
                (true, summaries)
            }
            None => {
                open.insert(key, fresh());
                (true, summaries)
            }
        }
    }

    fn take_closed(
        &self,
        open: &mut HashMap<DenialKey, DenialWindow>,
        now: Instant,
        all: bool,
    ) -> Vec<AuditEvent> {
        let closed: Vec<DenialKey> = open
            .iter()
            .filter(|(_, w)| all || now.duration_since(w.opened) >= self.window)
            .map(|(k, _)| k.clone())
            .collect();
        closed
            .into_iter()
            .filter_map(|k| open.remove(&k))
            .filter_map(DenialWindow::summary)
            .collect()
    }
}

/// Records a refused access (see the module docs).
pub async fn record_denial(services: &Services, event: AuditEvent) {
    match target_exists(services, &event).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(error = %e, "could not audit a denied access");
            return;
        }
    }
    let (write, summaries) = services.audit.admit_denial(&event);
    for row in summaries.iter().chain(write.then_some(&event)) {
        if let Err(e) = services.repo.append_audit(row).await {
            tracing::error!(error = %e, "could not audit a denied access");
        }
    }
}

/// Whether every case and document the event names exists (an event naming none: no).
async fn target_exists(services: &Services, event: &AuditEvent) -> Result<bool, DbError> {
    if event.case_id.is_none() && event.document_id.is_none() {
        return Ok(false);
    }
    if let Some(case) = event.case_id
        && services.repo.get_case(case).await?.is_none()
    {
        return Ok(false);
    }
    if let Some(document) = event.document_id
        && services.repo.get_document(document).await?.is_none()
    {
        return Ok(false);
    }
    Ok(true)
}

/// Writes the rows of refusal windows that have closed (`all`: of every window, at shutdown).
pub async fn flush_denials(services: &Services, all: bool) {
    let summaries = {
        let mut open = services.audit.open_windows();
        services.audit.take_closed(&mut open, Instant::now(), all)
    };
    for row in &summaries {
        if let Err(e) = services.repo.append_audit(row).await {
            tracing::error!(error = %e, "could not audit repeated denied accesses");
        }
    }
}

/// Verifies the rows appended since the last call, then `served` each against the row before it.
/// `false` once any row has failed (until the process restarts; `consilium audit verify` names it).
pub async fn chain_holds(services: &Services, served: &[AuditRecord]) -> Result<bool, DbError> {
    {
        let mut checkpoint = services.audit.checkpoint.lock().await;
        while !checkpoint.broken {
            let rows = services
                .repo
                .audit_page(None, checkpoint.seq, VERIFY_BATCH)
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let hash = chain_hash(&checkpoint.hash, &row);
                if row.seq != checkpoint.seq + 1 || hash != row.hash {
                    tracing::error!(seq = row.seq, "the audit chain does not verify");
                    checkpoint.broken = true;
                    break;
                }
                checkpoint.seq = row.seq;
                checkpoint.hash = hash;
            }
        }
        if checkpoint.broken {
            return Ok(false);
        }
    }
    let before: Vec<i64> = served
        .iter()
        .map(|r| r.seq - 1)
        .filter(|seq| *seq > 0)
        .collect();
    let previous: HashMap<i64, Vec<u8>> = services
        .repo
        .audit_rows(&before)
        .await?
        .into_iter()
        .map(|r| (r.seq, r.hash))
        .collect();
    Ok(served.iter().all(|row| {
        let prior = if row.seq == 1 {
            Some(GENESIS_HASH.as_slice())
        } else {
            previous.get(&(row.seq - 1)).map(Vec::as_slice)
        };
        prior.is_some_and(|prior| chain_hash(prior, row) == row.hash)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuditAction, AuditActor, AuditOutcome, CaseId};

    fn denial(client: &str, case: CaseId) -> AuditEvent {
        AuditEvent::new(
            AuditActor::System,
            AuditAction::AccessDenied,
            AuditOutcome::Denied,
        )
        .case(case)
        .client(Some(client.to_owned()))
    }

    #[test]
    fn repeats_in_a_window_become_one_counted_row() {
        let state = AuditState::new(Duration::from_hours(1));
        let case = CaseId::new();
        assert!(state.admit_denial(&denial("192.0.2.1", case)).0);
        for _ in 0..9 {
            let (write, summaries) = state.admit_denial(&denial("192.0.2.1", case));
            assert!(!write && summaries.is_empty());
        }
        assert!(
            state.admit_denial(&denial("192.0.2.2", case)).0,
            "another client has its own window"
        );
        let mut open = state.open_windows();
        let rows = state.take_closed(&mut open, Instant::now(), true);
        assert_eq!(rows.len(), 1, "only the window with repeats has a row");
        assert_eq!(rows[0].count, Some(9));
        assert_eq!(rows[0].client.as_deref(), Some("192.0.2.1"));
        assert!(open.is_empty());
    }

    #[test]
    fn a_closed_window_is_summarised_when_the_next_refusal_opens_one() {
        let state = AuditState::new(Duration::ZERO);
        let case = CaseId::new();
        assert!(state.admit_denial(&denial("192.0.2.1", case)).0);
        let (write, summaries) = state.admit_denial(&denial("192.0.2.1", case));
        assert!(write, "a zero window writes every refusal");
        assert!(summaries.is_empty(), "nothing was repeated");
    }
}
