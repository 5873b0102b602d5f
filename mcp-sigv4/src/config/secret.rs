use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq;

/// A secret string (an AWS secret key, a session token, an API key, a bearer token,
/// the master key) that never shows in `Debug`, `Display` or logs.
///
/// Read it with [`expose`](Self::expose) only where it is sent; compare it with
/// [`matches`](Self::matches), which takes the same time whatever the input.
///
/// ```
/// use mcp_sigv4::config::Secret;
///
/// let key = Secret::new("sk-1234");
/// assert_eq!(format!("{key:?}"), "Secret(***)");
/// assert_eq!(key.to_string(), "***");
/// assert!(key.matches("sk-1234"));
/// assert_eq!(key.expose(), "sk-1234");
/// ```
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wrap `value`.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` equals the secret, in time that depends only on the
    /// lengths (for checking a presented key or token).
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.expose())
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}
