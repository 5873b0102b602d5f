//! AWS Signature Version 4 request signing as a [tower] layer, for MCP servers
//! hosted on AWS: Bedrock AgentCore Runtime and Gateway (`bedrock-agentcore`) and
//! the AWS MCP Server (`aws-mcp`).
//!
//! [`SigV4Layer`] buffers the request body (bounded), hashes it once with SHA-256,
//! signs the request with [aws-sigv4](aws_sigv4) and calls the inner service with
//! the same bytes. Responses are never buffered, so Server-Sent Events stream
//! through. Credentials are cached and refreshed ahead of expiry
//! ([`CredentialsCache`](credentials::CredentialsCache)); the service and region
//! can be inferred from the endpoint ([`endpoint::infer`]).
//!
//! ```
//! use aws_credential_types::Credentials;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tower_sigv4::SigV4Layer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_sigv4::BoxError> {
//! let url = "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/\
//!            arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fagent-1\
//!            /invocations?qualifier=DEFAULT";
//! let layer = SigV4Layer::for_endpoint(url)
//!     .credentials(Credentials::new("AKIDEXAMPLE", "SECRET", None, None, "example"))
//!     .build()?;
//! let service = ServiceBuilder::new().layer(layer).service(service_fn(
//!     |req: http::Request<Full<Bytes>>| async move {
//!         // A real client sends it; here we look at the signature.
//!         let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
//!         Ok::<_, std::convert::Infallible>(http::Response::new(auth))
//!     },
//! ));
//! let request = http::Request::post(url).body(Full::new(Bytes::from_static(b"{}")))?;
//! let auth = service.oneshot(request).await?.into_body();
//! assert!(auth.contains("/us-east-1/bedrock-agentcore/aws4_request"));
//! # Ok(()) }
//! ```
//!
//! - **Bedrock AgentCore Runtime and Gateway** sign as `bedrock-agentcore`:
//!   `https://bedrock-agentcore.{region}.amazonaws.com/runtimes/{url-encoded ARN}/invocations?qualifier=DEFAULT`
//!   ([`endpoint::RuntimeArn`] builds it) and
//!   `https://{id}.gateway.bedrock-agentcore.{region}.amazonaws.com/mcp`.
//! - **The AWS MCP Server** signs as `aws-mcp`: `https://aws-mcp.{region}.api.aws/mcp`.
//!
//! Which module for which client:
//!
//! | you use | start with |
//! |---|---|
//! | any tower HTTP service (hyper-util, your own) | [`SigV4Layer`], [`recover`], [`retry`] |
//! | rmcp | `rmcp::connect` or `rmcp::TransportBuilder` (features `rmcp`, `rmcp-connect`) |
//! | reqwest with reqwest-middleware | `reqwest::SigV4Middleware` (feature `reqwest` or `reqwest-012`) |
//! | a server that checks signatures | `verify::VerifySigV4Layer` (feature `verify`) |
//!
//! # Quick start: AgentCore Runtime over hyper-util
//!
//! With `hyper-util` (features `client-legacy`, `http1`, `http2`, `tokio`) and
//! `hyper-rustls` (default features off; `http1`, `http2`, `tls12`, `aws-lc-rs`,
//! `webpki-roots`) beside `tower`, `http`, `bytes`, `http-body-util` and `tokio`:
//!
//! ```no_run
//! # #[cfg(feature = "rmcp-connect")] mod example {
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_sigv4::SigV4Layer;
//! use tower_sigv4::endpoint::RuntimeArn;
//!
//! # async fn main() -> Result<(), tower_sigv4::BoxError> {
//! let arn: RuntimeArn = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-abc123".parse()?;
//! let url = arn.invocation_url(None); // ...?qualifier=DEFAULT
//! // bedrock-agentcore / us-east-1 inferred; credentials from the default chain.
//! let signing = SigV4Layer::for_endpoint(&url).build()?;
//! let https = hyper_rustls::HttpsConnectorBuilder::new()
//!     .with_webpki_roots()
//!     .https_only()
//!     .enable_all_versions()
//!     .build();
//! let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(https);
//! let service = ServiceBuilder::new().layer(signing).service(client);
//! let request = http::Request::post(&url)
//!     .header("content-type", "application/json")
//!     .header("accept", "application/json, text/event-stream")
//!     .body(Full::new(Bytes::from_static(
//!         br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
//!     )))?;
//! let response = service.oneshot(request).await?;
//! let body = response.into_body().collect().await?.to_bytes();
//! println!("{}", String::from_utf8_lossy(&body));
//! # Ok(()) }
//! # }
//! ```
//!
//! Plain `http://` is refused for any host but the loopback ones (127.0.0.0/8,
//! `::1` and `localhost`), since it would show the session token to the network;
//! [`allow_plain_http`](SigV4Builder::allow_plain_http) opts out. A loopback URL
//! names no service or region, so set both, unless its path is an AgentCore
//! runtime's (`/runtimes/{ARN}/invocations`), whose ARN gives both.
//!
//! # Which service is signed for
//!
//! [`SigV4Layer::for_endpoint`] infers the service and region from the URL and
//! refuses to build ([`ConfigErrorKind::NoService`]) when the host is not one it
//! knows (a custom domain, say), since a guess would be signed and sent. Without
//! an endpoint, [`SigV4Layer::builder`] has nothing to infer from and signs for
//! [`ServiceName::BEDROCK_AGENTCORE`] unless told otherwise (the
//! [`Default`] of [`ServiceName`]): the crate's main target, and the service every
//! AgentCore URL the crate builds signs for. Set
//! [`service`](SigV4Builder::service) for anything else; a signature for the wrong
//! service is refused by AWS with a [`recover::Diagnosis`] that names the service
//! the endpoint expects.
//!
//! # Layer order: retries, timeouts and AWS's refusals
//!
//! Put the signer innermost: anything after it that changes a signed header
//! breaks the signature. Retries go outside it, so every attempt is signed
//! afresh with a new date. A per-attempt [`tower::timeout`] goes between the
//! retry layer and the others, so it bounds each attempt (and the recovery
//! layer's one re-send) and a timed-out attempt can be retried; a deadline for the
//! whole call, retries included, goes outside the retry layer:
//!
//! ```no_run
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//! use tower::retry::RetryLayer;
//! use tower::timeout::TimeoutLayer;
//! use tower_sigv4::SigV4Layer;
//! use tower_sigv4::recover::RecoverLayer;
//! use tower_sigv4::retry::RetryPolicy;
//!
//! # fn demo<S>(http_client: S) -> Result<(), tower_sigv4::Error> {
//! let signing = SigV4Layer::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp").build()?;
//! let service = ServiceBuilder::new()
//!     .layer(TimeoutLayer::new(Duration::from_secs(300))) // the whole call, retries included
//!     .layer(RetryLayer::new(RetryPolicy::default()))     // 429/503/connect: backoff, Retry-After
//!     .layer(TimeoutLayer::new(Duration::from_secs(60)))  // each attempt, until the response head
//!     .layer(RecoverLayer::new(signing.signer().clone())) // 401/403: classify, reload or fix skew, retry once
//!     .layer(signing)                                     // innermost: signs what is sent
//!     .service(http_client);
//! # let _ = service;
//! # Ok(()) }
//! ```
//!
//! A tower timeout ends when the response future resolves, that is at the
//! response head: a Server-Sent Events body that has started is never cut off.
//! A timed-out attempt fails with tower's `Elapsed`, which
//! [`RetryPolicy`](retry::RetryPolicy) counts as an attempt that may have reached
//! the server: it is retried only for requests marked
//! [`RetrySafe`](retry::RetrySafe). Loading credentials is bounded on its own
//! ([`credentials_load_timeout`](SigV4Builder::credentials_load_timeout), 5 s);
//! it happens inside the per-attempt timeout, so keep that one longer.
//!
//! [`RetryPolicy`](retry::RetryPolicy) retries failures before the request could
//! reach the server (connection refused, DNS, TLS handshake, proxy tunnel) for any
//! request, and 500, 502, 504 and connections that broke after the request was
//! sent only for requests marked `RetrySafe`. [`RecoverLayer`](recover::RecoverLayer)
//! puts a [`Diagnosis`](recover::Diagnosis) (the AWS error type and message, what
//! was signed, a hint) into the extensions of every 401/403 response; it reloads
//! credentials at most once per generation, however many requests were refused
//! with them, and never for a signature scoped to the wrong service or region.
//! Errors and logs show URLs with query values as `…`, and AWS messages lose
//! session-token values.
//!
//! # Errors
//!
//! The layer's service returns [`BoxError`]; a request it could not sign fails
//! with an [`Error`] and is not sent. [`Error::find_in`] finds it however the
//! stack wrapped it: a tower `BoxError`, an rmcp error, or a
//! `reqwest_middleware::Error` that reqwest-retry's `RetryTransientMiddleware`
//! wrapped again. A configuration the builders refuse is [`Error::Config`], whose
//! [`ConfigErrorKind`] a program can match ([`Error::config_kind`]):
//!
//! ```
//! use tower_sigv4::{ConfigErrorKind, Error, SigV4Layer};
//!
//! match SigV4Layer::for_endpoint("https://mcp.example.com/mcp").build() {
//!     Err(e) if e.config_kind() == Some(ConfigErrorKind::NoService) => {
//!         // not an AWS host: say which service to sign for
//!     }
//!     Err(e) => eprintln!("{e}"),
//!     Ok(_) => {}
//! }
//! ```
//!
//! An AWS refusal is a response, not an error: read its
//! [`Diagnosis`](recover::Diagnosis) from the extensions (the tower stack and the
//! reqwest middleware with `recover(true)`), or, with rmcp, find
//! `rmcp::HttpClientError` in rmcp's error with `HttpClientError::find_in`.
//!
//! # Credentials
//!
//! By default (feature `default-credentials`) the layer uses the AWS SDK's
//! default chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
//! `AWS_PROFILE` and the profile files (SSO included: run `aws sso login`), web
//! identity, ECS and EC2 instance metadata. Choose a profile with
//! [`profile`](SigV4Builder::profile), pass static keys with
//! [`credentials`](SigV4Builder::credentials), or any
//! `ProvideCredentials` with [`credentials_provider`](SigV4Builder::credentials_provider).
//! Credentials are refreshed 5 minutes before they expire
//! ([`refresh_before_expiry`](SigV4Builder::refresh_before_expiry)): inside that
//! window requests keep using the still valid credentials while one background
//! load replaces them. Loads time out after 5 s, run in their own task (a
//! cancelled request never aborts the load others wait for), and credentials
//! without an expiry are reloaded every 15 minutes.
//! [`CredentialsCache::last_provider`](credentials::CredentialsCache::last_provider)
//! names the provider that supplied them (`ProfileFile`, `SSO`, ...).
//!
//! # Header values
//!
//! The signer signs each header value in the canonical form botocore and AWS CRT
//! compute: spaces and tabs trimmed at both ends, each inner run of them folded
//! to one space; the value sent is the one the caller set. UTF-8 text is signed
//! as its bytes. A signed value that is not UTF-8 (latin-1 obs-text) is refused
//! with [`Error::InvalidHeader`], since aws-sigv4 takes values as `&str` and
//! botocore refuses such values too; so is a control character, which HTTP
//! forbids in a field value. [`SignedHeaders`] picks which headers are signed.
//!
//! # rmcp
//!
//! The rmcp adapters need rmcp 3.11 or a later 3.x, the version this crate is
//! built against; the crate enables rmcp's `client` and
//! `transport-streamable-http-client` features itself. A program that names
//! rmcp's types depends on it as well:
//! `rmcp = { version = "3.11", default-features = false, features = ["client"] }`
//! (`default-features = false` leaves out rmcp's server side and macros). See
//! the `rmcp` module (feature `rmcp`).
//!
//! # reqwest and two TLS stacks
//!
//! reqwest 0.12's default features include `default-tls`, which is native-tls:
//! OpenSSL on Linux. The `default-credentials` feature brings aws-config, whose
//! HTTP client (for SSO, web identity, ECS and IMDS) uses rustls. With both, a
//! program carries and links two TLS stacks. To carry one, use reqwest 0.12 with
//! rustls:
//!
//! ```toml
//! reqwest = { version = "0.12", default-features = false, features = ["rustls-tls", "http2", "charset"] }
//! ```
//!
//! or reqwest 0.13, whose default TLS is rustls; or leave out
//! `default-credentials` and pass credentials from an aws-config the program
//! already builds ([`credentials_provider`](SigV4Builder::credentials_provider)).
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `default-credentials` | yes | the aws-config default credential chain |
//! | `verify` | no | `verify`: a server layer that checks SigV4 signatures |
//! | `rmcp` | no | `rmcp`: rmcp's streamable HTTP client over any tower HTTP service (no TLS stack) |
//! | `rmcp-connect` | no | `rmcp::connect` and `rmcp::TransportBuilder`: a ready-made transport over hyper-util and rustls |
//! | `reqwest` | no | `reqwest`: a reqwest-middleware `Middleware` (reqwest 0.13, reqwest-middleware 0.5) |
//! | `reqwest-012` | no | the same `Middleware` for reqwest 0.12 and reqwest-middleware 0.4 |
//! | `unstable` | no | `unstable`: helpers the `mcp-sigv4` application shares with the library. **Outside semver**: they may change in any release; do not enable it |
//!
//! The `mcp-sigv4` command lives in its own package of the same workspace; the
//! library has no `cli` feature.
//!
//! `default-credentials` brings aws-config with its own HTTP client (hyper and
//! rustls). Counted as unique crates of the normal and build dependency graph,
//! the library itself included:
//!
//! ```sh
//! cargo tree -p tower-sigv4 -e normal,build --prefix none | sed 's/ (\*)//; s/ (proc-macro)//' | sort -u | wc -l
//! ```
//!
//! this gives 163 crates with the default features, 73 with
//! `--no-default-features`, 172 with `--features reqwest` and 124 with
//! `--no-default-features --features reqwest` (Cargo.lock of December 2026). A
//! program that supplies its own credentials can leave `default-credentials` out
//! with `default-features = false`.
//!
//! # Tracing
//!
//! Besides log events, the crate opens two `tracing` spans, at `DEBUG` level
//! under the target `tower_sigv4::spans`, so that a subscriber exporting
//! traces (`tracing-opentelemetry`) shows where a request's time went:
//!
//! - `sign`: signing one request (fields `sigv4.service`, `sigv4.region`),
//!   a child of the span the request was sent in;
//! - `credentials.load`: one call to the credentials provider
//!   (`credentials.source`, `credentials.refresh`, `credentials.provider`, and
//!   `error.type` when it failed), a child of the `sign` span that needed it.
//!
//! Enable them with a filter directive such as `info,tower_sigv4::spans=debug`;
//! when no subscriber enables them they cost a check of a cached flag. A retry
//! is recorded on the current span as `http.request.resend_count` (see
//! [`retry::RetryPolicy::on_retry`]).
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The signing setters a builder that wraps a [`SigV4Builder`] offers, each
/// forwarded to its `signing` closure: one definition for the reqwest
/// middleware's builder and rmcp's `TransportBuilder`.
#[cfg(any(feature = "reqwest", feature = "reqwest-012", feature = "rmcp-connect"))]
macro_rules! forward_signing_setters {
    () => {
        /// The region to sign for, e.g. `us-east-1`.
        pub fn region(self, region: impl Into<String>) -> Self {
            self.signing(|s| s.region(region))
        }

        /// The service to sign for, e.g. [`ServiceName::BEDROCK_AGENTCORE`] or
        /// [`ServiceName::AWS_MCP`].
        pub fn service(self, service: impl Into<ServiceName>) -> Self {
            self.signing(|s| s.service(service))
        }

        /// Sign with these static credentials instead of the default chain.
        pub fn credentials(self, credentials: Credentials) -> Self {
            self.signing(|s| s.credentials(credentials))
        }

        /// Load credentials from `provider` (cached, refreshed ahead of expiry).
        pub fn credentials_provider(self, provider: impl ProvideCredentials + 'static) -> Self {
            self.signing(|s| s.credentials_provider(provider))
        }

        /// Use the default credential chain with this profile instead of `AWS_PROFILE`.
        #[cfg(feature = "default-credentials")]
        pub fn profile(self, profile: impl Into<String>) -> Self {
            self.signing(|s| s.profile(profile))
        }
    };
}

