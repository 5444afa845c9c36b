//! The upload budget: a bound on the bytes of uploads held in memory across all requests.
//! A request reserves what it may hold (one file and its sealed copy) before reading its body, in
//! one atomic acquisition, so requests never deadlock holding part of what they need. When the budget
//! is full, requests wait (their bodies stay in the kernel's socket buffers: back-pressure) and give
//! up with `unavailable` after the configured wait.

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
    _permit: OwnedSemaphorePermit,
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

    /// Reserves `bytes` (capped at the whole budget), waiting up to the configured time.
    /// `None` when the budget stayed full.
    pub async fn reserve(&self, bytes: u64) -> Option<Reservation> {
        let units = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_units);
        let acquire = Arc::clone(&self.semaphore).acquire_many_owned(units);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Some(Reservation { _permit: permit }),
            _ => None,
        }
    }

    /// Bytes free right now (for metrics).
    pub fn available_bytes(&self) -> u64 {
        self.semaphore.available_permits() as u64 * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_budget_makes_the_next_request_wait_then_give_up() {
        let budget = UploadBudget::new(10 * 1024, Duration::from_millis(50));
        let first = budget.reserve(8 * 1024).await.expect("room for the first");
        assert!(budget.reserve(4 * 1024).await.is_none());
        drop(first);
        assert!(budget.reserve(4 * 1024).await.is_some());
    }

    #[tokio::test]
    async fn a_request_larger_than_the_budget_runs_alone() {
        let budget = UploadBudget::new(10 * 1024, Duration::from_millis(50));
        let big = budget.reserve(1 << 30).await.expect("capped at the budget");
        assert_eq!(budget.available_bytes(), 0);
        drop(big);
        assert_eq!(budget.available_bytes(), 10 * 1024);
    }
}
