//! Values that the commands' flags take, read the same way by every command.
//!
//! ```
//! use std::time::Duration;
//!
//! assert_eq!(mcp_sigv4::flags::seconds(2.5), Duration::from_millis(2500));
//! assert_eq!(mcp_sigv4::flags::seconds(0.0), Duration::from_millis(1));
//! assert_eq!(mcp_sigv4::flags::seconds(1e300), Duration::MAX);
//! ```

use std::time::Duration;

/// A duration flag in seconds: at least a millisecond, and "forever" past what a
/// `Duration` holds.
pub fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.001)).unwrap_or(Duration::MAX)
}
