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
//!   shape) read into typed values, and [`telemetry`] and [`logging`].
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
pub mod gateway;
pub mod lambda;
pub mod logging;
pub mod probe;
pub mod protocol;
pub mod relay;
pub mod shutdown;
pub mod stdio;
pub mod telemetry;
pub mod upstream;
