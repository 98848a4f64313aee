//! Timestamps and clocks. Time is milliseconds since the Unix epoch, UTC.

use crate::error::{Error, Result};
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
    /// The epoch, 1970-01-01T00:00:00Z: no event is older.
    pub const EPOCH: Self = Self(0);

    /// The earliest supported time, 0001-01-01T00:00:00Z (the first instant Python's
    /// `datetime` can hold).
    pub const MIN: Self = Self(-62_135_596_800_000);

    /// The latest supported time, 9999-12-30T22:00:00Z: the last millisecond every time
    /// zone can still show as a date of year 9999, so reports and the bindings' datetimes
    /// can represent any stored time. Far-future ad end dates fit below it.
    pub const MAX: Self = Self(253_402_207_200_000);

    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(d.as_millis().min(i64::MAX as u128) as i64)
    }

    /// From milliseconds since the epoch, unchecked: any `i64` is a `Timestamp`, but only
    /// those from [`MIN`](Self::MIN) to [`MAX`](Self::MAX) are accepted by the engine (see
    /// [`try_from_millis`](Self::try_from_millis)).
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// From milliseconds since the epoch, checked: [`Error::InvalidInput`] outside
    /// [`MIN`](Self::MIN)`..=`[`MAX`](Self::MAX). What the bindings use for times callers
    /// give.
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// assert_eq!(Timestamp::try_from_millis(1_000)?, Timestamp::from_millis(1_000));
    /// let err = Timestamp::try_from_millis(i64::MAX).unwrap_err();
    /// assert_eq!(err.code(), "INVALID_INPUT");
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn try_from_millis(ms: i64) -> Result<Self> {
        let t = Self(ms);
        if t.is_supported() {
            Ok(t)
        } else {
            Err(Error::invalid(format!(
                "time {ms} ms since the epoch is outside the supported range {}",
                Self::supported_range()
            )))
        }
    }

    /// From (possibly fractional) seconds since the epoch; `None` if not finite or outside
    /// [`MIN`](Self::MIN)`..=`[`MAX`](Self::MAX).
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// assert_eq!(Timestamp::from_secs_f64(1.5), Some(Timestamp::from_millis(1_500)));
    /// assert_eq!(Timestamp::from_secs_f64(f64::NAN), None);
    /// assert_eq!(Timestamp::from_secs_f64(1e300), None);
    /// ```
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let ms = (secs * 1000.0).round();
        // Compare as floats before the cast: `as` would saturate silently.
        (ms.is_finite() && ms >= Self::MIN.0 as f64 && ms <= Self::MAX.0 as f64)
            .then_some(Self(ms as i64))
    }

    /// [`from_secs_f64`](Self::from_secs_f64) with an [`Error::InvalidInput`] that names the
    /// value and the supported range.
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// assert_eq!(Timestamp::try_from_secs_f64(2.0)?.as_millis(), 2_000);
    /// assert_eq!(Timestamp::try_from_secs_f64(f64::INFINITY).unwrap_err().code(), "INVALID_INPUT");
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn try_from_secs_f64(secs: f64) -> Result<Self> {
        Self::from_secs_f64(secs).ok_or_else(|| {
            Error::invalid(format!(
                "time {secs} s since the epoch is outside the supported range {}",
                Self::supported_range()
            ))
        })
    }

    /// Whether the time lies in [`MIN`](Self::MIN)`..=`[`MAX`](Self::MAX).
    pub fn is_supported(self) -> bool {
        (Self::MIN..=Self::MAX).contains(&self)
    }

    fn supported_range() -> String {
        format!("{}..={}", Self::MIN.to_rfc3339(), Self::MAX.to_rfc3339())
    }

    /// The time as RFC 3339 in UTC (`2026-12-03T14:00:00Z`), or as milliseconds (`1e18ms`)
    /// when no calendar date can show it. For messages.
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// assert_eq!(Timestamp::from_millis(86_400_000).to_rfc3339(), "1970-01-02T00:00:00Z");
    /// assert_eq!(Timestamp::from_millis(i64::MAX).to_rfc3339(), "9223372036854775807ms");
    /// ```
    pub fn to_rfc3339(self) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) if self.is_supported() => t.to_string(),
            _ => self.to_string(),
        }
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later), saturating
    /// at the ends of `i64` instead of overflowing.
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// let (a, b) = (Timestamp::from_millis(5), Timestamp::from_millis(2));
    /// assert_eq!(a.millis_since(b), 3);
    /// assert_eq!(Timestamp::from_millis(i64::MAX).millis_since(Timestamp::from_millis(i64::MIN)), i64::MAX);
    /// ```
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This time moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(d)))
    }

    /// This time moved back by `d` (saturating).
    ///
    /// ```
    /// use sociallens::Timestamp;
    /// use std::time::Duration;
    /// let t = Timestamp::from_millis(5_000);
    /// assert_eq!(t.minus(Duration::from_secs(2)).plus(Duration::from_secs(2)), t);
    /// assert_eq!(Timestamp::from_millis(i64::MIN).minus(Duration::MAX).as_millis(), i64::MIN);
    /// ```
    pub fn minus(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(d)))
    }
}

