//! Token-bucket rate limits keyed by caller (API key, session or client IP). Buckets live in
//! the node's memory: a limit per node is the usual contract for API request rates, unlike
//! send caps, which are global and live in the database.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

const SWEEP_THRESHOLD: usize = 50_000;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Allows `capacity` requests per `window`, refilled continuously.
pub struct RateLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(capacity: u32, window: Duration) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self {
            capacity,
            per_second: capacity / window.as_secs_f64().max(0.001),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// Take one token for `key`; on refusal, the whole seconds until one is available.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > SWEEP_THRESHOLD {
            let (cap, rate) = (self.capacity, self.per_second);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < cap);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
    }

    /// Give a token back (a login that succeeded should not count as a failure).
    pub fn forgive(&self, key: &str) {
        if let Ok(mut buckets) = self.buckets.lock()
            && let Some(b) = buckets.get_mut(key)
        {
            b.tokens = (b.tokens + 1.0).min(self.capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_capacity_and_refills() {
        let rl = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check_at("k", t0).is_ok());
        }
        let retry = rl.check_at("k", t0).expect_err("fourth is refused");
        assert_eq!(retry, 20, "one token per 20 s");
        assert!(rl.check_at("other", t0).is_ok(), "keys are independent");
        assert!(rl.check_at("k", t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn forgiven_tokens_come_back() {
        let rl = RateLimiter::new(1, Duration::from_secs(600));
        let t0 = Instant::now();
        assert!(rl.check_at("k", t0).is_ok());
        rl.forgive("k");
        assert!(rl.check_at("k", t0).is_ok());
    }
}
