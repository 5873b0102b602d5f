//! A [`reqwest_middleware::Middleware`] that signs requests with SigV4, and can
//! recover from AWS's refusals of a signature as [`Recover`](crate::recover::Recover)
//! does in a tower stack.
//!
//! ```no_run
//! use reqwest_middleware::ClientBuilder;
//! use tower_sigv4::reqwest::SigV4Middleware;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "https://aws-mcp.us-east-1.api.aws/mcp";
//! // Service and region are inferred from the host; credentials come from the
//! // default chain.
//! let signing = SigV4Middleware::for_endpoint(url).recover(true).build()?;
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     // .with(retry middleware) goes here, before the signer
//!     .with(signing)
//!     .build();
//! let response = client
//!     .post(url)
//!     .header("content-type", "application/json")
//!     .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
//!     .send()
//!     .await?;
//! if let Some(diagnosis) = response.extensions().get::<tower_sigv4::recover::Diagnosis>() {
//!     eprintln!("AWS refused the request: {diagnosis}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Versions
//!
//! Feature `reqwest` is for reqwest 0.13 with reqwest-middleware 0.5. The same
//! [`SigV4Middleware`] also implements reqwest-middleware 0.4's `Middleware`, for
//! reqwest 0.12, with feature `reqwest-012`; both features may be enabled at once.
//! A `Middleware is not satisfied` error from the compiler means the feature for
//! the reqwest version in use is not enabled.
//!
//! # Note
//!
//! Add this middleware **last**, after any retry middleware (such as
//! reqwest-retry's), so every attempt is signed afresh with a new date, and
//! nothing changes a signed header after it. Bytes bodies are signed as they are;
//! streaming bodies are buffered up to the signer's
//! [`max_body_size`](crate::SigV4Builder::max_body_size). A body over the limit,
//! or one that fails while it is read, fails the request with
//! `reqwest_middleware::Error::Middleware` wrapping a [`crate::Error`] that says
//! what to do, and nothing is sent. So does a request to plain `http://` on a
//! host that is not loopback, unless
//! [`allow_plain_http`](SigV4MiddlewareBuilder::allow_plain_http) is set.
//!
//! With [`recover`](SigV4MiddlewareBuilder::recover) on, a 401 or 403 reply is
//! read (up to 64 KiB) and classified, one warning is logged, and the request is
//! signed and sent once more when new credentials or a corrected clock can help;
//! the [`Diagnosis`] is put in the response's extensions. The reply's body is
//! then the bytes that were read, and the response's `url()` is kept.

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::recover::{self, Diagnosis};
use crate::signer::SignedWith;
use crate::{Error, ServiceName, SigV4Builder, SigV4Layer, Signer};

/// Signs each request with SigV4 before passing it on, and optionally recovers
/// from refused signatures. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct SigV4Middleware {
    signer: Signer,
    recover: bool,
}

impl SigV4Middleware {
    /// A middleware signing with `signer` (see [`SigV4Builder::build_signer`]),
    /// without recovery (the builders' [`recover`](SigV4MiddlewareBuilder::recover)
    /// turns it on).
    pub fn new(signer: Signer) -> Self {
        Self {
            signer,
            recover: false,
        }
    }

    /// Configure a middleware from scratch; the service defaults to
    /// `bedrock-agentcore`. The same settings as [`SigV4Layer::builder`].
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::ServiceName;
    /// use tower_sigv4::reqwest::SigV4Middleware;
    ///
    /// let signing = SigV4Middleware::builder()
    ///     .service(ServiceName::AWS_MCP)
    ///     .region("us-east-1")
    ///     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
    ///     .signing(|s| s.max_body_size(1024 * 1024))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(signing.signer().max_body_size(), 1024 * 1024);
    /// ```
    pub fn builder() -> SigV4MiddlewareBuilder {
        SigV4MiddlewareBuilder {
            signing: SigV4Layer::builder(),
            recover: false,
        }
    }

    /// Configure a middleware for `url`, with service and region inferred from
    /// its host, as [`SigV4Layer::for_endpoint`] does.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::reqwest::SigV4Middleware;
    ///
    /// let signing = SigV4Middleware::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp")
    ///     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
    ///     .recover(true)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(signing.signer().service().as_str(), "aws-mcp");
    /// assert!(signing.recovers());
    /// ```
    pub fn for_endpoint(url: &str) -> SigV4MiddlewareBuilder {
        SigV4MiddlewareBuilder {
            signing: SigV4Layer::for_endpoint(url),
            recover: false,
        }
    }

