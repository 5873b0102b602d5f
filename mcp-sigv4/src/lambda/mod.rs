//! `mcp-sigv4 lambda`: MCP tools as a Bedrock Agents action group, the
//! action group's Lambda function on the `lambda_runtime` crate.
//!
//! Bedrock Agents reaches tools only through Lambda-backed action groups.
//! [`ActionGroup`] answers each input event (both shapes AWS documents, see
//! [`event`]) by calling the MCP tool the function names, on the server it
//! belongs to:
//!
//! - **Names.** Function names are the tools' names, mapped to Bedrock's rule
//!   and prefixed with the server's name when there are several servers
//!   ([`names`]; `agent-schema` uses the same mapping).
//! - **Types.** Bedrock sends every value as a string; each is converted to the
//!   type the tool's `inputSchema` gives, and a value that does not convert is
//!   refused with a message the model can act on ([`params`]).
//! - **Outcomes.** A tool's `isError` and a refused value become
//!   `responseState: REPROMPT` (HTTP 400 for API-schema events), so the model
//!   can correct its call; a server that cannot be reached or fails the request
//!   becomes `FAILURE` (502), a call cut short by the deadline `FAILURE` (504),
//!   each with a short cause in the body; the full error goes to the log.
//! - **Deadline.** A call may take the smaller of the tool timeout and the
//!   invocation's remaining time (`Lambda-Runtime-Deadline-Ms`) less a margin;
//!   a call cut short closes the request's stream (the 2026-07-28 signal) and
//!   sends `notifications/cancelled` to a 2025 server.
//! - **Warm invocations** keep each server's session, credentials cache and
//!   connections; a session is opened on first use and opened again after a
//!   failure, and a session the server forgot (HTTP 404) is replaced by
//!   replaying its `initialize`, as the relay and the gateway do.
//! - **Size.** A body over the configured bound is cut, with a marker that says
//!   so ([`body`]).
//! - **Logs.** One line per invocation (agent id, action group, function,
//!   server, tool, outcome, duration), JSON with `--log-format json`; never an
//!   argument value, the user's input or a secret.
//!
//! [`agent_schema`] prints the action group's schema ([`schema`]) under the
//! same names, and checks a saved one for drift.
//!
//! It reaches servers through [`upstream`](crate::upstream)'s `Upstream`, as
//! the relay and the gateway do (`server/discover` first, the legacy
//! `initialize` session otherwise; signed by the same client), and imports
//! [`config`](crate::config), [`upstream`](crate::upstream) and
//! [`protocol`](crate::protocol); nothing imports it.

pub mod agent_schema;
pub mod body;
pub mod cli;
pub mod event;
pub mod input_schema;
pub mod names;
pub mod params;
pub mod schema;
mod servers;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use rmcp::model::CallToolResult;

use crate::config::ServerConfig;
use event::{AgentEvent, Call, Outcome};
use servers::{Failure, Session, Slot};

/// The action group's function: its servers and limits.
pub struct ActionGroup {
    slots: Vec<Slot>,
    prefixed: bool,
    tool_timeout: Duration,
    deadline_margin: Duration,
    max_body: usize,
}

impl fmt::Debug for ActionGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionGroup")
            .field(
                "servers",
                &self
                    .slots
                    .iter()
                    .map(|s| &s.config.name)
                    .collect::<Vec<_>>(),
            )
            .field("tool_timeout", &self.tool_timeout)
            .field("deadline_margin", &self.deadline_margin)
            .field("max_body", &self.max_body)
            .finish()
    }
}

/// The event could not be read as a Bedrock Agents event at all: there is no
/// function to answer for, so the invocation fails (Lambda reports it to
/// Bedrock as a function error).
#[derive(Debug)]
pub struct EventError(String);

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EventError {}

impl From<EventError> for lambda_runtime::Diagnostic {
    fn from(error: EventError) -> Self {
        Self {
            error_type: "InvalidEvent".to_owned(),
            error_message: error.0,
        }
    }
}

/// What one invocation did, for its log line.
struct Report<'a> {
    server: &'a str,
    tool: String,
    outcome: Outcome,
    /// Why it failed, in words without argument values.
    cause: String,
}

impl ActionGroup {
    /// The default time a tool call may take.
    pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default time kept back from the invocation's deadline, to answer.
    pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_millis(500);

