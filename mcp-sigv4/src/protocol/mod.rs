//! What the MCP protocol says, independent of any connection: the shapes of
//! JSON-RPC messages ([`jsonrpc`]) and the two protocol eras with the
//! translation between them ([`era`]: the 2026-07-28 `_meta` envelope, the
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers,
//! `server/discover` and `InputRequiredResult`).
//!
//! The bottom room of the application: the relay, the gateway, `ask` and the
//! [`upstream`](crate::upstream) sessions import it, and it imports nothing of
//! the crate.

pub mod era;
pub mod jsonrpc;