    /// Whether recovery is on: set with [`SigV4MiddlewareBuilder::recover`].
    pub fn recovers(&self) -> bool {
        self.recover
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// Sign `head` for `body`, recording the credentials' generation in `signed_with`.
    async fn sign(
        &self,
        head: &mut Head,
        body: &[u8],
        signed_with: &SignedWith,
    ) -> Result<(), Error> {
        let uri: http::Uri = head.url.parse().map_err(|_| Error::RelativeUri {
            uri: crate::endpoint::redact_query(&head.url),
        })?;
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = head.method.clone();
        parts.uri = uri;
        parts.headers = std::mem::take(&mut head.headers);
        parts.extensions.insert(signed_with.clone());
        let signed = self.signer.sign(&mut parts, body).await;
        head.headers = parts.headers;
        signed.map(|_| ())
    }

    /// What to do about a response to a request signed with `signed_with`:
    /// pass it on, or classify it and decide whether to retry.
    async fn classify<B>(
        &self,
        parts: &http::response::Parts,
        body: B,
        host: Option<&str>,
        signed_with: &SignedWith,
    ) -> (Bytes, Box<Diagnosis>, bool)
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<crate::BoxError>,
    {
        let (bytes, diagnosis) = recover::diagnose(parts, body, &self.signer, host).await;
        let retry = recover::should_retry(
            &diagnosis,
            &self.signer,
            &parts.headers,
            signed_with.generation(),
        );
        (bytes, diagnosis, retry)
    }
}

/// The parts of a request the signer reads and changes, whichever reqwest
/// version carries them.
struct Head {
    method: Method,
    url: String,
    headers: HeaderMap,
}

/// Configuration for a [`SigV4Middleware`]: the signer's settings (as
/// [`SigV4Builder`]) and whether it recovers. `Clone`, `Send` and `Sync`.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct SigV4MiddlewareBuilder {
    signing: SigV4Builder,
    recover: bool,
}

impl SigV4MiddlewareBuilder {
    forward_signing_setters!();

    /// Sign and send over plain `http://` to any host. See
    /// [`SigV4Builder::allow_plain_http`] for what this exposes.
    pub fn allow_plain_http(self) -> Self {
        self.signing(SigV4Builder::allow_plain_http)
    }

    /// Change anything else about signing, such as the body limit or the signed
    /// headers.
    pub fn signing(mut self, configure: impl FnOnce(SigV4Builder) -> SigV4Builder) -> Self {
        self.signing = configure(self.signing);
        self
    }

    /// Classify 401 and 403 replies as [`RecoverLayer`](crate::recover::RecoverLayer)
    /// does, and sign and send the request once more after reloading the
    /// credentials it was signed with or correcting the clock, when that can help
    /// (default off). The [`Diagnosis`] goes in the response's extensions.
    pub fn recover(mut self, enabled: bool) -> Self {
        self.recover = enabled;
        self
    }

    /// Build the middleware.
    pub fn build(self) -> Result<SigV4Middleware, Error> {
        Ok(SigV4Middleware {
            signer: self.signing.build_signer()?,
            recover: self.recover,
        })
    }
}

/// A reqwest response from a refused reply's head and the bytes read of its
/// body, with the diagnosis in its extensions and its URL kept.
macro_rules! rebuild {
    ($reqwest:ident, $parts:expr, $bytes:expr, $diagnosis:expr, $url:expr) => {{
        use $reqwest::ResponseBuilderExt as _;
        let mut parts: http::response::Parts = $parts;
        let (with_url, ()) = http::Response::builder()
            .url($url)
            .body(())
            .unwrap_or_default()
            .into_parts();
        parts.extensions.extend(with_url.extensions);
        parts.extensions.insert(*$diagnosis);
        $reqwest::Response::from(http::Response::from_parts(parts, $bytes))
    }};
}

