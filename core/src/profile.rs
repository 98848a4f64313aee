//! Interest-profile arithmetic: signal weights, exponential decay, accumulation, top-k.
//!
//! A stored interest is `(weight, updated_at)`: the weight as it stood at `updated_at`.
//! Reading decays it to "now" (`weight · 2^(-(now − updated_at) / half_life)`), so no
//! background job ever rewrites profiles. Adding `d` at time `t` decays the stored value to
//! `max(t, updated_at)` first and decays `d` too when the event is older than the record,
//! which makes the result independent of the order events arrive in. Removing a like adds
//! `−d` at the like's own time, so it takes away exactly what the like added.

use crate::domain::{EventKind, Interest};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Weight each kind of signal adds to every interest of its post.
///
/// ```
/// use sociallens::SignalWeights;
/// let w = SignalWeights::default();
/// assert_eq!((w.like, w.upload, w.click, w.impression), (1.0, 2.0, 0.5, 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalWeights {
    /// Added by a like (default 1.0).
    pub like: f64,
    /// Added by an upload (default 2.0).
    pub upload: f64,
    /// Added by a click (default 0.5).
    pub click: f64,
    /// Added by an impression (default 0.0: being shown something says little).
    pub impression: f64,
}

impl Default for SignalWeights {
    fn default() -> Self {
        Self {
            like: 1.0,
            upload: 2.0,
            click: 0.5,
            impression: 0.0,
        }
    }
}

impl SignalWeights {
    /// The weight of one kind of signal; an unlike carries none of its own.
    pub fn for_kind(&self, kind: EventKind) -> f64 {
        match kind {
            EventKind::Like => self.like,
            EventKind::Upload => self.upload,
            EventKind::Click => self.click,
            EventKind::Impression => self.impression,
            EventKind::Unlike => 0.0,
        }
    }

    /// Checks every weight is finite and not negative.
    pub fn validate(&self) -> Result<()> {
        for (name, w) in [
            ("like", self.like),
            ("upload", self.upload),
            ("click", self.click),
            ("impression", self.impression),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::invalid(format!(
                    "{name} weight must be finite and >= 0, got {w}"
                )));
            }
        }
        Ok(())
    }
}

/// Exponential decay of interest weights.
///
/// ```
/// use sociallens::Decay;
/// use std::time::Duration;
/// let d = Decay::half_life(Duration::from_secs(10))?;
/// assert!((d.factor(10_000) - 0.5).abs() < 1e-12);
/// assert_eq!(Decay::none().factor(1_000_000), 1.0);
/// # Ok::<(), sociallens::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decay {
    half_life_ms: Option<f64>,
}

impl Default for Decay {
    /// A half-life of 30 days.
    fn default() -> Self {
        Self {
            half_life_ms: Some(30.0 * 24.0 * 3600.0 * 1000.0),
        }
    }
}

impl Decay {
    /// Weights halve every `half_life` (which must be longer than zero).
    pub fn half_life(half_life: Duration) -> Result<Self> {
        if half_life.is_zero() {
            return Err(Error::invalid("half-life must be longer than zero"));
        }
        Ok(Self {
            half_life_ms: Some(half_life.as_secs_f64() * 1000.0),
        })
    }

    /// Weights never decay.
    pub fn none() -> Self {
        Self { half_life_ms: None }
    }

    /// The configured half-life, if any.
    pub fn half_life_duration(&self) -> Option<Duration> {
        self.half_life_ms
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    /// The factor a weight is multiplied by after `elapsed_ms` (1 for zero or negative).
    pub fn factor(&self, elapsed_ms: i64) -> f64 {
        match self.half_life_ms {
            Some(h) if elapsed_ms > 0 => (-(elapsed_ms as f64) / h).exp2(),
            _ => 1.0,
        }
    }
}

/// One stored interest row: the weight as of `updated_at`, undecayed since.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterestRecord {
    /// The interest term.
    pub term: String,
    /// Weight as it stood at `updated_at`.
    pub weight: f64,
    /// When `weight` was last brought up to date.
    pub updated_at: Timestamp,
    /// Signals that still count.
    pub count: i64,
    /// Latest time a counting signal touched the term.
    pub last_seen: Timestamp,
}

impl InterestRecord {
    /// The weight decayed to `now` (undecayed when `now` is before `updated_at`: reading in
    /// the past never amplifies). The engine keeps event times within its allowed clock skew
    /// of now, so a record is never far ahead of the clock.
    pub fn weight_at(&self, now: Timestamp, decay: Decay) -> f64 {
        // Saturating: stored times come from the store and may be anything.
        self.weight * decay.factor(now.millis_since(self.updated_at))
    }

    /// The record as an [`Interest`] read at `now`.
    pub fn to_interest(&self, now: Timestamp, decay: Decay) -> Interest {
        Interest {
            term: self.term.clone(),
            weight: self.weight_at(now, decay),
            count: self.count.max(0) as u64,
            last_seen: self.last_seen,
        }
    }
}

