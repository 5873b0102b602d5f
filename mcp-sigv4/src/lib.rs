//! The library side of the `mcp-sigv4` command: what other tools can reuse.
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
pub mod config;