/// Implements one reqwest-middleware version's `Middleware` for [`SigV4Middleware`]:
/// the request and response types differ between versions, the steps do not.
macro_rules! middleware_for {
    ($version:ident, $reqwest:ident, $middleware:ident) => {
        mod $version {
            use bytes::Bytes;

            use super::{Head, SigV4Middleware, host_of};
            use crate::Error;
            use crate::recover;
            use crate::signer::SignedWith;

            /// Buffer the body (bounded), sign, and put the bytes back.
            async fn sign_request(
                middleware: &SigV4Middleware,
                request: &mut $reqwest::Request,
                signed_with: &SignedWith,
            ) -> Result<(), Error> {
                // A bytes body yields its `Bytes` as one frame, so collecting it
                // moves the bytes without a copy; a streaming body is buffered up
                // to the limit.
                let body = match request.body_mut().take() {
                    None => Bytes::new(),
                    Some(body) => {
                        crate::body::collect_body(
                            request.headers(),
                            body,
                            middleware.signer.max_body_size(),
                        )
                        .await?
                    }
                };
                let mut head = Head {
                    method: request.method().clone(),
                    url: request.url().as_str().to_owned(),
                    headers: std::mem::take(request.headers_mut()),
                };
                let signed = middleware.sign(&mut head, &body, signed_with).await;
                *request.headers_mut() = head.headers;
                *request.body_mut() = Some($reqwest::Body::from(body));
                signed
            }

            async fn send_signed(
                middleware: &SigV4Middleware,
                mut request: $reqwest::Request,
                extensions: &mut http::Extensions,
                next: $middleware::Next<'_>,
                signed_with: &SignedWith,
            ) -> $middleware::Result<$reqwest::Response> {
                sign_request(middleware, &mut request, signed_with)
                    .await
                    .map_err(|e| $middleware::Error::Middleware(super::chained(e)))?;
                next.run(request, extensions).await
            }

            #[async_trait::async_trait]
            impl $middleware::Middleware for SigV4Middleware {
                async fn handle(
                    &self,
                    mut request: $reqwest::Request,
                    extensions: &mut http::Extensions,
                    next: $middleware::Next<'_>,
                ) -> $middleware::Result<$reqwest::Response> {
                    let first = SignedWith::default();
                    if !self.recover {
                        return send_signed(self, request, extensions, next, &first).await;
                    }
                    // Signing buffers the body, so the signed request can be
                    // cloned for the retry (which is signed afresh).
                    sign_request(self, &mut request, &first)
                        .await
                        .map_err(|e| $middleware::Error::Middleware(super::chained(e)))?;
                    let again = request.try_clone();
                    let host = host_of(request.headers(), request.url().as_str());
                    let response = next.clone().run(request, extensions).await?;
                    if !recover::is_refusal(response.status()) {
                        return Ok(response);
                    }
                    let url = response.url().clone();
                    let (parts, body) = http::Response::from(response).into_parts();
                    let (bytes, diagnosis, retry) =
                        self.classify(&parts, body, host.as_deref(), &first).await;
                    let Some(again) = again.filter(|_| retry) else {
                        return Ok(rebuild!($reqwest, parts, bytes, diagnosis, url));
                    };
                    drop((parts, bytes));
                    let second = SignedWith::default();
                    let response = send_signed(self, again, extensions, next, &second).await?;
                    if !recover::is_refusal(response.status()) {
                        return Ok(response);
                    }
                    let url = response.url().clone();
                    let (parts, body) = http::Response::from(response).into_parts();
                    let (bytes, mut again_diagnosis, _) =
                        self.classify(&parts, body, host.as_deref(), &second).await;
                    recover::refused_again(&diagnosis, &mut again_diagnosis, &self.signer, &second);
                    Ok(rebuild!($reqwest, parts, bytes, again_diagnosis, url))
                }
            }
        }
    };
}

/// `error` as reqwest-middleware carries it: an `anyhow::Error` that
/// `downcast_ref::<Error>()` finds, and whose `source()` is the signing error.
///
/// reqwest-middleware's `Error` is `#[error(transparent)]` over the
/// `anyhow::Error`, so its `source()` is the anyhow error's `source()`: with the
/// signing error as the anyhow error itself, that skips the signing error, and a
/// middleware that wraps the error again (reqwest-retry's `RetryError`) leaves no
/// way to reach it. With a context on top, the signing error is that `source()`.
fn chained(error: Error) -> anyhow::Error {
    let message = error.to_string();
    anyhow::Error::new(error).context(message)
}

/// The host the request goes to, for comparing with the signing scope.
fn host_of(headers: &HeaderMap, url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    recover::request_host(headers, &uri)
}

#[cfg(feature = "reqwest")]
middleware_for!(v0_13, reqwest, reqwest_middleware);

#[cfg(feature = "reqwest-012")]
middleware_for!(v0_12, reqwest012, reqwest_middleware04);
