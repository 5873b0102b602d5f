//! The `mcp-sigv4` application as a library, so that its tests and benches reach
//! its parts. It reads like a small server: front-ends ([`stdio`]) turn bytes into
//! JSON-RPC messages, the [`relay`] routes them, an upstream session owns one MCP
//! endpoint, and the signed HTTP client from `tower-sigv4` sits below it.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod gateway;
pub mod logging;
pub mod relay;
pub mod shutdown;
pub mod stdio;