/// Adds `delta` at time `at` to an existing record (or to nothing), counting one signal
/// (`count_change` is +1 for an added signal, −1 for a removed one).
///
/// Returns `None` when the term no longer has any counting signal and the row should go.
///
/// ```
/// use sociallens::{profile::accumulate, Decay, Timestamp};
/// let t0 = Timestamp::from_millis(0);
/// let r = accumulate(None, "dog", 1.0, t0, 1, Decay::none()).unwrap();
/// let r = accumulate(Some(r), "dog", 1.0, t0, 1, Decay::none()).unwrap();
/// assert_eq!((r.weight, r.count), (2.0, 2));
/// assert!(accumulate(Some(r.clone()), "dog", -1.0, t0, -1, Decay::none()).is_some());
/// ```
pub fn accumulate(
    existing: Option<InterestRecord>,
    term: &str,
    delta: f64,
    at: Timestamp,
    count_change: i64,
    decay: Decay,
) -> Option<InterestRecord> {
    let mut rec = existing.unwrap_or(InterestRecord {
        term: term.to_string(),
        weight: 0.0,
        updated_at: at,
        count: 0,
        last_seen: at,
    });
    if at >= rec.updated_at {
        rec.weight = rec.weight * decay.factor(at.millis_since(rec.updated_at)) + delta;
        rec.updated_at = at;
    } else {
        rec.weight += delta * decay.factor(rec.updated_at.millis_since(at));
    }
    rec.count = rec.count.saturating_add(count_change);
    if count_change > 0 && at > rec.last_seen {
        rec.last_seen = at;
    }
    if rec.count <= 0 {
        return None;
    }
    // A removal leaves rounding dust; a weight can never be negative.
    if rec.weight < 0.0 {
        rec.weight = 0.0;
    }
    Some(rec)
}

/// Sorts interests strongest first; equal weights by term so the order is stable.
pub fn sort_strongest_first(interests: &mut [Interest]) {
    interests.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.term.cmp(&b.term))
    });
}

/// The `k` strongest interests of `records` read at `now`.
pub fn top_k(records: &[InterestRecord], k: usize, now: Timestamp, decay: Decay) -> Vec<Interest> {
    let mut all: Vec<Interest> = records.iter().map(|r| r.to_interest(now, decay)).collect();
    sort_strongest_first(&mut all);
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    fn t(days: f64) -> Timestamp {
        Timestamp::from_millis((days * DAY as f64) as i64)
    }

    #[test]
    fn half_life_halves() {
        let d = Decay::default();
        let r = accumulate(None, "dog", 4.0, t(0.0), 1, d).unwrap();
        assert!((r.weight_at(t(30.0), d) - 2.0).abs() < 1e-12);
        assert!((r.weight_at(t(60.0), d) - 1.0).abs() < 1e-12);
        // Reading in the past of the record never amplifies.
        assert_eq!(r.weight_at(t(-5.0), d), 4.0);
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let d = Decay::default();
        let a = accumulate(None, "x", 1.0, t(0.0), 1, d);
        let a = accumulate(a, "x", 2.0, t(10.0), 1, d).unwrap();
        let b = accumulate(None, "x", 2.0, t(10.0), 1, d);
        let b = accumulate(b, "x", 1.0, t(0.0), 1, d).unwrap();
        assert!((a.weight_at(t(40.0), d) - b.weight_at(t(40.0), d)).abs() < 1e-12);
        assert_eq!(a.last_seen, b.last_seen);
    }

    #[test]
    fn removing_at_the_original_time_cancels_exactly() {
        let d = Decay::default();
        let base = accumulate(None, "x", 1.0, t(0.0), 1, d);
        let with_like = accumulate(base.clone(), "x", 1.0, t(5.0), 1, d);
        let later = accumulate(with_like, "x", 2.0, t(20.0), 1, d);
        let removed = accumulate(later, "x", -1.0, t(5.0), -1, d).unwrap();
        let expected = accumulate(base, "x", 2.0, t(20.0), 1, d).unwrap();
        assert!((removed.weight_at(t(50.0), d) - expected.weight_at(t(50.0), d)).abs() < 1e-12);
        assert_eq!(removed.count, expected.count);
    }

    #[test]
    fn last_signal_removed_drops_the_row() {
        let d = Decay::none();
        let r = accumulate(None, "x", 1.0, t(0.0), 1, d);
        assert!(accumulate(r, "x", -1.0, t(0.0), -1, d).is_none());
    }

    #[test]
    fn extreme_times_neither_overflow_nor_amplify() {
        let d = Decay::default();
        let (lo, hi) = (
            Timestamp::from_millis(i64::MIN),
            Timestamp::from_millis(i64::MAX),
        );
        let r = accumulate(None, "x", 1.0, lo, 1, d).unwrap();
        // Read at the far end: fully decayed, not an overflow panic.
        assert_eq!(r.weight_at(hi, d), 0.0);
        let r = accumulate(Some(r), "x", 1.0, hi, 1, d).unwrap();
        assert_eq!((r.weight, r.updated_at), (1.0, hi));
        assert_eq!(r.weight_at(lo, d), 1.0);
        let r = accumulate(Some(r), "x", 1.0, lo, 1, d).unwrap();
        assert_eq!((r.weight, r.count), (1.0, 3));
        let mut max = r.clone();
        max.count = i64::MAX;
        assert_eq!(
            accumulate(Some(max), "x", 1.0, hi, 1, d).unwrap().count,
            i64::MAX
        );
    }

    #[test]
    fn weights_validate() {
        let mut w = SignalWeights::default();
        assert!(w.validate().is_ok());
        w.click = f64::NAN;
        assert!(w.validate().is_err());
        assert!(Decay::half_life(Duration::ZERO).is_err());
    }
}
