//! The error the signing layer returns when it cannot sign a request.

use std::fmt;
use std::sync::Arc;

use crate::credentials::CredentialsError;

/// A boxed error, as used by tower.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request was not signed (and so not sent).
///
/// The signing layer's service returns [`BoxError`]; find this type with
/// `downcast_ref`:
///
/// ```
/// use tower_sigv4::Error;
///
/// # fn handle(err: tower_sigv4::BoxError) {
/// if let Some(Error::BodyTooLarge { limit, .. }) = err.downcast_ref::<Error>() {
///     eprintln!("request body over {limit} bytes");
/// }
/// # }
/// ```
///
/// `Debug` and `Display` never contain a secret key or session token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The body is larger than the configured maximum. Decided from `Content-Length`
    /// before any byte is read when the header is present.
    BodyTooLarge {
        /// The configured maximum, in bytes.
        limit: usize,
        /// The length the request declared, if it declared one.
        declared: Option<u64>,
    },
    /// The body's length differs from the `Content-Length` the request declared.
    ContentLengthMismatch {
        /// The declared length.
        declared: u64,
        /// The bytes the body actually produced.
        actual: u64,
    },
    /// Reading the request body failed.
    BodyRead(Arc<dyn std::error::Error + Send + Sync>),
    /// No credentials could be loaded.
    Credentials(CredentialsError),
    /// The request URI has no scheme or authority (a relative URI cannot be signed:
    /// the host is part of the signature).
    RelativeUri {
        /// The URI as given, with query values and any password replaced by `…`.
        uri: String,
    },
    /// The query string is one that aws-sigv4 would canonicalise differently from
    /// the SigV4 rules, so AWS may compute a different signature: a raw `+` (which
    /// aws-sigv4 signs as a space and botocore as a plus), or a percent-escape that
    /// is not UTF-8 (which aws-sigv4 replaces with U+FFFD).
    AmbiguousQuery {
        /// The query string with its values replaced by `…` (a query can carry a
        /// token).
        query: String,
        /// What makes it ambiguous.
        reason: &'static str,
    },
    /// A header that is to be signed has a value that cannot be signed the way
    /// botocore and AWS CRT sign it: a control character HTTP forbids in a field
    /// value, or bytes that are not UTF-8 (aws-sigv4 takes values as `&str`; botocore
    /// refuses them too). Tabs, runs of whitespace and UTF-8 text are signed, in the
    /// canonical form botocore and CRT use; the value sent is never changed.
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with the value, and what to do (never the value itself).
        reason: &'static str,
    },
    /// aws-sigv4 refused to sign the request.
    Signing(Arc<dyn std::error::Error + Send + Sync>),
    /// The layer is misconfigured (for example, no region could be found): match
    /// on [`ConfigError::kind`] to tell the cases apart.
    Config(ConfigError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BodyTooLarge {
                limit,
                declared: Some(declared),
            } => write!(
                f,
                "request body of {declared} bytes is over the signing limit of {limit} bytes; raise it with `max_body_size` or send a smaller body"
            ),
            Error::BodyTooLarge {
                limit,
                declared: None,
            } => write!(
                f,
                "request body is over the signing limit of {limit} bytes; raise it with `max_body_size` or send a smaller body"
            ),
            Error::ContentLengthMismatch { declared, actual } => write!(
                f,
                "request body is {actual} bytes but Content-Length says {declared}; fix or remove the Content-Length header"
            ),
            Error::BodyRead(e) => write!(
                f,
                "reading the request body for signing failed: {e}; nothing was sent"
            ),
            Error::Credentials(e) => e.fmt(f),
            Error::RelativeUri { uri } => write!(
                f,
                "cannot sign request to `{uri}`: the URI needs a scheme and host (e.g. https://bedrock-agentcore.us-east-1.amazonaws.com/...), since the host is part of the signature"
            ),
            Error::AmbiguousQuery { query, reason } => write!(
                f,
                "cannot sign query `{query}`: {reason}; percent-encode each name and value (a space as %20, a plus as %2B, other reserved characters as %XX of their UTF-8 bytes) so that every SigV4 implementation reads it the same way"
            ),
            Error::InvalidHeader { name, reason } => {
                write!(f, "cannot sign header `{name}`: {reason}")
            }
            Error::Signing(e) => write!(f, "SigV4 signing failed: {e}"),
            Error::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::BodyRead(e) | Error::Signing(e) => Some(&**e),
            Error::Credentials(e) => e.source.as_deref().map(|e| e as _),
            _ => None,
        }
    }
}

