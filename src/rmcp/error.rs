use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use http::{Method, StatusCode, response};
use rmcp::service::ClientInitializeError;
use rmcp::transport::streamable_http_client::StreamableHttpError;

use crate::error::BoxError;
use crate::error_chain::ErrorChain;
use crate::recover::Diagnosis;
use crate::rejection::{AwsErrorReply, RejectionKind};

/// The longest `Retry-After` value that is kept (as rmcp's own clients do).
const MAX_RETRY_AFTER_LEN: usize = 128;

/// Why a [`TowerHttpClient`](super::TowerHttpClient) request failed; rmcp wraps it
/// in [`StreamableHttpError::Client`].
///
/// HTTP error statuses keep what AWS said (the `x-amzn-errortype` header and the
/// body's `message`), so a refused signature reads
/// `HTTP 403 Forbidden: InvalidSignatureException: The request signature we
/// calculated does not match ...; hint: check that the signing service and region
/// match the endpoint ...`. Errors of the inner service (connection failures,
/// TLS, timeouts, and the signing layer's [`crate::Error`]) keep their source:
/// find the signing error with [`signing_error`](Self::signing_error).
///
/// ```
/// use tower_sigv4::rejection::RejectionKind;
/// use tower_sigv4::rmcp::HttpClientError;
///
/// # fn handle(error: &rmcp::service::ServiceError) {
/// // Anywhere in an rmcp error's chain:
/// if let Some(http) = HttpClientError::find_in(error) {
///     if http.kind() == Some(RejectionKind::ExpiredToken) {
///         eprintln!("{http}");
///     }
/// }
/// # }
/// ```
///
/// `Clone`: the errors it wraps are shared, not copied.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HttpClientError {
    /// The server answered with an HTTP error status (and not with a JSON-RPC
    /// error, which rmcp receives as a message instead).
    Status(Box<StatusError>),
    /// The inner service failed: no response was received. This is where the
    /// signing layer's [`crate::Error`] and connection errors end up.
    Transport(Arc<dyn StdError + Send + Sync>),
    /// The response body failed while it was read.
    Body(Arc<dyn StdError + Send + Sync>),
    /// One Server-Sent Event was larger than the transport's
    /// `max_sse_event_size`; the stream was ended.
    SseEventTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request could not be built (a URI or header value that HTTP cannot carry).
    InvalidRequest(Arc<dyn StdError + Send + Sync>),
}

/// An HTTP error status and what the server said with it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StatusError {
    /// The request's method (`POST` for messages, `GET` for the event stream,
    /// `DELETE` for ending the session).
    pub method: Method,
    /// The status, AWS error type and message.
    pub reply: AwsErrorReply,
    /// The `Retry-After` header as sent, if it was short and valid UTF-8.
    pub retry_after: Option<String>,
    /// What [`RecoverLayer`](crate::recover::RecoverLayer) found, when one sits
    /// in the stack (401 and 403 only).
    pub diagnosis: Option<Diagnosis>,
}

impl StatusError {
    /// Build from a response's head and a (possibly truncated) prefix of its body.
    pub(crate) fn from_response(method: Method, parts: &response::Parts, body: &[u8]) -> Self {
        let retry_after = parts
            .headers
            .get(http::header::RETRY_AFTER)
            .filter(|v| v.len() <= MAX_RETRY_AFTER_LEN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Self {
            method,
            reply: AwsErrorReply::parse(parts.status, &parts.headers, body),
            retry_after,
            diagnosis: parts.extensions.get::<Diagnosis>().cloned(),
        }
    }

    /// One line that says what to do: the [`Diagnosis`]'s when there is one,
    /// else the one for the reply's [`kind`](AwsErrorReply::kind) (which, for a
    /// reply the crate does not recognise, says to read AWS's message).
    pub fn hint(&self) -> Cow<'static, str> {
        match &self.diagnosis {
            Some(diagnosis) => diagnosis.hint(),
            None => self.reply.hint(),
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The recovery layer's diagnosis already says what was signed and what to do.
        if let Some(diagnosis) = &self.diagnosis {
            return diagnosis.fmt(f);
        }
        self.reply.fmt(f)?;
        // A reply the crate does not recognise has no more to say than its message.
        if self.reply.kind() != RejectionKind::Other {
            write!(f, "; hint: {}", self.hint())?;
        }
        Ok(())
    }
}

impl HttpClientError {
    pub(crate) fn transport(error: impl Into<BoxError>) -> Self {
        Self::Transport(Arc::from(error.into()))
    }

