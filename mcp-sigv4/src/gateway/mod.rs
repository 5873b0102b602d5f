//! The gateway: one HTTP endpoint in front of many MCP servers, each reached
//! through its own signed (or otherwise authenticated) upstream session.
//!
//! - `POST|GET|DELETE /mcp/{server}`: one server, its tools, prompts and resources
//!   under their own names.
//! - `/mcp`: the server named by the `x-litellm-mcp-server` header or `?server=`,
//!   the only server when there is one, and otherwise all of them at once: tools,
//!   prompts and resources listed as `{server}{separator}{name}` and calls routed
//!   by that prefix.
//! - `GET /health`: liveness; `GET /health/readiness` (with the master key):
//!   each upstream, ready or failing.
//!
//! Each request passes the [`guard`] checks (`Host`, `Origin`, master key,
//! method, content type, routing names) before its body is read or an upstream
//! is touched.
//!
//! A replica keeps no session table. The gateway's `Mcp-Session-Id` is a
//! [sealed](session::Sealer) [`Session`] (encrypted and authenticated): the
//! upstream session ids, their protocol versions, and the client's `initialize`
//! for replay. Any replica that shares the session secret continues any session,
//! so replicas run behind a plain load balancer without sticky sessions.
//!
//! The modules depend one way: `http` and `session` below `server` (the shared
//! state), then `guard`, `forward` and `health`, then `aggregate`, then
//! `dispatch` (requests by method; a second protocol era branches there) and
//! `serve`.
//!
//! Responses are never buffered whole: an upstream's SSE stream passes through
//! event by event.

mod aggregate;
mod dispatch;
mod forward;
pub mod guard;
mod health;
pub mod http;
mod serve;
mod server;
pub mod session;

pub use aggregate::PARTIAL_META;
pub use guard::AllowedHosts;
pub use serve::{Limits, serve};
pub use server::{Gateway, Options, Server};
pub use session::Session;