impl Error {
    /// The signing error anywhere in `error`'s chain of sources: `error` itself,
    /// or its `source()`, or that one's, and so on.
    ///
    /// This finds the signing layer's error however a stack wrapped it: in a
    /// tower `BoxError`, in an rmcp error, or in a `reqwest_middleware::Error`
    /// that reqwest-retry's `RetryTransientMiddleware` wrapped again, where
    /// `downcast_ref` on the outer error finds nothing.
    ///
    /// ```
    /// use tower_sigv4::{ConfigErrorKind, Error, SigV4Layer};
    ///
    /// let err = SigV4Layer::for_endpoint("https://mcp.example.com/mcp")
    ///     .region("us-east-1")
    ///     .build()
    ///     .unwrap_err();
    /// let boxed: tower_sigv4::BoxError = err.into();
    /// let found = Error::find_in(&*boxed).unwrap();
    /// assert_eq!(found.config_kind(), Some(ConfigErrorKind::NoService));
    /// ```
    pub fn find_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Error> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<Error>() {
                return Some(found);
            }
            current = error.source();
        }
        None
    }

    /// The kind of configuration error, when this is one.
    ///
    /// ```
    /// use tower_sigv4::{ConfigErrorKind, SigV4Layer};
    ///
    /// let err = SigV4Layer::for_endpoint("http://mcp.example.com/mcp")
    ///     .region("us-east-1")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.config_kind(), Some(ConfigErrorKind::PlainHttp));
    /// ```
    pub fn config_kind(&self) -> Option<ConfigErrorKind> {
        match self {
            Error::Config(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// A configuration the signing layer or a transport cannot work with: its
/// [`kind`](Self::kind) for a program to match, and a message for a person
/// that says what to set.
#[derive(Clone, Debug)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    /// A configuration error of this kind with this message, for a program
    /// that reports its own configuration problems as a [`Error::Config`]
    /// (as [`std::io::Error::new`] does for I/O errors).
    pub fn new(kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        ConfigError {
            kind,
            message: message.into(),
        }
    }

    /// What is wrong with the configuration.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The kinds of [`ConfigError`]. More may be added in a minor release: match
/// with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The endpoint URL cannot be parsed, has no scheme, or is not an absolute
    /// `https://` URL.
    InvalidUrl,
    /// The endpoint uses plain `http://` to a host that is not loopback
    /// (127.0.0.0/8, `::1`, `localhost`) and `allow_plain_http` was not set.
    PlainHttp,
    /// No service was set and none could be inferred from the endpoint: set one
    /// with `service(..)`.
    NoService,
    /// No region was set, inferred from the endpoint or found in `AWS_REGION`:
    /// set one with `region(..)`.
    NoRegion,
    /// The region or service was set to an empty string.
    EmptyName,
    /// No credentials were configured and the `default-credentials` feature is
    /// off: pass `credentials(..)` or `credentials_provider(..)`.
    NoCredentials,
    /// A proxy URL (`proxy(..)`, `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`) is not
    /// a usable `http://` proxy.
    Proxy,
    /// The CA bundle (`ca_bundle(..)`, `AWS_CA_BUNDLE`, `SSL_CERT_FILE`) cannot be
    /// read or holds no usable certificate.
    CaBundle,
    /// rustls refused the TLS configuration.
    Tls,
    /// A configuration error of the program around the layer
    /// ([`ConfigError::new`]).
    Other,
}

/// A configuration error of `kind` with `message`.
pub(crate) fn config(kind: ConfigErrorKind, message: impl Into<String>) -> Error {
    Error::Config(ConfigError::new(kind, message))
}

impl From<CredentialsError> for Error {
    fn from(e: CredentialsError) -> Self {
        Error::Credentials(e)
    }
}
