//! Timestamps and clocks. Time is milliseconds since the Unix epoch, UTC.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
///
/// ```
/// use sociallens::Timestamp;
/// let t = Timestamp::from_millis(1_000);
/// assert_eq!(t.as_secs_f64(), 1.0);
/// assert!(Timestamp::now() > t);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(d.as_millis() as i64)
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// From (possibly fractional) seconds since the epoch; `None` if not finite or out of range.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let ms = (secs * 1000.0).round();
        (ms.is_finite() && ms.abs() < 8.0e15).then_some(Self(ms as i64))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// This time moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }

    /// This time moved back by `d` (saturating).
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// use std::time::Duration;
    /// let t = Timestamp::from_millis(5_000);
    /// assert_eq!(t.minus(Duration::from_secs(2)).plus(Duration::from_secs(2)), t);
    /// ```
    pub fn minus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Where the engine reads the time from. Swap it for a [`ManualClock`] in simulations and tests.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to: for simulations, backfills and tests.
///
/// It shows times from [`ManualClock::EARLIEST`] (1970) to [`ManualClock::LATEST`] (the end
/// of year 9999), which every language's date type can show. `set` and `advance` saturate
/// at those bounds; `try_new`, `try_set` and `try_advance` refuse to pass them, for times
/// that come from callers.
///
/// ```
/// use sociallens::{Clock, ManualClock, Timestamp};
/// use std::time::Duration;
/// let clock = ManualClock::new(Timestamp::from_millis(0));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), Timestamp::from_millis(60_000));
/// assert!(clock.try_advance(Duration::from_secs(u64::MAX)).is_err());
/// assert_eq!(clock.now(), Timestamp::from_millis(60_000));
/// ```
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// The earliest time a manual clock shows: 1970-01-01T00:00:00Z.
    pub const EARLIEST: Timestamp = Timestamp(0);
    /// The latest time a manual clock shows: 9999-12-31T23:59:59.999Z.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799_999);

    fn clamp(ms: i64) -> i64 {
        ms.clamp(Self::EARLIEST.0, Self::LATEST.0)
    }

    fn check(at: Timestamp) -> crate::Result<i64> {
        if (Self::EARLIEST..=Self::LATEST).contains(&at) {
            Ok(at.0)
        } else {
            Err(crate::Error::invalid(format!(
                "a manual clock shows times from 1970-01-01 to 9999-12-31 ({} to {} ms), got {} ms",
                Self::EARLIEST.0,
                Self::LATEST.0,
                at.0
            )))
        }
    }

    /// A clock stopped at `at` (brought within [`EARLIEST`](Self::EARLIEST) ..=
    /// [`LATEST`](Self::LATEST)).
    pub fn new(at: Timestamp) -> Self {
        Self(AtomicI64::new(Self::clamp(at.0)))
    }

    /// A clock stopped at `at`; [`Error::InvalidInput`](crate::Error::InvalidInput) outside
    /// the clock's range.
    pub fn try_new(at: Timestamp) -> crate::Result<Self> {
        Ok(Self(AtomicI64::new(Self::check(at)?)))
    }

    /// Moves the clock to `at` (brought within the clock's range).
    pub fn set(&self, at: Timestamp) {
        self.0.store(Self::clamp(at.0), Ordering::SeqCst);
    }

    /// Moves the clock to `at`; outside the clock's range it stays put and returns
    /// [`Error::InvalidInput`](crate::Error::InvalidInput).
    pub fn try_set(&self, at: Timestamp) -> crate::Result<()> {
        self.0.store(Self::check(at)?, Ordering::SeqCst);
        Ok(())
    }

    /// Moves the clock forward by `d`, stopping at [`LATEST`](Self::LATEST).
    pub fn advance(&self, d: Duration) {
        let by = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        // Never wraps: the closure always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                Some(Self::clamp(ms.saturating_add(by)))
            });
    }

    /// Moves the clock forward by `d`; a move past [`LATEST`](Self::LATEST) leaves it where
    /// it was and returns [`Error::InvalidInput`](crate::Error::InvalidInput).
    pub fn try_advance(&self, d: Duration) -> crate::Result<()> {
        let by = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut err = None;
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                match Self::check(Timestamp(ms.saturating_add(by))) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        err = Some(e);
                        None
                    }
                }
            });
        err.map_or(Ok(()), Err)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
