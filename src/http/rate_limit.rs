//! Token-bucket rate limits keyed by a string (a client address, a link id). In memory, per
//! replica: with N replicas behind a balancer the effective limit is up to N times the configured
//! one, which is the intended trade for keeping replicas stateless.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::services::ServiceError;

/// Buckets beyond this many are pruned of the ones that have refilled (idle clients).
const PRUNE_AT: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    name: &'static str,
    capacity: f64,
    refill_per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Allows bursts of `burst` and `per_minute` requests a minute on average.
    pub fn new(name: &'static str, burst: u32, per_minute: u32) -> Self {
        Self {
            name,
            capacity: f64::from(burst.max(1)),
            refill_per_second: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long to wait (`rate-limited` with `Retry-After`).
    pub fn check(&self, key: &str) -> Result<(), ServiceError> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            let (capacity, rate) = (self.capacity, self.refill_per_second);
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_second).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / self.refill_per_second).ceil();
        tracing::info!(limiter = self.name, "rate limited");
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Err(ServiceError::RateLimited {
            retry_after_seconds: (wait as u64).max(1),
        })
    }
}

impl RateLimiter {
    /// Whether `key` has a token left, without taking it (`rate-limited` with the wait if not).
    pub fn peek(&self, key: &str) -> Result<(), ServiceError> {
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let elapsed = Instant::now().duration_since(bucket.updated).as_secs_f64();
        let tokens = (bucket.tokens + elapsed * self.refill_per_second).min(self.capacity);
        if tokens >= 1.0 {
            return Ok(());
        }
        let wait = ((1.0 - tokens) / self.refill_per_second).ceil();
        tracing::info!(limiter = self.name, "rate limited");
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Err(ServiceError::RateLimited {
            retry_after_seconds: (wait as u64).max(1),
        })
    }
}

/// Failed authentications per client address (`server.failed_auth_burst`, `..._per_minute`): a
/// client that has used them up gets `rate-limited` for every authenticated route, before its
/// token or key is looked at, so guessing costs neither database reads nor audit rows.
pub struct FailedAuth(RateLimiter);

impl FailedAuth {
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self(RateLimiter::new("failed-auth", burst, per_minute))
    }

    /// Refuses a client with no failures left.
    pub fn admit(&self, client: &str) -> Result<(), ServiceError> {
        self.0.peek(client)
    }

    /// Counts one failed authentication.
    pub fn failed(&self, client: &str) {
        // Out of tokens already: the next `admit` refuses; nothing more to count.
        let _ = self.0.check(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_wait() {
        let limiter = RateLimiter::new("test", 3, 60);
        for _ in 0..3 {
            assert!(limiter.check("10.0.0.1").is_ok());
        }
        match limiter.check("10.0.0.1") {
            Err(ServiceError::RateLimited {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 1),
            other => panic!("expected rate-limited, got {other:?}"),
        }
        assert!(
            limiter.check("10.0.0.2").is_ok(),
            "other keys have their own bucket"
        );
    }

    #[test]
    fn failures_are_admitted_until_the_burst_is_spent() {
        let failures = FailedAuth::new(2, 1);
        for _ in 0..2 {
            assert!(failures.admit("192.0.2.1").is_ok());
            failures.failed("192.0.2.1");
        }
        match failures.admit("192.0.2.1") {
            Err(ServiceError::RateLimited {
                retry_after_seconds,
            }) => assert!(retry_after_seconds >= 1),
            other => panic!("expected rate-limited, got {other:?}"),
        }
        assert!(failures.admit("192.0.2.2").is_ok());
    }
}
