//! The gateway: one HTTP endpoint in front of many MCP servers, each reached
//! through its own signed (or otherwise authenticated) upstream session.
//!
//! - `POST|GET|DELETE /mcp/{server}` (or `/{server}/mcp`): one server, its tools,
//!   prompts and resources under their own names (the prefixed name is taken too).
//! - `/mcp`: the server named by the `x-litellm-mcp-server` (or `x-mcp-servers`)
//!   header or `?server=`, the only server when there is one, and otherwise all of
//!   them at once: tools, prompts and resources listed as `{server}{separator}{name}`
//!   and calls routed by that prefix.
//! - LiteLLM's REST API (`/mcp-rest/tools/list`, `/mcp-rest/tools/call`,
//!   `/v1/mcp/server`) and one-shot JSON-RPC without a session: see `rest`.
//! - `GET /health`: liveness; `GET /health/readiness` (with the master key):
//!   each upstream, ready or failing.
//!
//! Each request passes the [`guard`] checks (`Host`, `Origin`, credentials,
//! method, content type, routing names) before its body is read or an upstream
//! is touched. The credentials are the master key, a named key or, with
//! `general_settings.oauth`, an access token checked by [`oauth`] (the gateway
//! as an OAuth 2.1 resource server); the guard turns them into a [`Caller`],
//! written with every `tools/call` and refusal to the
//! [audit trail](crate::telemetry::audit).
//!
//! `allowed_tools` and `disallowed_tools` hold on every route: a filtered tool is
//! never listed, and a call of it never reaches its server. A client's
//! `x-mcp-{server}-{header}` replaces that server's `header` for its request only.
//!
//! A replica keeps no session table. The gateway's `Mcp-Session-Id` is a
//! [sealed](session::Sealer) [`Session`] (encrypted and authenticated): the
//! upstream session ids, their protocol versions, and the client's `initialize`
//! for replay. Any replica that shares the session secret continues any session,
//! so replicas run behind a plain load balancer without sticky sessions.
//!
//! Lists are kept per server and credential for their `ttlMs` (or
//! `--list-cache-ttl`) and dropped on `list_changed`, and identical list
//! requests at once cost one fetch: see `lists`. A `tools/call` costs no
//! `tools/list`, but the first call of a 2026-07-28 server whose tools were
//! never listed with the call's credential (its `x-mcp-header` arguments
//! must be learnt).
//!
//! Who is calling is the [`Caller`] the guard makes of the request's key
//! (`caller`), with its [`Grants`]: the servers and tools it may use, applied
//! where `allowed_tools` is, on every route and era; its rate limit is a
//! token bucket per identity on this replica (`rate`).
//!
//! Task ids are bound to the caller that created them: see `tasks`.
//!
//! The modules depend one way: `http`, `session`, `hosts`, `flights`,
//! `lists`, `caller`, `rate`, `tasks` and `oauth` (below `http` only) below `server` (the shared state, and `Via`: how
//! a request reaches its upstreams), then `inputs` (a 2026-07-28 server's input
//! requests asked of a 2025 client), `guard` and `forward`, then `aggregate` (and the cache
//! hints of merged lists), then `health`, `modern` (the 2026-07-28 clients) and
//! `rest`, then `dispatch` (requests by method; a second protocol era branches
//! there) and `serve`. Below the gateway, [`upstream`](crate::upstream) reaches
//! each server and [`protocol`](crate::protocol) knows the protocol's rules;
//! the gateway imports them, [`config`](crate::config) and
//! [`telemetry`](crate::telemetry), and the relay's `describe` of a failure.
//! The test `tests/rooms.rs` fails on an import circle.
//!
//! Responses are never buffered whole: an upstream's SSE stream passes through
//! event by event.

mod aggregate;
pub mod caller;
mod dispatch;
mod flights;
mod forward;
pub mod guard;
mod health;
mod hosts;
pub mod http;
mod inputs;
mod lists;
mod modern;
pub mod oauth;
mod rate;
mod rest;
mod serve;
mod server;
pub mod session;
mod tasks;

pub use aggregate::PARTIAL_META;
pub use caller::{Caller, Grants, Kind as IdentityKind, ToolGrant};
pub use hosts::AllowedHosts;
pub use lists::Lists;
pub use oauth::ResourceServer;
pub use serve::{Limits, serve, serve_metrics};
pub use server::{Gateway, Options, Server};
pub use session::Session;
