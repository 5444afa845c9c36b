//! The upload budget: a bound on the bytes of uploads held in memory across all requests.
//! A request's [`Reservation`] grows as it holds more (the bytes of the file being received as
//! they arrive, then its sealed copy, an archive's largest member), so a slow or idle body holds
//! only what it has sent. When the budget is full, a request waits (its body stays in the kernel's
//! socket buffers: back-pressure) and gives up with `unavailable` after the configured wait. A
//! reservation never shrinks before the request ends: it is the request's high-water mark.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const UNIT: u64 = 1024;

pub struct UploadBudget {
    semaphore: Arc<Semaphore>,
    total_units: u32,
    wait: Duration,
}

/// Bytes reserved for one request; released on drop.
#[derive(Debug)]
pub struct Reservation {
    semaphore: Arc<Semaphore>,
    total_units: u32,
    wait: Duration,
    units: u32,
    permit: Option<OwnedSemaphorePermit>,
}

impl UploadBudget {
    pub fn new(total_bytes: u64, wait: Duration) -> Self {
        let total_units = u32::try_from(total_bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            semaphore: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            wait,
        }
    }

    /// A reservation of nothing yet, to grow with [`Reservation::ensure`].
    pub fn start(&self) -> Reservation {
        Reservation {
            semaphore: Arc::clone(&self.semaphore),
            total_units: self.total_units,
            wait: self.wait,
            units: 0,
            permit: None,
        }
    }

    /// Bytes free right now (for metrics).
    pub fn available_bytes(&self) -> u64 {
        self.semaphore.available_permits() as u64 * UNIT
    }
}

impl Reservation {
    /// Makes sure at least `bytes` (capped at the whole budget) are reserved, waiting up to the
    /// budget's wait for the difference. False when the budget stayed full; what was reserved
    /// before stays reserved.
    pub async fn ensure(&mut self, bytes: u64) -> bool {
        let wanted = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_units);
        if wanted <= self.units {
            return true;
        }
        let more = wanted - self.units;
        let permit = if let Ok(permit) = Arc::clone(&self.semaphore).try_acquire_many_owned(more) {
            permit
        } else {
            let acquire = Arc::clone(&self.semaphore).acquire_many_owned(more);
            match tokio::time::timeout(self.wait, acquire).await {
                Ok(Ok(permit)) => permit,
                _ => return false,
            }
        };
        match self.permit.as_mut() {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.units = wanted;
        true
    }

    /// Bytes reserved.
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        u64::from(self.units) * UNIT
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

    /// A reservation of `bytes` at once, or `None` when the budget stayed full.
    async fn reserved(budget: &UploadBudget, bytes: u64) -> Option<Reservation> {
        let mut reservation = budget.start();
        reservation.ensure(bytes).await.then_some(reservation)
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
        let budget = UploadBudget::new(10 * 1024, Duration::from_millis(50));
        let first = reserved(&budget, 8 * 1024)
            .await
            .expect("room for the first");
        assert!(reserved(&budget, 4 * 1024).await.is_none());
        drop(first);
        assert!(reserved(&budget, 4 * 1024).await.is_some());
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_runs_alone() {
        let budget = UploadBudget::new(10 * 1024, Duration::from_millis(50));
        let big = reserved(&budget, 1 << 30)
            .await
            .expect("capped at the budget");
        assert_eq!(budget.available_bytes(), 0);
        drop(big);
        assert_eq!(budget.available_bytes(), 10 * 1024);
    }

    #[tokio::test]
    async fn a_reservation_grows_as_it_holds_more_and_is_released_whole() {
        let budget = UploadBudget::new(10 * 1024, Duration::from_millis(50));
        let mut growing = budget.start();
        assert_eq!(budget.available_bytes(), 10 * 1024);
        assert!(growing.ensure(1).await);
        assert_eq!(budget.available_bytes(), 9 * 1024);
        assert!(growing.ensure(6 * 1024).await);
        // Asking for less than is held changes nothing.
        assert!(growing.ensure(2 * 1024).await);
        assert_eq!(growing.bytes(), 6 * 1024);
        assert_eq!(budget.available_bytes(), 4 * 1024);
        // More than is free: it waits, gives up, and keeps what it had.
        let other = reserved(&budget, 4 * 1024).await.expect("the rest");
        assert!(!growing.ensure(8 * 1024).await);
        assert_eq!(growing.bytes(), 6 * 1024);
        drop(other);
        drop(growing);
        assert_eq!(budget.available_bytes(), 10 * 1024);
    }
}
