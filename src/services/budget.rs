//! The upload budget: a bound on the bytes of uploads held in memory across all requests.
//!
//! Two pools, so that slow bodies cannot hold the budget and fast ones cannot deadlock:
//! - A request starts in the *trickle pool* (an eighth of the budget): it reserves there as its
//!   bytes arrive, up to a small allowance. A body that sends a byte now and then holds only what
//!   it has sent, and never more than the allowance.
//! - Past the allowance (or when the trickle pool has no room), it reserves its whole *claim* (what
//!   it is expected to hold at most: its body and the sealed copy, capped) from the *main pool* in
//!   one step, waiting in line (first come, first served) while holding at most the allowance.
//!   A request that holds its claim never waits for the main pool again unless it needs more than
//!   it claimed (an archive's members), so the main pool always drains: requests that each hold a
//!   part and wait for the rest (the deadlock of growing byte by byte in one pool) cannot happen.
//!
//! A request that waits longer than the configured wait gives up with `unavailable`; its body
//! stays in the kernel's socket buffers meanwhile (back-pressure). A reservation never shrinks
//! before the request ends: it is the request's high-water mark.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: u64 = 1024;
/// The share of the budget kept for requests that have not (yet) claimed from the main pool.
const TRICKLE_SHARE: u32 = 8;
/// How many requests' allowances fit in the trickle pool.
const ALLOWANCES_IN_TRICKLE_POOL: u32 = 16;
/// The least allowance, in units.
const MIN_ALLOWANCE_UNITS: u32 = 64;

struct Pools {
    trickle: Arc<Semaphore>,
    main: Arc<Semaphore>,
    main_units: u32,
    allowance_units: u32,
    wait: Duration,
}

pub struct UploadBudget {
    pools: Arc<Pools>,
}

/// Bytes reserved for one request; released on drop.
pub struct Reservation {
    pools: Arc<Pools>,
    claim_units: u32,
    trickle: Option<OwnedSemaphorePermit>,
    main: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("claim_units", &self.claim_units)
            .field("units", &self.units())
            .finish_non_exhaustive()
    }
}

