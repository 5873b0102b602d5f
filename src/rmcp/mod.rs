//! rmcp's streamable HTTP client over tower services, signed with SigV4 (feature
//! `rmcp`; `connect` and `TransportBuilder` need feature `rmcp-connect`).
//!
//! - [`TowerHttpClient`]: rmcp's `StreamableHttpClient` over any tower HTTP
//!   service, for building the stack yourself. It brings no TLS stack of its own.
//! - `connect` and `TransportBuilder` (feature `rmcp-connect`): an rmcp transport
//!   to an MCP server on AWS in one call: hyper-util's client with rustls (the OS
//!   trust store plus `AWS_CA_BUNDLE`, proxies from `HTTPS_PROXY`/`NO_PROXY`,
//!   connect and response-start timeouts, keepalive), the signing layer with the
//!   service and region inferred from the URL, credentials from the default
//!   chain, and the [retry](crate::retry) and [recovery](crate::recover) layers.
//! - [`HttpClientError`]: what failed, with AWS's error type and message for
//!   HTTP errors (`HTTP 403 Forbidden: InvalidSignatureException: ...`).
//!
//! MCP 2026-07-28 clients work as well as the `initialize` handshake: every
//! header rmcp sets (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
//! `Mcp-Param-*`) is sent and signed.
//!
//! # Example: an AgentCore Runtime, 2026-07-28 where it is spoken (feature `rmcp-connect`)
//!
//! ```no_run
//! # #[cfg(feature = "rmcp-connect")] mod example {
//! use rmcp::model::{CallToolRequestParams, ProtocolVersion};
//! use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
//! use tower_sigv4::endpoint::RuntimeArn;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let arn: RuntimeArn = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-abc123".parse()?;
//! // https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3A.../invocations?qualifier=DEFAULT
//! let transport = tower_sigv4::rmcp::connect(&arn.invocation_url(None))?;
//! // `server/discover` first; the `initialize` handshake if the server is older.
//! let auto = ClientLifecycleMode::Auto {
//!     preferred_versions: vec![ProtocolVersion::V_2026_07_28],
//!     legacy_version: None,
//! };
//! let client = ().serve_with_lifecycle(transport, auto).await?;
//! let tools = client.list_all_tools().await?;
//! let result = client.call_tool(CallToolRequestParams::new("echo")).await?;
//! # let _ = (tools, result);
//! client.cancel().await?;
//! # Ok(()) }
//! # }
//! ```
//!
//! # Example: the AWS MCP Server (feature `rmcp-connect`)
//!
//! ```no_run
//! # #[cfg(feature = "rmcp-connect")] mod example {
//! use rmcp::ServiceExt;
//! use tower_sigv4::ServiceName;
//! use tower_sigv4::rmcp::TransportBuilder;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Both would be inferred from the host; set them when they cannot be.
//! let transport = TransportBuilder::new("https://aws-mcp.us-east-1.api.aws/mcp")
//!     .service(ServiceName::AWS_MCP)
//!     .region("us-east-1")
//!     .build()?;
//! let client = ().serve(transport).await?;
//! println!("{:?}", client.peer_info());
//! # Ok(()) }
//! # }
//! ```
//!
//! # Example: your own stack
//!
//! Any tower service from `http::Request<Full<Bytes>>` to a response with a
//! streaming body works; here hyper-util with rustls (crates `hyper-util` with
//! features `client-legacy`, `http1`, `http2`, `tokio`, and `hyper-rustls` with
//! `webpki-roots`):
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use rmcp::ServiceExt;
//! use rmcp::transport::StreamableHttpClientTransport;
//! use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
//! use tower::ServiceBuilder;
//! use tower::retry::RetryLayer;
//! use tower_sigv4::SigV4Layer;
//! use tower_sigv4::retry::RetryPolicy;
//! use tower_sigv4::rmcp::TowerHttpClient;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "https://mygw-1a2b.gateway.bedrock-agentcore.eu-central-1.amazonaws.com/mcp";
//! # #[cfg(feature = "rmcp-connect")] {
//! let https = hyper_rustls::HttpsConnectorBuilder::new()
//!     .with_webpki_roots()
//!     .https_or_http()
//!     .enable_all_versions()
//!     .build();
//! let http = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(https);
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default())) // outside: each attempt signed afresh
//!     .layer(SigV4Layer::for_endpoint(url).build()?) // innermost: signs what is sent
//!     .service(http);
//! let mut config = StreamableHttpClientTransportConfig::with_uri(url);
//! config.max_json_response_size = 64 * 1024 * 1024;
//! let transport = StreamableHttpClientTransport::with_client(TowerHttpClient::new(service), config);
//! let client = ().serve(transport).await?;
//! # let _ = client;
//! # }
//! # Ok(()) }
//! ```

mod client;
#[cfg(feature = "rmcp-connect")]
mod connect;
mod error;
mod sse;

pub use client::TowerHttpClient;
#[cfg(feature = "rmcp-connect")]
pub use connect::{SignedHttpService, SignedTransport, TransportBuilder, connect};
pub use error::{HttpClientError, StatusError};
pub use sse::MAX_SSE_RETRY;
