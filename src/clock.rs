//! Time sources for signing, so tests can freeze the clock and the signer can
//! correct for clock skew reported by AWS.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

/// `x-amz-date` values: the crate's own helpers, for the application through
/// `tower_sigv4::unstable` (feature `unstable`).
#[cfg_attr(not(feature = "unstable"), allow(unreachable_pub, dead_code))]
pub(crate) mod amz_date {
    use std::time::{Duration, SystemTime};

    use time::OffsetDateTime;
    use time::format_description::BorrowedFormatItem;
    use time::macros::format_description;

    /// `YYYYMMDDTHHMMSSZ`, the form of `x-amz-date`.
    const AMZ_DATE: &[BorrowedFormatItem<'static>] =
        format_description!("[year][month][day]T[hour][minute][second]Z");

    /// Parse an `x-amz-date` value (`YYYYMMDDTHHMMSSZ`, UTC).
    ///
    /// ```
    /// # #[cfg(feature = "unstable")] {
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use tower_sigv4::unstable::{format_amz_date, parse_amz_date};
    ///
    /// let t = parse_amz_date("20150830T123600Z").unwrap();
    /// assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_440_938_160));
    /// assert_eq!(format_amz_date(t), "20150830T123600Z");
    /// assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
    /// # }
    /// ```
    pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
        if s.len() != 16 {
            return None;
        }
        let time = time::PrimitiveDateTime::parse(s, AMZ_DATE)
            .ok()?
            .assume_utc();
        (time.year() >= 1970).then(|| SystemTime::from(time))
    }

    /// Format a time as an `x-amz-date` value (`YYYYMMDDTHHMMSSZ`, UTC). Times
    /// outside years 1970 to 9999 are clamped to them.
    pub fn format_amz_date(time: SystemTime) -> String {
        let max = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        let time = OffsetDateTime::from(time.clamp(SystemTime::UNIX_EPOCH, max));
        time.format(AMZ_DATE).unwrap_or_default()
    }
}

/// A source of the current time used to date signatures.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use tower_sigv4::clock::{Clock, FixedClock};
///
/// let clock = FixedClock::new(UNIX_EPOCH + Duration::from_secs(1_440_938_160));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_440_938_160));
/// ```
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that reads the time it was set to; tests move it with [`FixedClock::set`]
/// and [`FixedClock::advance`]. Clones share the same time.
#[derive(Clone, Debug)]
pub struct FixedClock {
    // Nanoseconds since the Unix epoch (may be negative for pre-1970 times).
    nanos: Arc<AtomicI64>,
}

impl FixedClock {
    /// A clock frozen at `time`.
    pub fn new(time: SystemTime) -> Self {
        Self {
            nanos: Arc::new(AtomicI64::new(to_nanos(time))),
        }
    }

    /// Set the clock to `time`.
    pub fn set(&self, time: SystemTime) {
        self.nanos.store(to_nanos(time), Ordering::SeqCst);
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A cheaply cloneable, type-erased [`Clock`].
#[derive(Clone)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    /// Wrap a clock.
    pub fn new(clock: impl Clock) -> Self {
        Self(Arc::new(clock))
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        Self::new(SystemClock)
    }
}

impl fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Clock for SharedClock {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

/// A clock offset learned from the server's `Date` header, applied on top of
/// another clock (the AWS SDKs correct clock skew the same way).
#[derive(Clone, Debug, Default)]
pub(crate) struct SkewCorrection {
    offset_nanos: Arc<AtomicI64>,
}

impl SkewCorrection {
    /// The offset currently applied (server time minus local time).
    pub(crate) fn offset(&self) -> i64 {
        self.offset_nanos.load(Ordering::SeqCst)
    }

    /// Record that the server's clock read `server_time` when ours read `local_time`.
    pub(crate) fn observe(&self, server_time: SystemTime, local_time: SystemTime) {
        let offset = to_nanos(server_time).saturating_sub(to_nanos(local_time));
        self.offset_nanos.store(offset, Ordering::SeqCst);
    }

    /// `time` shifted by the learned offset.
    pub(crate) fn apply(&self, time: SystemTime) -> SystemTime {
        from_nanos(to_nanos(time).saturating_add(self.offset()))
    }
}

fn to_nanos(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos())
            .map(|n| -n)
            .unwrap_or(i64::MIN),
    }
}

fn from_nanos(nanos: i64) -> SystemTime {
    if nanos >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_advances_and_clones_share_time() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = FixedClock::new(t0);
        let other = clock.clone();
        clock.advance(Duration::from_secs(5));
        assert_eq!(other.now(), t0 + Duration::from_secs(5));
    }

    #[test]
    fn skew_correction_shifts_by_observed_offset() {
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let server = local + Duration::from_secs(900);
        let skew = SkewCorrection::default();
        skew.observe(server, local);
        assert_eq!(skew.apply(local), server);
        skew.observe(local - Duration::from_secs(10), local);
        assert_eq!(skew.apply(local), local - Duration::from_secs(10));
    }
}
