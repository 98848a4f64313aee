//! Interest-profile arithmetic: signal weights, exponential decay (stored as forward-decayed
//! sums), and top-k.
//!
//! A signal of weight `w` at time `t` decays as `w · 2^(−(now − t)/h)`. Stores keep, per
//! (user, term), the sum of `w · 2^((t − L)/h)` for a fixed landmark `L` (forward decay, Cormode
//! et al., ICDE 2009) and reading multiplies by `2^(−(now − L)/h)`. So every signal is a plain
//! addition: events commute, an unlike adds the exact negative of what its like added, and no
//! backend reads a weight before writing it.
//!
//! Landmarks are deterministic: time is cut into eras of [`ERA_HALF_LIVES`] half-lives counted from
//! the Unix epoch, and a signal goes into the part of its own era ([`Decay::scale`]). A scaled value
//! therefore stays within `[w, w · 2^64)` whatever the time or half-life, far inside f64 and
//! DynamoDB's number range, and crossing into a new era (the "rebase") rewrites nothing: the new
//! era's part simply starts, so concurrent writers never race on a landmark. Parts two eras old
//! have decayed by at least 2^-64 and may be dropped by the next write ([`Decay::stale_before`]).

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

/// Half-lives per era: the span one forward-decay landmark serves (see the module docs).
pub const ERA_HALF_LIVES: u32 = 64;

/// The longest era: every supported time (years 1..9999) lies in one era of this length.
const MAX_ERA_LEN_MS: i64 = 1 << 60;

/// Significant digits of a weight as read (see [`InterestRecord::weight_at`]).
pub const WEIGHT_DIGITS: i32 = 12;

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

    /// How long one era is, in milliseconds: [`ERA_HALF_LIVES`] half-lives (capped so that
    /// every supported time falls in era 0 when the half-life is astronomically long; one era
    /// when weights never decay).
    ///
    /// ```
    /// use sociallens::Decay;
    /// use std::time::Duration;
    /// let d = Decay::half_life(Duration::from_secs(3600))?;
    /// assert_eq!(d.era_len_ms(), 64 * 3_600_000);
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn era_len_ms(&self) -> i64 {
        match self.half_life_ms {
            Some(h) => {
                let len = (h * ERA_HALF_LIVES as f64).round();
                if len >= MAX_ERA_LEN_MS as f64 {
                    MAX_ERA_LEN_MS
                } else {
                    (len as i64).max(1)
                }
            }
            None => MAX_ERA_LEN_MS,
        }
    }

    /// The landmark (start) of the era `at` falls in.
    pub fn landmark(&self, at: Timestamp) -> Timestamp {
        let len = self.era_len_ms();
        Timestamp::from_millis(at.as_millis().div_euclid(len).saturating_mul(len))
    }

    /// What a signal of `weight` at `at` adds to the stored part of its era: the weight scaled
    /// forward from the era's landmark, `weight · 2^((at − landmark)/h)`. Its magnitude is within
    /// `[|weight|, |weight| · 2^64)`. An unlike adds `scale(−w, like_time)`, exactly the negative of
    /// what the like added.
    ///
    /// ```
    /// use sociallens::{Decay, Timestamp};
    /// use std::time::Duration;
    /// let d = Decay::half_life(Duration::from_secs(10))?;
    /// let p = d.scale(1.0, Timestamp::from_millis(645_000));
    /// assert_eq!(p.anchor, Timestamp::from_millis(640_000)); // eras of 64 half-lives
    /// assert!((p.value - 2f64.powf(0.5)).abs() < 1e-12); // 5 s = half a half-life after it
    /// assert_eq!(d.scale(-1.0, Timestamp::from_millis(645_000)).value, -p.value);
    /// # Ok::<(), sociallens::Error>(())
    /// ```
    pub fn scale(&self, weight: f64, at: Timestamp) -> WeightPart {
        let anchor = self.landmark(at);
        let value = match self.half_life_ms {
            Some(h) => weight * (at.millis_since(anchor) as f64 / h).exp2(),
            None => weight,
        };
        WeightPart { anchor, value }
    }

    /// Parts anchored before this may be dropped when writing the part anchored at `anchor`:
    /// they are two eras old or more, so every signal in them has decayed by at least 2^-64.
    pub fn stale_before(&self, anchor: Timestamp) -> Timestamp {
        match self.half_life_ms {
            Some(_) => Timestamp::from_millis(anchor.as_millis().saturating_sub(self.era_len_ms())),
            None => Timestamp::from_millis(i64::MIN),
        }
    }

    /// The factor a weight is multiplied by after `elapsed_ms` (1 for zero or negative).
    pub fn factor(&self, elapsed_ms: i64) -> f64 {
        match self.half_life_ms {
            Some(h) if elapsed_ms > 0 => (-(elapsed_ms as f64) / h).exp2(),
            _ => 1.0,
        }
    }
}

/// One forward-decayed part of a stored weight: at time `t` it is worth
/// `value · 2^(−(t − anchor)/h)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightPart {
    /// The landmark the value is scaled to (an era's start; for rows migrated from the schema
    /// before forward decay, the time their weight was last brought up to date).
    pub anchor: Timestamp,
    /// The sum of the signals' weights scaled forward to their own times.
    pub value: f64,
}

