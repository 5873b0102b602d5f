//! The library side of the `mcp-sigv4` command: what other tools can reuse.
//!
//! - [`config`]: the configuration file (LiteLLM's `config.yaml` shape) read into
//!   typed values, and the rmcp transport of each server, signed with SigV4 or
//!   authenticated with its header.
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod config;