    pub(crate) fn body(error: impl Into<BoxError>) -> Self {
        Self::Body(Arc::from(error.into()))
    }

    pub(crate) fn invalid_request(error: impl Into<BoxError>) -> Self {
        Self::InvalidRequest(Arc::from(error.into()))
    }

    /// The HTTP status, for [`Status`](Self::Status).
    pub fn status(&self) -> Option<StatusCode> {
        self.status_error().map(|s| s.reply.status)
    }

    /// The HTTP error status and what came with it, for [`Status`](Self::Status).
    pub fn status_error(&self) -> Option<&StatusError> {
        match self {
            Self::Status(status) => Some(status),
            _ => None,
        }
    }

    /// What AWS said, for [`Status`](Self::Status).
    pub fn reply(&self) -> Option<&AwsErrorReply> {
        self.status_error().map(|s| &s.reply)
    }

    /// The classification of an HTTP error status.
    pub fn kind(&self) -> Option<RejectionKind> {
        self.reply().map(AwsErrorReply::kind)
    }

    /// Whether AWS refused the signature or the credentials behind it.
    pub fn is_signature_problem(&self) -> bool {
        self.kind().is_some_and(RejectionKind::is_signature_problem)
    }

    /// The signing layer's error, if the request was not sent because it could
    /// not be signed (no credentials, body over the limit, ...).
    pub fn signing_error(&self) -> Option<&crate::Error> {
        let Self::Transport(error) = self else {
            return None;
        };
        let mut current: Option<&(dyn StdError + 'static)> = Some(&**error);
        while let Some(error) = current {
            if let Some(signing) = error.downcast_ref::<crate::Error>() {
                return Some(signing);
            }
            current = error.source();
        }
        None
    }

    /// Find this error in an rmcp error's chain of sources: in what
    /// `().serve(transport)` returns (a [`ClientInitializeError`], where a wrong
    /// region or missing credentials first show), a `ServiceError`, a
    /// `DynamicTransportError` or a [`StreamableHttpError`].
    ///
    /// ```no_run
    /// use rmcp::ServiceExt;
    /// use tower_sigv4::rmcp::HttpClientError;
    ///
    /// # #[cfg(feature = "rmcp-connect")]
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let transport = tower_sigv4::rmcp::connect("https://aws-mcp.us-east-1.api.aws/mcp")?;
    /// let client = match ().serve(transport).await {
    ///     Ok(client) => client,
    ///     Err(error) => {
    ///         if let Some(http) = HttpClientError::find_in(&error) {
    ///             // Our message, without rmcp's type names in front of it.
    ///             eprintln!("cannot connect: {http}");
    ///             if let Some(signing) = http.signing_error() {
    ///                 eprintln!("(not sent: {signing})");
    ///             }
    ///         }
    ///         return Err(error.into());
    ///     }
    /// };
    /// # let _ = client;
    /// # Ok(()) }
    /// ```
    pub fn find_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a HttpClientError> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<HttpClientError>() {
                return Some(found);
            }
            // `StreamableHttpError::Client` does not report its error as a source.
            if let Some(StreamableHttpError::Client(found)) =
                error.downcast_ref::<StreamableHttpError<HttpClientError>>()
            {
                return Some(found);
            }
            // Nor does `ClientInitializeError::TransportError`.
            if let Some(ClientInitializeError::TransportError { error, .. }) =
                error.downcast_ref::<ClientInitializeError>()
            {
                current = Some(error);
                continue;
            }
            current = error.source();
        }
        None
    }
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => status.fmt(f),
            Self::Transport(error) if self.signing_error().is_some() => {
                f.write_str("the request was not sent: ")?;
                write!(f, "{}", ErrorChain(&**error))
            }
            Self::Transport(error) => {
                f.write_str("the HTTP request failed: ")?;
                write!(f, "{}", ErrorChain(&**error))
            }
            Self::Body(error) => {
                f.write_str("reading the HTTP response body failed: ")?;
                write!(f, "{}", ErrorChain(&**error))
            }
            Self::SseEventTooLarge { limit } => write!(
                f,
                "a Server-Sent Event from the server is over the limit of {limit} bytes; raise `max_sse_event_size` in the transport config if the server's messages are that large"
            ),
            Self::InvalidRequest(error) => {
                f.write_str("the HTTP request could not be built: ")?;
                write!(f, "{}", ErrorChain(&**error))
            }
        }
    }
}