/// One stored interest row: forward-decayed parts, the signals that still count, and when the
/// latest of them happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterestRecord {
    /// The interest term.
    pub term: String,
    /// The weight, as parts anchored at landmarks (usually one, two around an era boundary).
    pub parts: Vec<WeightPart>,
    /// Signals that still count.
    pub count: i64,
    /// Latest time a counting signal touched the term.
    pub last_seen: Timestamp,
}

impl InterestRecord {
    /// A record of one signal of `weight` at `at` (what a first like stores).
    ///
    /// ```
    /// use sociallens::{Decay, InterestRecord, Timestamp};
    /// let t = Timestamp::from_millis(1_767_225_600_000);
    /// let r = InterestRecord::single("dog", 2.0, t, Decay::default());
    /// assert_eq!(r.weight_at(t, Decay::default()), 2.0);
    /// ```
    pub fn single(term: &str, weight: f64, at: Timestamp, decay: Decay) -> Self {
        Self {
            term: term.to_string(),
            parts: vec![decay.scale(weight, at)],
            count: 1,
            last_seen: at,
        }
    }

    /// Adds a part (summing it into the part with the same anchor, if any).
    pub fn add_part(&mut self, part: WeightPart) {
        match self.parts.iter_mut().find(|p| p.anchor == part.anchor) {
            Some(p) => p.value += part.value,
            None => self.parts.push(part),
        }
    }

    /// Adds a signal of `weight` at `at` to this record in memory, as every store does in its own
    /// rows: the scaled part, `count_change` (+1 for a signal, −1 for a removed one), and
    /// `last_seen` moved forward by added signals. Parts two eras older than the new one go.
    ///
    /// ```
    /// use sociallens::{Decay, InterestRecord, Timestamp};
    /// let (t0, d) = (Timestamp::from_millis(0), Decay::none());
    /// let mut r = InterestRecord::single("dog", 1.0, t0, d);
    /// r.add_signal(1.0, t0, 1, d);
    /// assert_eq!((r.weight_at(t0, d), r.count), (2.0, 2));
    /// r.add_signal(-1.0, t0, -1, d);
    /// assert_eq!((r.weight_at(t0, d), r.count), (1.0, 1));
    /// ```
    pub fn add_signal(&mut self, weight: f64, at: Timestamp, count_change: i64, decay: Decay) {
        let part = decay.scale(weight, at);
        let stale = decay.stale_before(part.anchor);
        self.parts.retain(|p| p.anchor >= stale);
        self.add_part(part);
        self.count = self.count.saturating_add(count_change);
        if count_change > 0 && at > self.last_seen {
            self.last_seen = at;
        }
    }

