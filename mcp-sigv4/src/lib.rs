//! The `mcp-sigv4` application as a library, so that its tests and benches reach
//! its parts, and other tools can reuse them. It reads like a small server:
//! front-ends ([`stdio`], the [`gateway`]'s HTTP) turn bytes into JSON-RPC
//! messages, the [`relay`] routes them, an upstream session owns one MCP endpoint,
//! and the signed HTTP client from `tower-sigv4` sits below it.
//!
//! - [`config`]: the configuration file (LiteLLM's `config.yaml` shape) read into
//!   typed values, and the rmcp transport of each server, signed with SigV4 or
//!   authenticated with its header.
//! - [`ask`]: the Bedrock Converse tool loop over MCP servers, every MCP request
//!   signed or authenticated through `tower-sigv4`, every Bedrock call through
//!   `aws-sdk-bedrockruntime`.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod ask;
pub mod aws_profile;
pub mod config;
pub mod gateway;
pub mod logging;
pub mod relay;
pub mod shutdown;
pub mod stdio;
pub mod telemetry;

/// The application's pages under `docs/`, compiled as doctests so that a Rust code
/// block in any of them is checked as the README's are (`tests/cli/docs.rs` checks
/// that every page is listed here or in the library's harness).
#[cfg(doctest)]
mod docs_pages {
    #[doc = include_str!("../../docs/ask.md")]
    struct Ask;
    #[doc = include_str!("../../docs/configuration.md")]
    struct Configuration;
    #[doc = include_str!("../../docs/eras.md")]
    struct Eras;
    #[doc = include_str!("../../docs/gateway.md")]
    struct Gateway;
    #[doc = include_str!("../../docs/operating.md")]
    struct Operating;
    #[doc = include_str!("../../docs/proxy.md")]
    struct Proxy;
    #[doc = include_str!("../../docs/security.md")]
    struct Security;
    #[doc = include_str!("../../docs/troubleshooting-403.md")]
    struct Troubleshooting403;
}