impl StdError for HttpClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Transport(e) | Self::Body(e) | Self::InvalidRequest(e) => Some(&**e),
            Self::Status(_) | Self::SseEventTooLarge { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_error(status: u16, error_type: &str, body: &str) -> HttpClientError {
        let mut response = http::Response::builder().status(status);
        if !error_type.is_empty() {
            response = response.header("x-amzn-errortype", error_type);
        }
        let (parts, ()) = response.body(()).unwrap().into_parts();
        HttpClientError::Status(Box::new(StatusError::from_response(
            Method::POST,
            &parts,
            body.as_bytes(),
        )))
    }

    #[test]
    fn status_display_has_status_type_message_and_hint() {
        let error = status_error(
            403,
            "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            r#"{"message":"The request signature we calculated does not match the signature you provided."}"#,
        );
        let text = error.to_string();
        assert!(
            text.starts_with("HTTP 403 Forbidden: InvalidSignatureException: The request signature we calculated does not match"),
            "{text}"
        );
        assert!(
            text.contains("hint: check that the signing service and region"),
            "{text}"
        );
        assert_eq!(error.kind(), Some(RejectionKind::InvalidSignature));
        assert!(error.is_signature_problem());
    }

    #[test]
    fn other_statuses_have_no_hint() {
        let error = status_error(404, "", "<html>no</html>");
        assert_eq!(error.to_string(), "HTTP 404 Not Found: <html>no</html>");
        assert!(!error.is_signature_problem());
    }

    #[test]
    fn transport_display_includes_sources_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let error = HttpClientError::transport(Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        )));
        assert_eq!(
            error.to_string(),
            "the HTTP request failed: client error (Connect): connection refused"
        );
        assert!(error.source().is_some());
    }

    #[test]
    fn finds_the_signing_error() {
        let error = HttpClientError::transport(crate::error::config(
            crate::ConfigErrorKind::NoRegion,
            "no region",
        ));
        assert!(matches!(
            error.signing_error(),
            Some(crate::Error::Config(_))
        ));
        let wrapped = StreamableHttpError::Client(error);
        assert!(HttpClientError::find_in(&wrapped).is_some());
    }

    #[test]
    fn echoed_session_tokens_never_show() {
        let message = "The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'POST\n/mcp\nX-Amz-Security-Token=QUERYSECRET\nhost:example.com\nx-amz-date:20250101T000000Z\nx-amz-security-token:HEADERSECRET\n\nhost;x-amz-date;x-amz-security-token\ne3b0'\n";
        let body = serde_json::json!({ "message": message }).to_string();
        let error = status_error(403, "InvalidSignatureException", &body);
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("x-amz-security-token:…"), "{text}");
        }
    }
}