    /// The weight at `now`: the parts decayed from their anchors to `max(now, last_seen)`,
    /// never amplified, clamped at zero, to [`WEIGHT_DIGITS`] significant digits.
    ///
    /// Reading before the latest signal reads at the latest signal (so a clock a little behind
    /// an event never amplifies it). The rounding hides the noise that scaling forward and back
    /// leaves in the last bits: one like reads 1.0, not 0.9999999999999998.
    pub fn weight_at(&self, now: Timestamp, decay: Decay) -> f64 {
        let at = now.max(self.last_seen);
        let mut sum = 0.0;
        for p in &self.parts {
            // Saturating: stored times come from the store and may be anything.
            sum += p.value * decay.factor(at.millis_since(p.anchor));
        }
        round_weight(sum.max(0.0))
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

/// `w` to [`WEIGHT_DIGITS`] significant digits (the nearest f64 to that decimal).
fn round_weight(w: f64) -> f64 {
    if w == 0.0 || !w.is_finite() {
        return if w.is_finite() { w } else { 0.0 };
    }
    let digits = WEIGHT_DIGITS - w.abs().log10().ceil() as i32;
    if !(-290..=290).contains(&digits) {
        return w;
    }
    let scale = 10f64.powi(digits.abs());
    if digits >= 0 {
        (w * scale).round() / scale
    } else {
        (w / scale).round() * scale
    }
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
        Timestamp::from_millis(1_767_225_600_000 + (days * DAY as f64) as i64)
    }

    fn rec(signals: &[(f64, f64, i64)], d: Decay) -> InterestRecord {
        let mut r = InterestRecord {
            term: "x".into(),
            parts: Vec::new(),
            count: 0,
            last_seen: Timestamp::EPOCH,
        };
        for &(w, at, c) in signals {
            r.add_signal(w, t(at), c, d);
        }
        r
    }

    #[test]
    fn half_life_halves() {
        let d = Decay::default();
        let r = rec(&[(4.0, 0.0, 1)], d);
        assert_eq!(r.weight_at(t(0.0), d), 4.0);
        assert_eq!(r.weight_at(t(30.0), d), 2.0);
        assert_eq!(r.weight_at(t(60.0), d), 1.0);
        // Reading before the latest signal reads at it: never amplified.
        assert_eq!(r.weight_at(t(-5.0), d), 4.0);
    }

    #[test]
    fn order_of_arrival_does_not_matter() {
        let d = Decay::default();
        let a = rec(&[(1.0, 0.0, 1), (2.0, 10.0, 1)], d);
        let b = rec(&[(2.0, 10.0, 1), (1.0, 0.0, 1)], d);
        assert_eq!(a.weight_at(t(40.0), d), b.weight_at(t(40.0), d));
        assert_eq!(a.last_seen, b.last_seen);
        let want = 1.0 * 2f64.powf(-40.0 / 30.0) + 2.0 * 2f64.powf(-1.0);
        assert!((a.weight_at(t(40.0), d) - want).abs() < 1e-11);
    }

    #[test]
    fn an_unlike_subtracts_exactly_what_its_like_added() {
        let d = Decay::default();
        let like = d.scale(1.0, t(5.0));
        let unlike = d.scale(-1.0, t(5.0));
        assert_eq!((like.anchor, like.value), (unlike.anchor, -unlike.value));
        let removed = rec(
            &[
                (1.0, 0.0, 1),
                (1.0, 5.0, 1),
                (2.0, 20.0, 1),
                (-1.0, 5.0, -1),
            ],
            d,
        );
        let expected = rec(&[(1.0, 0.0, 1), (2.0, 20.0, 1)], d);
        assert_eq!(
            removed.weight_at(t(50.0), d),
            expected.weight_at(t(50.0), d)
        );
        assert_eq!(removed.count, expected.count);
    }

    #[test]
    fn scaled_values_stay_in_range_for_any_half_life_and_time() {
        for h_secs in [
            1u64,
            3600,
            86_400,
            30 * 86_400,
            3_650 * 86_400,
            u64::MAX / 4,
        ] {
            let d = Decay::half_life(Duration::from_secs(h_secs)).unwrap();
            for at in [Timestamp::EPOCH, t(0.0), t(12_345.678), Timestamp::MAX] {
                let p = d.scale(1.0, at);
                assert!(p.anchor <= at, "h={h_secs}");
                assert!(
                    (1.0..=2f64.powi(64)).contains(&p.value),
                    "h={h_secs}: {}",
                    p.value
                );
                // Read back at its own time: the weight itself.
                let r = InterestRecord::single("x", 1.0, at, d);
                assert_eq!(r.weight_at(at, d), 1.0, "h={h_secs} at={at:?}");
            }
        }
    }

    #[test]
    fn crossing_an_era_starts_a_new_part_and_drops_two_eras_back() {
        let d = Decay::half_life(Duration::from_secs(3600)).unwrap();
        let era = d.era_len_ms();
        let base = d.landmark(t(0.0));
        let at = |ms: i64| Timestamp::from_millis(base.as_millis() + ms);
        let mut r = InterestRecord::single("x", 1.0, at(era - 1), d);
        r.add_signal(1.0, at(era + 1), 1, d);
        assert_eq!(r.parts.len(), 2);
        // Two signals 2 ms apart, read at the second: 2^(-2 ms / h) + 1.
        let want = (-2.0 / 3.6e6f64).exp2() + 1.0;
        assert!((r.weight_at(at(era + 1), d) - want).abs() < 1e-11);
        r.add_signal(1.0, at(3 * era), 1, d);
        assert_eq!(r.parts.len(), 1, "{:?}", r.parts);
        assert_eq!(r.weight_at(at(3 * era), d), 1.0);
    }

    #[test]
    fn no_decay_sums_plainly() {
        let d = Decay::none();
        let r = rec(&[(1.0, 0.0, 1), (2.0, 1e5, 1)], d);
        assert_eq!(r.parts.len(), 1);
        assert_eq!(r.weight_at(t(1e6), d), 3.0);
    }

    #[test]
    fn extreme_times_neither_overflow_nor_amplify() {
        let d = Decay::default();
        let (lo, hi) = (
            Timestamp::from_millis(i64::MIN),
            Timestamp::from_millis(i64::MAX),
        );
        let r = InterestRecord::single("x", 1.0, lo, d);
        assert_eq!(r.weight_at(hi, d), 0.0);
        let mut r = InterestRecord::single("x", 1.0, hi, d);
        assert_eq!(r.weight_at(lo, d), 1.0);
        r.count = i64::MAX;
        r.add_signal(1.0, hi, 1, d);
        assert_eq!(r.count, i64::MAX);
        // Rows from the store may carry anything: garbage reads as a number, never a panic.
        let junk = InterestRecord {
            term: "x".into(),
            parts: vec![WeightPart {
                anchor: lo,
                value: f64::MAX,
            }],
            count: 1,
            last_seen: lo,
        };
        assert!(junk.weight_at(hi, d).is_finite());
    }

    #[test]
    fn weights_read_to_twelve_digits() {
        assert_eq!(round_weight(0.999_999_999_999_999_8), 1.0);
        assert_eq!(round_weight(1_000.000_000_000_001), 1000.0);
        assert_eq!(round_weight(0.123_456_789_012_345), 0.123_456_789_012);
        assert_eq!(round_weight(1e-300), 1e-300);
        assert_eq!(round_weight(0.0), 0.0);
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
