//! `general_settings.keys` and `general_settings.access`: who may call what
//! through the gateway, as the configuration file says it.
//!
//! ```yaml
//! general_settings:
//!   keys:
//!     ci-bot:
//!       key: os.environ/CI_BOT_KEY        # or key_sha256: <hex>
//!       servers: [github]
//!       allowed_tools: [github-list_*, github-get_*]
//!       requests_per_minute: 120
//!       expires: 2027-03-01
//!   access:
//!     - claim: groups
//!       value: support
//!       servers: [weather]
//!       allowed_tools: [weather-get_*]
//!       requests_per_minute: 60
//! ```

use std::fmt;

/// One entry of `general_settings.keys`: a key of its own for a client that
/// cannot sign in with OAuth (a CI job, a script, a LiteLLM user).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamedKey {
    /// The entry's name: the identity in metrics, audit lines and rate limits.
    pub name: String,
    /// The SHA-256 digest of the key (`key`, or `key_sha256` as given); the
    /// key itself is not kept.
    pub key_sha256: [u8; 32],
    /// `servers`: the servers it may use.
    pub servers: Vec<String>,
    /// `allowed_tools`: globs over `{server}{separator}{tool}`; `["*"]` when
    /// the entry lists none.
    pub allowed_tools: Vec<String>,
    /// `requests_per_minute`, if any.
    pub requests_per_minute: Option<u32>,
    /// `expires`, in seconds since the Unix epoch: refused from then on.
    pub expires: Option<u64>,
}

impl fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedKey")
            .field("name", &self.name)
            .field("key_sha256", &"<redacted>")
            .field("servers", &self.servers)
            .field("allowed_tools", &self.allowed_tools)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("expires", &self.expires)
            .finish()
    }
}

/// One entry of `general_settings.access`: what an OAuth identity whose
/// `claim` holds `value` may use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRule {
    /// `claim`: a claim of the access token (a string, or an array of them;
    /// `scope` is split at spaces).
    pub claim: String,
    /// `value`: what the claim must hold.
    pub value: String,
    /// `servers`: the servers it grants.
    pub servers: Vec<String>,
    /// `allowed_tools`: globs over `{server}{separator}{tool}`; `["*"]` when
    /// the rule lists none.
    pub allowed_tools: Vec<String>,
    /// `requests_per_minute`, if any.
    pub requests_per_minute: Option<u32>,
}

impl AccessRule {
    /// A rule granting `servers` and `allowed_tools` to tokens whose `claim`
    /// holds `value`, without a rate limit.
    pub fn new(
        claim: impl Into<String>,
        value: impl Into<String>,
        servers: Vec<String>,
        allowed_tools: Vec<String>,
    ) -> Self {
        Self {
            claim: claim.into(),
            value: value.into(),
            servers,
            allowed_tools,
            requests_per_minute: None,
        }
    }

    /// The rule's name in metrics and audit lines: `claim=value`.
    pub fn name(&self) -> String {
        format!("{}={}", self.claim, self.value)
    }
}

/// An `expires` value as seconds since the Unix epoch: an RFC 3339 date-time
/// (`2027-03-01T12:00:00Z`, `2027-03-01T12:00:00+02:00`) or a date, meaning
/// its first instant in UTC (`2027-03-01`). `None` when it is neither.
///
/// ```
/// use mcp_sigv4::config::parse_expiry;
///
/// assert_eq!(parse_expiry("1970-01-02"), Some(86_400));
/// assert_eq!(parse_expiry("1970-01-01T01:00:00+01:00"), Some(0));
/// assert_eq!(parse_expiry("2027-02-30"), None);
/// assert_eq!(parse_expiry("tomorrow"), None);
/// ```
pub fn parse_expiry(text: &str) -> Option<u64> {
    let text = text.trim();
    let date = text.get(..10)?;
    let rest = text.get(10..)?;
    let bytes = date.as_bytes();
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = digits(date.get(..4)?)?;
    let month: i64 = digits(date.get(5..7)?)?;
    let day: i64 = digits(date.get(8..10)?)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        let time = rest.get(..8)?;
        let clock = time.as_bytes();
        if clock[2] != b':' || clock[5] != b':' {
            return None;
        }
        let (hour, minute, second): (i64, i64, i64) = (
            digits(time.get(..2)?)?,
            digits(time.get(3..5)?)?,
            digits(time.get(6..8)?)?,
        );
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut zone = rest.get(8..)?;
        if let Some(fraction) = zone.strip_prefix('.') {
            let end = fraction
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(fraction.len());
            if end == 0 {
                return None;
            }
            zone = fraction.get(end..)?;
        }
        let offset = match zone {
            "Z" | "z" => 0,
            _ => {
                let sign = match zone.get(..1)? {
                    "+" => 1,
                    "-" => -1,
                    _ => return None,
                };
                let (hours, minutes): (i64, i64) = (digits(zone.get(1..3)?)?, {
                    if zone.get(3..4)? != ":" || zone.len() != 6 {
                        return None;
                    }
                    digits(zone.get(4..6)?)?
                });
                if hours > 23 || minutes > 59 {
                    return None;
                }
                sign * (hours * 3600 + minutes * 60)
            }
        };
        seconds += hour * 3600 + minute * 60 + second - offset;
    }
    u64::try_from(seconds).ok()
}

/// Seconds since the Unix epoch, to tell an entry already expired at start.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_dates_and_date_times() {
        assert_eq!(parse_expiry("1970-01-01"), Some(0));
        assert_eq!(parse_expiry("2000-03-01"), Some(951_868_800));
        assert_eq!(parse_expiry("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(parse_expiry("2000-03-01T00:00:00.5Z"), Some(951_868_800));
        assert_eq!(parse_expiry("2000-03-01T02:00:00+02:00"), Some(951_868_800));
        for bad in [
            "",
            "2027",
            "2027-13-01",
            "2027-00-10",
            "2027-02-29",
            "2027-01-01T25:00:00Z",
            "2027-01-01T10:00:00",
            "2027-01-01T10:00:00+0200",
            "2027-01-01T10:00:00.Z",
            "2027-01-01x",
            "1969-12-31",
            "2027-01-0é",
            "é027-01-01",
        ] {
            assert_eq!(parse_expiry(bad), None, "{bad}");
        }
    }
}