fn units_of(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl UploadBudget {
    pub fn new(total_bytes: u64, wait: Duration) -> Self {
        let total_units = units_of(total_bytes).max(2);
        let trickle_units = (total_units / TRICKLE_SHARE).max(1);
        let main_units = total_units - trickle_units;
        let allowance_units = (trickle_units / ALLOWANCES_IN_TRICKLE_POOL)
            .max(MIN_ALLOWANCE_UNITS)
            .min(trickle_units);
        Self {
            pools: Arc::new(Pools {
                trickle: Arc::new(Semaphore::new(trickle_units as usize)),
                main: Arc::new(Semaphore::new(main_units as usize)),
                main_units,
                allowance_units,
                wait,
            }),
        }
    }

    /// A reservation of nothing yet, for a request expected to hold at most `claim_bytes` (its
    /// body and the sealed copy; capped at the main pool), to grow with [`Reservation::ensure`].
    pub fn start(&self, claim_bytes: u64) -> Reservation {
        Reservation {
            pools: Arc::clone(&self.pools),
            claim_units: units_of(claim_bytes).clamp(1, self.pools.main_units),
            trickle: None,
            main: None,
        }
    }

    /// Bytes free right now in both pools (for metrics).
    pub fn available_bytes(&self) -> u64 {
        (self.pools.trickle.available_permits() + self.pools.main.available_permits()) as u64 * UNIT
    }
}

fn held_units(permit: Option<&OwnedSemaphorePermit>) -> u32 {
    permit.map_or(0, |p| u32::try_from(p.num_permits()).unwrap_or(u32::MAX))
}

impl Reservation {
    /// Makes sure at least `bytes` (capped at the main pool) are reserved, waiting up to the
    /// budget's wait for what is missing. False when the budget stayed full; what was reserved
    /// before stays reserved.
    pub async fn ensure(&mut self, bytes: u64) -> bool {
        let wanted = units_of(bytes).clamp(1, self.pools.main_units);
        let held = self.units();
        if wanted <= held {
            return true;
        }
        if self.main.is_none() {
            // Within the allowance, from the trickle pool if it has room now (never waiting there).
            if wanted <= self.pools.allowance_units
                && let Ok(more) =
                    Arc::clone(&self.pools.trickle).try_acquire_many_owned(wanted - held)
            {
                match self.trickle.as_mut() {
                    Some(permit) => permit.merge(more),
                    None => self.trickle = Some(more),
                }
                return true;
            }
            // The whole claim from the main pool, in line; what the trickle pool held goes back
            // once the claim covers it.
            let Some(claim) = self.acquire_main(wanted.max(self.claim_units)).await else {
                return false;
            };
            self.main = Some(claim);
            self.trickle = None;
            return true;
        }
        // Past the claim: more from the main pool, in line.
        let Some(more) = self.acquire_main(wanted - held).await else {
            return false;
        };
        if let Some(permit) = self.main.as_mut() {
            permit.merge(more);
        }
        true
    }

    async fn acquire_main(&self, units: u32) -> Option<OwnedSemaphorePermit> {
        let acquire = Arc::clone(&self.pools.main).acquire_many_owned(units);
        match tokio::time::timeout(self.pools.wait, acquire).await {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }

    fn units(&self) -> u32 {
        held_units(self.trickle.as_ref()) + held_units(self.main.as_ref())
    }

    /// Bytes reserved.
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        u64::from(self.units()) * UNIT
    }
}

/// Uploads in progress per client address, so that one address cannot hold every slot of the
/// budget with slow bodies.
pub struct ClientUploads {
    limit: u32,
    in_progress: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

/// One upload in progress; counted until dropped.
#[derive(Debug)]
pub struct UploadSlot {
    client: String,
    in_progress: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl ClientUploads {
    pub fn new(limit: u32) -> Self {
        Self {
            limit,
            in_progress: Arc::default(),
        }
    }

    /// A slot for one more upload from `client`, or `None` when it already has `limit` going.
    pub fn enter(&self, client: &str) -> Option<UploadSlot> {
        let mut map = self
            .in_progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = map.entry(client.to_owned()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(UploadSlot {
            client: client.to_owned(),
            in_progress: Arc::clone(&self.in_progress),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut map = self
            .in_progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reservation claiming and holding `bytes` at once, or `None` when the budget stayed full.
    async fn reserved(budget: &UploadBudget, bytes: u64) -> Option<Reservation> {
        let mut reservation = budget.start(bytes);
        reservation.ensure(bytes).await.then_some(reservation)
    }

    const KIB: u64 = 1024;

    /// 80 KiB: a trickle pool of 10 KiB (which is also the allowance) and a main pool of 70 KiB.
    fn budget_of_80_kib(wait: Duration) -> UploadBudget {
        UploadBudget::new(80 * KIB, wait)
    }

    #[test]
    fn a_client_gets_its_limit_of_uploads_at_once_and_its_slots_back() {
        let uploads = ClientUploads::new(2);
        let a = uploads.enter("192.0.2.1").expect("first");
        let _b = uploads.enter("192.0.2.1").expect("second");
        assert!(uploads.enter("192.0.2.1").is_none());
        assert!(uploads.enter("192.0.2.2").is_some(), "another client");
        drop(a);
        assert!(uploads.enter("192.0.2.1").is_some());
    }

    #[tokio::test]
    async fn a_full_budget_makes_the_next_request_wait_then_give_up() {
        let budget = budget_of_80_kib(Duration::from_millis(50));
        let first = reserved(&budget, 64 * KIB)
            .await
            .expect("room for the first");
        assert!(reserved(&budget, 16 * KIB).await.is_none());
        drop(first);
        assert!(reserved(&budget, 16 * KIB).await.is_some());
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_runs_alone() {
        let budget = budget_of_80_kib(Duration::from_millis(50));
        let big = reserved(&budget, 1 << 30)
            .await
            .expect("capped at the main pool");
        assert_eq!(big.bytes(), 70 * KIB);
        assert!(reserved(&budget, 16 * KIB).await.is_none());
        drop(big);
        assert_eq!(budget.available_bytes(), 80 * KIB);
    }

    #[tokio::test]
    async fn a_reservation_grows_as_it_holds_more_then_claims_at_once_and_is_released_whole() {
        let budget = budget_of_80_kib(Duration::from_millis(50));
        let mut growing = budget.start(40 * KIB);
        assert!(growing.ensure(1).await);
        assert_eq!(budget.available_bytes(), 79 * KIB);
        assert!(growing.ensure(6 * KIB).await);
        assert_eq!(
            growing.bytes(),
            6 * KIB,
            "within the allowance: what it holds"
        );
        // Past the allowance: its whole claim, and the trickle pool gets its share back.
        assert!(growing.ensure(11 * KIB).await);
        assert_eq!(growing.bytes(), 40 * KIB);
        assert_eq!(budget.available_bytes(), 40 * KIB);
        // Asking for less than is held changes nothing.
        assert!(growing.ensure(20 * KIB).await);
        assert_eq!(growing.bytes(), 40 * KIB);
        // Past its claim with the main pool taken: it waits, gives up, and keeps what it had.
        let other = reserved(&budget, 30 * KIB).await.expect("the rest");
        assert!(!growing.ensure(50 * KIB).await);
        assert_eq!(growing.bytes(), 40 * KIB);
        drop(other);
        assert!(
            growing.ensure(50 * KIB).await,
            "past its claim once there is room"
        );
        drop(growing);
        assert_eq!(budget.available_bytes(), 80 * KIB);
    }

    #[tokio::test]
    async fn bodies_that_trickle_hold_only_what_they_sent_and_never_the_main_pool() {
        let budget = budget_of_80_kib(Duration::from_millis(50));
        let mut trickling = Vec::new();
        for _ in 0..10 {
            let mut slow = budget.start(64 * KIB);
            assert!(slow.ensure(10).await);
            trickling.push(slow);
        }
        // The trickle pool is full; a new request goes straight to its claim.
        let fast = reserved(&budget, 64 * KIB)
            .await
            .expect("the main pool is untouched");
        assert_eq!(fast.bytes(), 64 * KIB);
    }

    /// The deadlock that growing byte by byte in one pool met: many requests at once, each holding
    /// part of the budget and waiting for the rest. Here every one of them finishes.
    #[tokio::test]
    async fn many_requests_growing_at_once_all_finish() {
        let budget = Arc::new(UploadBudget::new(192 * KIB, Duration::from_secs(20)));
        let requests: Vec<_> = (0..64)
            .map(|_| {
                let budget = Arc::clone(&budget);
                tokio::spawn(async move {
                    // A body of 16 KiB arriving 1 KiB at a time, then its sealed copy.
                    let mut held = budget.start(32 * KIB);
                    for received in 1..=16 {
                        if !held.ensure(received * KIB).await {
                            return false;
                        }
                        tokio::task::yield_now().await;
                    }
                    held.ensure(32 * KIB).await
                })
            })
            .collect();
        for request in requests {
            assert!(
                request.await.unwrap(),
                "a request gave up: the budget deadlocked"
            );
        }
        assert_eq!(budget.available_bytes(), 192 * KIB);
    }
}
