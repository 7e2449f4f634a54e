//! The application's clock. Every timestamp SalesOS writes or compares (job run times,
//! leases, cron ticks, session and key expiry, event times) comes from the one `Clock`
//! the application was built with: the system clock in production, and in tests a clock
//! the test moves forward, so nothing waits on the wall clock for time to pass.
//!
//! Durations that only measure how long this process took (rate-limit windows, request
//! timings, a circuit breaker's cool-down) use the monotonic `Instant` instead: they are
//! not facts about the world and are never stored.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::watch;

/// A source of "now". Cheap to clone; clones share one time.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
enum Source {
    /// The operating system's wall clock.
    System,
    /// The wall clock shifted by an offset that only grows: time passes as usual, and a
    /// test can skip ahead (an hour, a day) at once.
    Shifted(Mutex<chrono::Duration>),
    /// A time that moves only when told to.
    Frozen(Mutex<DateTime<Utc>>),
}

#[derive(Debug)]
struct Inner {
    source: Source,
    /// Bumped on every move, so loops that wait for time to pass (cron) wake at once.
    moved: watch::Sender<u64>,
    /// Keeps the ids made in one millisecond in the order they were made.
    ids: Mutex<uuid::ContextV7>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    fn with(source: Source) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                moved: watch::channel(0).0,
                ids: Mutex::new(uuid::ContextV7::new()),
            }),
        }
    }

    /// The system clock.
    pub fn system() -> Self {
        Self::with(Source::System)
    }

    /// The system clock that a test can move forward with [`Clock::advance`].
    pub fn shifted() -> Self {
        Self::with(Source::Shifted(Mutex::new(chrono::Duration::zero())))
    }

    /// A clock standing at `at` until it is moved.
    pub fn frozen(at: DateTime<Utc>) -> Self {
        Self::with(Source::Frozen(Mutex::new(truncate(at))))
    }

    /// Now, at the precision both databases keep (microseconds), so a value read back
    /// compares equal to the one written.
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    pub fn now(&self) -> DateTime<Utc> {
        match &self.inner.source {
            Source::System => truncate(Utc::now()),
            Source::Shifted(offset) => truncate(Utc::now() + *lock(offset)),
            Source::Frozen(at) => *lock(at),
        }
    }

    /// A new id: a UUIDv7 whose leading 48 bits are this clock's now in milliseconds, and
    /// which sorts after every id this clock made before. Rows whose ids come from here are
    /// in creation order by id, so their lists need no index on `created_at`.
    pub fn new_id(&self) -> uuid::Uuid {
        let now = self.now();
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        let ctx = lock(&self.inner.ids);
        uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            &*ctx,
            secs,
            now.timestamp_subsec_nanos(),
        ))
    }

    /// Is this the system clock (which cannot be moved)?
    pub fn is_system(&self) -> bool {
        matches!(self.inner.source, Source::System)
    }

    /// Move the clock forward by `by`. Panics on the system clock: production time is
    /// not ours to move, and a test that tries has been built with the wrong clock.
    pub fn advance(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).expect("a duration chrono can hold");
        match &self.inner.source {
            Source::System => panic!("the system clock cannot be advanced"),
            Source::Shifted(offset) => *lock(offset) += by,
            Source::Frozen(at) => *lock(at) += by,
        }
        self.inner.moved.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever the clock is moved (never, for the system clock).
    pub fn moves(&self) -> watch::Receiver<u64> {
        self.inner.moved.subscribe()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `at` at microsecond precision.
pub fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_follow_the_clock_and_each_other() {
        let clock = Clock::frozen("2030-01-01T00:00:00Z".parse().expect("time"));
        let ids: Vec<uuid::Uuid> = (0..1000).map(|_| clock.new_id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids made in one millisecond keep their order"
        );
        let (secs, _) = ids[0]
            .get_timestamp()
            .expect("a v7 id has a time")
            .to_unix();
        assert_eq!(
            secs, 1_893_456_000,
            "the id carries the clock's time, not the wall's"
        );
        clock.advance(Duration::from_secs(3600));
        let later = clock.new_id();
        assert!(later > ids[999]);
        assert_eq!(
            later.get_timestamp().expect("time").to_unix().0,
            1_893_459_600
        );
    }

    #[test]
    fn a_frozen_clock_moves_only_when_advanced_and_says_so() {
        let start: DateTime<Utc> = "2026-03-08T06:59:59Z".parse().expect("time");
        let clock = Clock::frozen(start);
        let mut moves = clock.moves();
        assert_eq!(clock.now(), start);
        assert!(!moves.has_changed().expect("open"));
        clock.clone().advance(Duration::from_secs(3600));
        assert_eq!(
            clock.now(),
            start + chrono::Duration::hours(1),
            "clones share one time"
        );
        assert!(moves.has_changed().expect("open"));
        moves.mark_unchanged();
    }

    #[test]
    fn a_shifted_clock_runs_ahead_of_the_wall_clock_by_what_was_added() {
        let clock = Clock::shifted();
        clock.advance(Duration::from_secs(86_400));
        #[allow(clippy::disallowed_methods)] // the wall clock is what it is compared with
        let ahead = clock.now() - Utc::now();
        assert!(ahead > chrono::Duration::hours(23), "{ahead}");
        assert!(ahead <= chrono::Duration::hours(24), "{ahead}");
    }

    #[test]
    #[should_panic(expected = "cannot be advanced")]
    fn the_system_clock_refuses_to_move() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