    /// The function for `servers`; with several, function names carry the
    /// server's name.
    pub fn new(servers: Vec<ServerConfig>) -> Self {
        let prefixed = servers.len() > 1;
        Self {
            slots: servers
                .into_iter()
                .map(|s| Slot::new(s, prefixed))
                .collect(),
            prefixed,
            tool_timeout: Self::DEFAULT_TOOL_TIMEOUT,
            deadline_margin: Self::DEFAULT_DEADLINE_MARGIN,
            max_body: body::DEFAULT_MAX_BODY,
        }
    }

    /// Abandon a tool call after `timeout` (or earlier, at the deadline).
    pub fn tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = timeout;
        self
    }

    /// Keep `margin` of the invocation's remaining time to answer in.
    pub fn deadline_margin(mut self, margin: Duration) -> Self {
        self.deadline_margin = margin;
        self
    }

    /// Cut a response body over `bytes` (at most [`body::MAX_BODY_CEILING`]).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes.min(body::MAX_BODY_CEILING);
        self
    }

    /// Answer one input event, with `remaining` time before the invocation's
    /// deadline (`None`: no deadline but the tool timeout).
    pub async fn handle(
        &self,
        payload: Value,
        remaining: Option<Duration>,
    ) -> Result<Value, EventError> {
        let started = Instant::now();
        let event = AgentEvent::decode(payload).map_err(EventError)?;
        let call = event.call().map_err(EventError)?;
        let budget = remaining
            .map(|r| r.saturating_sub(self.deadline_margin))
            .map_or(self.tool_timeout, |r| r.min(self.tool_timeout));
        let (outcome, text, report) = match tokio::time::timeout(
            budget,
            self.run(&event, call.function()),
        )
        .await
        {
            Ok(done) => done,
            Err(_) => {
                let text = format!(
                    "the tool did not answer within {:.1}s (the smaller of the tool timeout and the time left before the Lambda deadline) and was cancelled",
                    budget.as_secs_f64()
                );
                let report = Report {
                    server: "-",
                    tool: call.function().to_owned(),
                    outcome: Outcome::TimedOut,
                    cause: format!("no answer within {}ms", budget.as_millis()),
                };
                (Outcome::TimedOut, text, report)
            }
        };
        log(&event, &call, &report, started.elapsed());
        Ok(event::response(
            &event,
            &call,
            outcome,
            body::bounded(text, self.max_body),
        ))
    }

    /// Resolve, convert, call: the outcome, the body text and the log report.
    async fn run<'a>(
        &'a self,
        event: &AgentEvent,
        function: &str,
    ) -> (Outcome, String, Report<'a>) {
        let (slot, session, tool) = match self.resolve(function).await {
            Ok(found) => found,
            Err((outcome, text, report)) => return (outcome, text, report),
        };
        let server = slot.config.name.as_str();
        let tool_name = tool.name.to_string();
        let report = |outcome, cause: &str| Report {
            server,
            tool: tool_name.clone(),
            outcome,
            cause: cause.to_owned(),
        };
        let arguments = match params::arguments(&event.all_parameters(), &tool.input_schema) {
            Ok(arguments) => arguments,
            Err(refusal) => {
                return (
                    Outcome::Reprompt,
                    refusal,
                    report(Outcome::Reprompt, "a parameter value did not convert"),
                );
            }
        };
        match servers::call_tool(&session, &tool_name, Value::Object(arguments)).await {
            Ok(reply) => match reply
                .get("result")
                .map(|r| serde_json::from_value::<CallToolResult>(r.clone()))
            {
                Some(Ok(result)) if result.is_error == Some(true) => (
                    Outcome::Reprompt,
                    body::text_of(&result),
                    report(Outcome::Reprompt, "the tool reported isError"),
                ),
                Some(Ok(result)) => (Outcome::Ok, body::text_of(&result), report(Outcome::Ok, "")),
                Some(Err(e)) => {
                    slot.forget(&session).await;
                    (
                        Outcome::Unreachable,
                        unreachable(server, None),
                        report(
                            Outcome::Unreachable,
                            &format!("the server's tools/call result is not one: {e}"),
                        ),
                    )
                }
                None => match invalid_params(&reply) {
                    Some(message) => (
                        Outcome::Reprompt,
                        format!("the tool refused its arguments: {message}"),
                        report(
                            Outcome::Reprompt,
                            "the server refused the arguments (-32602)",
                        ),
                    ),
                    None => {
                        slot.forget(&session).await;
                        let error = reply.get("error").unwrap_or(&reply);
                        (
                            Outcome::Unreachable,
                            unreachable(server, None),
                            report(
                                Outcome::Unreachable,
                                &format!("the server answered tools/call with an error: {error}"),
                            ),
                        )
                    }
                },
            },
            Err(e) => {
                slot.forget(&session).await;
                (
                    Outcome::Unreachable,
                    unreachable(server, Some(&e)),
                    report(Outcome::Unreachable, &e.to_string()),
                )
            }
        }
    }

    /// The server and tool `function` names, opening the server's session on
    /// first use and listing its tools again when the name is not among them.
    #[allow(clippy::type_complexity)]
    async fn resolve(
        &self,
        function: &str,
    ) -> Result<(&Slot, Arc<Session>, rmcp::model::Tool), (Outcome, String, Report<'_>)> {
        for slot in self.slots.iter().filter(|s| s.may_have(function)) {
            for refresh in [false, true] {
                let session = match slot.session(refresh).await {
                    Ok(session) => session,
                    Err(e) => {
                        let server = slot.config.name.as_str();
                        return Err((
                            Outcome::Unreachable,
                            unreachable(server, Some(&e)),
                            Report {
                                server,
                                tool: function.to_owned(),
                                outcome: Outcome::Unreachable,
                                cause: e.to_string(),
                            },
                        ));
                    }
                };
                if let Some(tool) = slot.find(&session, function, self.prefixed) {
                    let tool = tool.clone();
                    return Ok((slot, session, tool));
                }
            }
        }
        Err((
            Outcome::Unknown,
            format!(
                "`{function}` is not a tool of the configured MCP servers; regenerate the action group's schema (mcp-sigv4 agent-schema)"
            ),
            Report {
                server: "-",
                tool: function.to_owned(),
                outcome: Outcome::Unknown,
                cause: "no tool maps to this function name".to_owned(),
            },
        ))
    }
}

