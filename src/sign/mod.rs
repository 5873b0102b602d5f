//! The signing middleware: [`SigV4Layer`](crate::SigV4Layer) and [`SigV4`](crate::SigV4).
//!
//! The service buffers the request body (bounded by
//! [`max_body_size`](crate::SigV4Builder::max_body_size), 10 MiB by default), hashes it once
//! with SHA-256, signs the request with aws-sigv4 and calls the inner service with
//! the same bytes as an [`http_body_util::Full`](https://docs.rs/http-body-util/0.1/http_body_util/struct.Full.html). Responses pass through untouched
//! and unbuffered, so Server-Sent Events stream as they arrive.
//!
//! A request to plain `http://` on a host other than 127.0.0.0/8, `::1` or
//! `localhost` is refused with [`Error::Config`](crate::Error::Config) before it is
//! signed: the session token would cross the network in clear text. See
//! [`allow_plain_http`](crate::SigV4Builder::allow_plain_http) to opt out.
//!
//! # Layer order
//!
//! The signer must be the innermost layer that changes the request: anything
//! that runs after it and touches a signed header breaks the signature. Put retries
//! *outside* it, so every attempt is signed afresh with a new date.
//!
//! # Example: hyper-util's client
//!
//! ```no_run
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_sigv4::SigV4Layer;
//!
//! # async fn demo() -> Result<(), tower::BoxError> {
//! let url = "https://aws-mcp.us-east-1.api.aws/mcp";
//! // Service and region are inferred from the host; credentials come from the
//! // default chain (environment, profile, SSO, ...).
//! let signing = SigV4Layer::for_endpoint(url).build()?;
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//! let service = ServiceBuilder::new().layer(signing).service(client);
//!
//! let request = http::Request::post(url)
//!     .header("content-type", "application/json")
//!     .body(Full::new(Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)))?;
//! let response = service.oneshot(request).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Example: next to tower-http layers, with static credentials
//!
//! ```
//! use std::time::Duration;
//! use aws_credential_types::Credentials;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, service_fn};
//! use tower_http::timeout::TimeoutLayer;
//! use tower_http::trace::TraceLayer;
//! use tower_sigv4::{ServiceName, SigV4Layer};
//!
//! # fn demo() -> Result<(), tower_sigv4::Error> {
//! let signing = SigV4Layer::builder()
//!     .service(ServiceName::AWS_MCP)
//!     .region("us-east-1")
//!     .credentials(Credentials::new("AKIDEXAMPLE", "SECRET", Some("TOKEN".into()), None, "static"))
//!     .max_body_size(1024 * 1024)
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(TraceLayer::new_for_http())
//!     .layer(TimeoutLayer::new(Duration::from_secs(30)))
//!     .layer(signing) // innermost: signs exactly what goes on the wire
//!     .service(service_fn(|req: http::Request<Full<Bytes>>| async move {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(req.into_body()))
//!     }));
//! # let _ = service;
//! # Ok(()) }
//! ```

pub(crate) mod builder;
pub mod future;
pub(crate) mod layer;
pub(crate) mod service;

/// The largest body the layer buffers by default: 10 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;