/// A boxed `Send` future, as the response futures of [`recover`] and `verify` hold.
type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// A named response future over a boxed one, for a service whose response is
/// `Response<Either<B, Full<Bytes>>>`: the inner body, or one the middleware
/// wrote. One definition for [`recover`]'s and `verify`'s, as tower-http names
/// each middleware's future.
macro_rules! boxed_response_future {
    ($(#[$doc:meta])* $name:ident<$($param:ident),+>, $error:ty) => {
        type Output<B, E> = ::std::result::Result<
            ::http::Response<::http_body_util::Either<B, ::http_body_util::Full<::bytes::Bytes>>>,
            E,
        >;

        $(#[$doc])*
        pub struct $name<$($param),+> {
            inner: $crate::BoxFuture<Output<B, $error>>,
        }

        impl<$($param),+> $name<$($param),+> {
            pub(crate) fn new(inner: $crate::BoxFuture<Output<B, $error>>) -> Self {
                Self { inner }
            }
        }

        impl<$($param),+> ::std::future::Future for $name<$($param),+> {
            type Output = Output<B, $error>;

            fn poll(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Self::Output> {
                self.inner.as_mut().poll(cx)
            }
        }

        impl<$($param),+> ::std::fmt::Debug for $name<$($param),+> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

mod body;
#[cfg_attr(
    not(all(feature = "verify", feature = "unstable")),
    allow(dead_code, unreachable_pub)
)]
mod canonical;
pub mod clock;
pub mod credentials;
pub mod endpoint;
mod error;
#[cfg_attr(not(feature = "unstable"), allow(unreachable_pub))]
mod error_chain;
mod headers;
pub mod recover;
pub mod rejection;
pub mod retry;
mod service_name;
pub mod sign;
mod signer;

#[cfg(feature = "verify")]
pub mod verify;

#[cfg(feature = "rmcp")]
pub mod rmcp;

#[cfg(any(feature = "reqwest", feature = "reqwest-012"))]
pub mod reqwest;

#[cfg(feature = "unstable")]
pub mod unstable;

/// The `tracing` target of the crate's spans (see "Tracing" in the crate docs).
const SPANS: &str = "tower_sigv4::spans";

pub use error::{BoxError, ConfigError, ConfigErrorKind, Error};
pub use headers::SignedHeaders;
pub use service_name::ServiceName;
pub use sign::builder::SigV4Builder;
pub use sign::layer::SigV4Layer;
pub use sign::service::SigV4;
pub use signer::{MissingCredentials, Signature, Signer};

#[cfg(all(
    doctest,
    feature = "rmcp-connect",
    feature = "reqwest",
    feature = "verify"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