/// Whole milliseconds of `d`, at most `i64::MAX`.
fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
/// of year 9999), which every time zone and every language's date type can show. `set` and `advance` saturate
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
    /// The earliest time a manual clock shows: the epoch, 1970-01-01T00:00:00Z.
    pub const EARLIEST: Timestamp = Timestamp::EPOCH;
    /// The latest time a manual clock shows: [`Timestamp::MAX`] (9999-12-30T22:00:00Z), the
    /// latest time every time zone's calendar can show.
    pub const LATEST: Timestamp = Timestamp::MAX;

    fn clamp(ms: i64) -> i64 {
        ms.clamp(Self::EARLIEST.0, Self::LATEST.0)
    }

    fn check(at: Timestamp) -> crate::Result<i64> {
        if (Self::EARLIEST..=Self::LATEST).contains(&at) {
            Ok(at.0)
        } else {
            Err(crate::Error::invalid(format!(
                "a manual clock shows times from 1970-01-01 to 9999-12-30T22:00:00Z ({} to {} ms), got {} ms",
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
        let by = duration_millis(d);
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
        let by = duration_millis(d);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_range_is_what_the_calendar_can_show() {
        // Every supported time converts to a civil date in any time zone, and the next
        // millisecond does not: `MAX` is exactly the calendar's edge.
        let max = jiff::Timestamp::from_millisecond(Timestamp::MAX.as_millis()).unwrap();
        assert!(jiff::Timestamp::from_millisecond(Timestamp::MAX.as_millis() + 1).is_err());
        for tz in ["UTC", "Pacific/Kiritimati", "Etc/GMT+12"] {
            let z = max.to_zoned_datetime(jiff::tz::TimeZone::get(tz).unwrap());
            assert!(z.year() <= 9999);
        }
        let min = jiff::Timestamp::from_millisecond(Timestamp::MIN.as_millis()).unwrap();
        assert_eq!(min.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(max.to_string(), "9999-12-30T22:00:00Z");
    }

    #[test]
    fn checked_conversions_reject_what_the_calendar_cannot_show() {
        for ms in [
            i64::MIN,
            Timestamp::MIN.as_millis() - 1,
            Timestamp::MAX.as_millis() + 1,
            i64::MAX,
        ] {
            let e = Timestamp::try_from_millis(ms).unwrap_err();
            assert_eq!(e.code(), "INVALID_INPUT");
            assert!(e.to_string().contains("9999-12-30T22:00:00Z"), "{e}");
        }
        for ms in [Timestamp::MIN.as_millis(), 0, Timestamp::MAX.as_millis()] {
            assert_eq!(Timestamp::try_from_millis(ms).unwrap().as_millis(), ms);
        }
        for secs in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -1e300,
            9.3e18,
            253_402_300_800.0,
        ] {
            assert_eq!(Timestamp::from_secs_f64(secs), None, "{secs}");
            assert_eq!(
                Timestamp::try_from_secs_f64(secs).unwrap_err().code(),
                "INVALID_INPUT"
            );
        }
        assert_eq!(
            Timestamp::from_secs_f64(-62_135_596_800.0),
            Some(Timestamp::MIN)
        );
    }

    #[test]
    fn arithmetic_saturates_at_the_ends_of_i64() {
        let (lo, hi) = (
            Timestamp::from_millis(i64::MIN),
            Timestamp::from_millis(i64::MAX),
        );
        assert_eq!(hi.plus(Duration::MAX), hi);
        assert_eq!(lo.minus(Duration::MAX), lo);
        assert_eq!(lo.plus(Duration::MAX).as_millis(), -1);
        assert_eq!(hi.minus(Duration::MAX).as_millis(), 0);
        assert_eq!(hi.millis_since(lo), i64::MAX);
        assert_eq!(lo.millis_since(hi), i64::MIN);
        assert_eq!(hi.to_rfc3339(), "9223372036854775807ms");
    }

    #[test]
    fn manual_clock_saturates() {
        let c = ManualClock::new(Timestamp::from_millis(ManualClock::LATEST.as_millis() - 10));
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now().as_millis(), ManualClock::LATEST.as_millis() - 5);
        c.advance(Duration::MAX);
        assert_eq!(
            c.now(),
            ManualClock::LATEST,
            "a wrapping add would go negative"
        );
        c.set(Timestamp::from_millis(i64::MIN));
        assert_eq!(c.now(), ManualClock::EARLIEST);
        c.advance(Duration::MAX);
        assert_eq!(c.now(), ManualClock::LATEST);
    }
}
