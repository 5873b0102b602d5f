//! Which request headers go into the signature.

use http::HeaderName;

/// The policy that picks which headers are signed.
///
/// `host`, `x-amz-date`, `x-amz-security-token` and (when enabled)
/// `x-amz-content-sha256` are always signed; `authorization` never is.
///
/// ```
/// use tower_sigv4::SignedHeaders;
///
/// // The default: everything but the headers in `SignedHeaders::DEFAULT_EXCLUDED`.
/// let default = SignedHeaders::default();
/// assert!(default.signs("mcp-session-id"));
/// assert!(!default.signs("user-agent"));
///
/// // Also leave out a header a proxy on the way rewrites.
/// let more = SignedHeaders::default().also_exclude(["x-forwarded-for"]);
/// assert!(!more.signs("x-forwarded-for"));
///
/// // Sign only what is listed (allow-list mode).
/// let only = SignedHeaders::only(["content-type", "mcp-session-id"]);
/// assert!(only.signs("content-type") && only.signs("host"));
/// assert!(!only.signs("accept"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    mode: Mode,
    names: Vec<HeaderName>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Exclude,
    Only,
}

impl Default for SignedHeaders {
    fn default() -> Self {
        Self::excluding(Self::DEFAULT_EXCLUDED.iter().copied())
    }
}

impl SignedHeaders {
    /// Headers the signer leaves out by default: ones that proxies and HTTP stacks add,
    /// remove or rewrite on the way, so signing them would break the signature.
    pub const DEFAULT_EXCLUDED: &'static [&'static str] = &[
        "authorization",
        "user-agent",
        "x-amzn-trace-id",
        "traceparent",
        "tracestate",
        "baggage",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    ];

    /// Sign every header except `names` (replacing the default exclusions).
    /// Names that are not valid header names are ignored.
    pub fn excluding<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        Self {
            mode: Mode::Exclude,
            names: parse_names(names),
        }
    }

    /// Sign only `names` (plus the headers SigV4 always signs).
    pub fn only<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        Self {
            mode: Mode::Only,
            names: parse_names(names),
        }
    }

    /// Leave out `names` as well. In allow-list mode this removes them from the list.
    #[must_use = "`also_exclude` returns the changed policy"]
    pub fn also_exclude<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let names = parse_names(names);
        match self.mode {
            Mode::Exclude => self.names.extend(names),
            Mode::Only => self.names.retain(|n| !names.contains(n)),
        }
        self
    }

    /// Whether a header with this name is signed.
    pub fn signs(&self, name: &str) -> bool {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(name) => self.signs_name(&name),
            Err(_) => false,
        }
    }

    pub(crate) fn signs_name(&self, name: &HeaderName) -> bool {
        if name == http::header::AUTHORIZATION {
            return false;
        }
        if name == http::header::HOST || name.as_str().starts_with("x-amz-") {
            return true;
        }
        let listed = self.names.iter().any(|n| n == name);
        match self.mode {
            Mode::Exclude => !listed,
            Mode::Only => listed,
        }
    }
}

fn parse_names<I, N>(names: I) -> Vec<HeaderName>
where
    I: IntoIterator<Item = N>,
    N: AsRef<str>,
{
    names
        .into_iter()
        .filter_map(|n| HeaderName::from_bytes(n.as_ref().trim().as_bytes()).ok())
        .collect()
}
