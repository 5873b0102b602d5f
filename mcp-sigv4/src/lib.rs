//! The `mcp-sigv4` application as a library, so that its tests and benches reach
//! its parts, and other tools can reuse them. It reads like a small server, each
//! room importing only the rooms below it:
//!
//! - front-ends ([`stdio`], the [`gateway`]'s HTTP) turn bytes into JSON-RPC
//!   messages;
//! - the [`relay`] (one host, one server), the [`gateway`] (many clients, many
//!   servers) and [`ask`] (the Bedrock Converse tool loop, every Bedrock call
//!   through `aws-sdk-bedrockruntime`) route them, and [`lambda`] answers a
//!   Bedrock Agents action group's events with their tools;
//! - [`upstream`]: how one server is reached: its transport (streamable HTTP,
//!   SSE, stdio), the authentication of its requests (SigV4 through
//!   `tower-sigv4`, OAuth2, headers) and the session with it;
//! - [`protocol`]: JSON-RPC shapes and the two MCP protocol eras;
//! - beside them, [`config`]: the configuration file (LiteLLM's `config.yaml`
//!   shape) read into typed values, and [`telemetry`], [`logging`] and
//!   [`runtime`] (the async runtime each command starts).
//!
//! The commands sit on top: [`proxy`] (stdio to one server through the relay),
//! [`gateway_cmd`], [`probe_cmd`], `ask::cli` and `lambda::cli` turn their
//! flags into the rooms above and run them; `main.rs` only parses the command
//! line and calls one of them, so the program's code is compiled once, here.
//! [`flags`] holds what every command reads the same way.
//!
//! The test `tests/rooms.rs` fails on an import circle between two files.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod advice;
pub mod ask;
pub mod aws_profile;
pub mod config;
pub mod flags;
pub mod gateway;
pub mod gateway_cmd;
pub mod lambda;
pub mod logging;
pub mod probe;
pub mod probe_cmd;
pub mod protocol;
pub mod proxy;
pub mod relay;
pub mod runtime;
pub mod shutdown;
pub mod stdio;
pub mod telemetry;
pub mod upstream;

/// The application's pages under `docs/`, compiled as doctests so that a Rust code
/// block in any of them is checked as the README's are (`tests/cli/docs.rs` checks
/// that every page is listed here or in the library's harness).
#[cfg(doctest)]
mod docs_pages {
    #[doc = include_str!("../../docs/ask.md")]
    struct Ask;
    #[doc = include_str!("../../docs/bedrock-agents.md")]
    struct BedrockAgents;
    #[doc = include_str!("../../docs/configuration.md")]
    struct Configuration;
    #[doc = include_str!("../../docs/deploy.md")]
    struct Deploy;
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