/// The message of a JSON-RPC `-32602` (invalid params) answer: the model can
/// correct its call.
fn invalid_params(reply: &Value) -> Option<String> {
    let error = reply.get("error")?;
    (error.get("code").and_then(Value::as_i64) == Some(crate::protocol::jsonrpc::INVALID_PARAMS))
        .then(|| {
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
}

/// The short cause Bedrock is told when `server` failed: the HTTP status it
/// refused with and what to check, or that it could not be reached. The full
/// error goes to the log.
fn unreachable(server: &str, failure: Option<&Failure>) -> String {
    match failure.and_then(refused_status) {
        Some(status)
            if status == http::StatusCode::FORBIDDEN
                || status == http::StatusCode::UNAUTHORIZED =>
        {
            format!(
                "the MCP server `{server}` refused the request (HTTP {}): check that the function's execution role may invoke it",
                status.as_u16()
            )
        }
        Some(status) => format!(
            "the MCP server `{server}` answered HTTP {}; the Lambda's log has the details",
            status.as_u16()
        ),
        None => format!(
            "the MCP server `{server}` could not be reached or failed the request; the Lambda's log has the cause"
        ),
    }
}

/// The HTTP status the server refused with, if it answered with one.
fn refused_status(failure: &Failure) -> Option<http::StatusCode> {
    match failure {
        Failure::Upstream(error) => tower_sigv4::rmcp::HttpClientError::find_in(error)?.status(),
        Failure::Setup(_) => None,
    }
}

/// The invocation's one log line.
fn log(event: &AgentEvent, call: &Call, report: &Report<'_>, elapsed: Duration) {
    let duration_ms = elapsed.as_millis() as u64;
    let function = call.function();
    if report.outcome == Outcome::Ok {
        tracing::info!(
            agent_id = %event.agent.id,
            action_group = %event.action_group,
            function,
            server = report.server,
            tool = %report.tool,
            outcome = report.outcome.as_str(),
            duration_ms,
            "invocation"
        );
    } else {
        tracing::warn!(
            agent_id = %event.agent.id,
            action_group = %event.action_group,
            function,
            server = report.server,
            tool = %report.tool,
            outcome = report.outcome.as_str(),
            duration_ms,
            cause = %report.cause,
            "invocation"
        );
    }
}
