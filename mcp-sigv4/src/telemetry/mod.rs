//! What an operator watches: the gateway's Prometheus [metrics](mod@metrics), served at
//! `/metrics` (behind the master key) or on an address of their own
//! (`gateway::serve_metrics`), OpenTelemetry [traces](mod@traces) over OTLP, and
//! the [audit trail](mod@audit) of tool calls and refusals.
//!
//! Label values are bounded, so that no client can grow the series without end:
//! server names come from the config, MCP methods from the specification's list
//! (anything else is `other`), tool names from what each server listed in
//! `tools/list` (anything else is `other`). No label or value ever holds a
//! secret, an argument or a session id.
//!
//! Beside the other rooms: any of them may count or trace, and telemetry imports
//! none of them.

pub mod audit;
pub mod metrics;
pub mod traces;

pub use metrics::{ListCacheOutcome, Metrics, Outcome, Route, metrics};
