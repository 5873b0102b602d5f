//! AWS Signature Version 4 request signing as a [tower] layer, for MCP servers
//! hosted on AWS: Bedrock AgentCore Runtime and Gateway (`bedrock-agentcore`) and
//! the AWS MCP Server (`aws-mcp`).
//!
//! [`SigV4Layer`] buffers the request body (bounded), hashes it once with SHA-256,
//! signs the request with [aws-sigv4](aws_sigv4) and calls the inner service with
//! the same bytes. Responses are never buffered, so Server-Sent Events stream
//! through. Credentials are cached and refreshed ahead of expiry
//! ([`CredentialsCache`]); the service and region can be inferred from the
//! endpoint ([`endpoint::infer`]).
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
//!
//! The `mcp-sigv4` command lives in its own package of the same workspace.
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

mod body;
#[cfg_attr(not(feature = "verify"), allow(dead_code, unreachable_pub))]
mod canonical;
pub mod clock;
pub mod credentials;
pub mod endpoint;
pub mod error;
mod error_chain;
pub mod headers;
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

/// The `tracing` target of the crate's spans (see "Tracing" in the crate docs).
const SPANS: &str = "tower_sigv4::spans";

pub use credentials::{CredentialsCache, LoadCounts};
pub use error::{BoxError, Error};
pub use error_chain::ErrorChain;
pub use headers::SignedHeaders;
pub use service_name::ServiceName;
pub use sign::{SigV4, SigV4Builder, SigV4Layer};
pub use signer::{MissingCredentials, Signature, Signer};

#[cfg(all(
    doctest,
    feature = "rmcp-connect",
    feature = "reqwest",
    feature = "verify"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The library's guide, `docs/library.md`: its Rust code blocks compile as the
/// README's do.
#[cfg(all(
    doctest,
    feature = "rmcp-connect",
    feature = "reqwest",
    feature = "verify"
))]
#[doc = include_str!("../docs/library.md")]
pub struct LibraryGuideDoctests;
