//! The Bedrock Converse tool loop over MCP servers, signed end to end.
//!
//! [`Ask`] lists the tools of every MCP server, offers them to a Bedrock model as
//! `toolSpec`s, sends each `toolUse` block to its server's `tools/call`, returns
//! the `toolResult` blocks and loops until the model stops. Every MCP request goes
//! through `tower-sigv4` (signed with SigV4 or authenticated with a header, see
//! [`crate::config`]); every Bedrock call goes through `aws-sdk-bedrockruntime`.
//!
//! The usual traps of this loop are handled:
//!
//! - **Names.** A tool name that breaks Bedrock's rules (`^[a-zA-Z0-9_-]{1,64}$`)
//!   or that several servers share gets a valid, unique name, mapped back on call.
//! - **Concurrency.** All `toolUse` blocks of a turn run at once; results are
//!   matched by `toolUseId`, whatever order they finish in.
//! - **Failures stay visible.** `isError` becomes `status: "error"`; a tool that
//!   exceeds the tool timeout and an MCP request that fails become error results
//!   that say so and name the server, and the loop goes on.
//! - **Stop reasons.** `max_tokens`, `guardrail_intervened`, `content_filtered`,
//!   `model_context_window_exceeded` and the turn limit each end the loop with
//!   their own [`Stop`], never as a silently truncated answer.
//! - **Sources.** An [`AskError`] says whether Bedrock or an MCP server failed, in
//!   its message and in the `source` field of its `tracing` event.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mcp_sigv4::ask::{Ask, RmcpServer, Stop};
//! use mcp_sigv4::config::{Auth, CredentialsSource, ServerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // The AWS MCP Server, signed with SigV4 from the default credential chain.
//! let aws_mcp = ServerConfig::new(
//!     "aws-mcp",
//!     "https://aws-mcp.us-east-1.api.aws/mcp",
//!     Auth::SigV4 {
//!         region: "us-east-1".into(),
//!         service: "aws-mcp".into(),
//!         credentials: CredentialsSource::DefaultChain { profile: None },
//!     },
//! );
//! let server = RmcpServer::connect(&aws_mcp, |builder| builder).await?;
//!
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let bedrock = aws_sdk_bedrockruntime::Client::new(&sdk);
//! let answer = Ask::new(bedrock, "us.anthropic.claude-sonnet-4-20250514-v1:0")
//!     .server(Arc::new(server))
//!     .system("Answer briefly.")
//!     .max_turns(8)
//!     .tool_timeout(Duration::from_secs(30))
//!     .run("Which regions offer Amazon Bedrock AgentCore?")
//!     .await?;
//! match answer.stop {
//!     Stop::EndTurn | Stop::StopSequence => println!("{}", answer.text),
//!     other => eprintln!("stopped early: {other}"),
//! }
//! # Ok(()) }
//! ```
//!
//! An [`Observer`] sees the text as it streams ([`Ask::stream`]) and one
//! [`ToolCallReport`] per tool call; the `mcp-sigv4 ask` command prints them.
//!
//! `ask` sits beside the relay and the gateway: it reaches each MCP server
//! through its rmcp transport from [`upstream`](crate::upstream) (the methods of
//! [`ServerConfig`](crate::config::ServerConfig)), and imports
//! [`config`](crate::config), [`telemetry`](crate::telemetry),
//! [`logging`](crate::logging) and [`aws_profile`](crate::aws_profile); nothing
//! below it imports it.

pub mod cli;
mod converse;
mod dispatch;
mod server;
mod tools;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, StopReason, SystemContentBlock,
};

pub use dispatch::{CallStatus, ToolCallReport};
pub use server::{BoxFuture, McpError, RmcpServer, ToolServer};

use converse::{Request, text_of, tool_uses};
use tools::ToolCatalog;
use tracing::Instrument;

/// Sees the loop as it runs. Both methods do nothing by default.
pub trait Observer: Send + Sync {
    /// Text from the model as it streams (only with [`Ask::stream`]).
    fn text(&self, delta: &str) {
        let _ = delta;
    }

    /// A tool call that has ended.
    fn tool_call(&self, report: &ToolCallReport) {
        let _ = report;
    }
}

impl Observer for () {}

/// The loop: a Bedrock model, the MCP servers whose tools it may use, and limits.
#[derive(Clone)]
pub struct Ask {
    client: Client,
    model: String,
    system: Vec<SystemContentBlock>,
    servers: Vec<Arc<dyn ToolServer>>,
    max_turns: u32,
    tool_timeout: Duration,
    stream: bool,
    observer: Arc<dyn Observer>,
}

impl fmt::Debug for Ask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ask")
            .field("model", &self.model)
            .field(
                "servers",
                &self.servers.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("max_turns", &self.max_turns)
            .field("tool_timeout", &self.tool_timeout)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Ask {
    /// The default limit on Converse calls.
    pub const DEFAULT_MAX_TURNS: u32 = 10;
    /// The default time a tool call may take.
    pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

    /// A loop on `model` (a model id or an inference profile) through `client`.
    pub fn new(client: Client, model: impl Into<String>) -> Self {
        Self {
            client,
            model: model.into(),
            system: Vec::new(),
            servers: Vec::new(),
            max_turns: Self::DEFAULT_MAX_TURNS,
            tool_timeout: Self::DEFAULT_TOOL_TIMEOUT,
            stream: false,
            observer: Arc::new(()),
        }
    }

    /// Offer the tools of `server` too.
    pub fn server(mut self, server: Arc<dyn ToolServer>) -> Self {
        self.servers.push(server);
        self
    }

    /// A system prompt.
    pub fn system(mut self, text: impl Into<String>) -> Self {
        self.system.push(SystemContentBlock::Text(text.into()));
        self
    }

    /// At most `turns` Converse calls (at least one).
    pub fn max_turns(mut self, turns: u32) -> Self {
        self.max_turns = turns.max(1);
        self
    }

    /// Abandon a tool call after `timeout`; the model gets an error result.
    pub fn tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = timeout;
        self
    }

    /// Use `ConverseStream`, handing text to the observer as it arrives.
    pub fn stream(mut self, enabled: bool) -> Self {
        self.stream = enabled;
        self
    }

    /// Report streamed text and tool calls to `observer`.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Ask `question` and run the loop until the model stops or the turn limit.
    ///
    /// Fails when Bedrock fails or an MCP server cannot list its tools; a failed
    /// tool call is an error result for the model, not a failure of the loop.
    pub async fn run(&self, question: &str) -> Result<Answer, AskError> {
        let span = crate::telemetry::traces::ask_span(&self.model);
        let answer = self.run_turns(question).instrument(span.clone()).await;
        if let Ok(answer) = &answer {
            span.record("turns", answer.turns);
        }
        answer
    }

    async fn run_turns(&self, question: &str) -> Result<Answer, AskError> {
        let catalog = Arc::new(self.catalog().await?);
        let tool_config = catalog.tool_config().map_err(AskError::bedrock)?;
        let request = Request {
            client: &self.client,
            model: &self.model,
            system: &self.system,
            tool_config: tool_config.as_ref(),
        };
        let mut messages = vec![message(
            ConversationRole::User,
            vec![ContentBlock::Text(question.to_owned())],
        )?];
        let mut turns = 0;
        // Bounded by `max_turns`.
        loop {
            turns += 1;
            let turn = if self.stream {
                request
                    .converse_stream(&messages, self.observer.as_ref())
                    .await?
            } else {
                request.converse(&messages).await?
            };
            let text = text_of(&turn.message);
            let uses = tool_uses(&turn.message);
            messages.push(turn.message);
            let stop = match turn.stop_reason {
                StopReason::ToolUse if uses.is_empty() => {
                    return Err(AskError::bedrock(format!(
                        "model `{}` stopped for tool_use without a toolUse block",
                        self.model
                    )));
                }
                StopReason::ToolUse if turns >= self.max_turns => Stop::MaxTurns(turns),
                StopReason::ToolUse => {
                    let results =
                        dispatch::dispatch(&catalog, uses, self.tool_timeout, &self.observer).await;
                    messages.push(message(ConversationRole::User, results)?);
                    continue;
                }
                StopReason::EndTurn => Stop::EndTurn,
                StopReason::StopSequence => Stop::StopSequence,
                StopReason::MaxTokens => Stop::MaxTokens,
                StopReason::GuardrailIntervened => Stop::GuardrailIntervened,
                StopReason::ContentFiltered => Stop::ContentFiltered,
                StopReason::ModelContextWindowExceeded => Stop::ContextWindowExceeded,
                other => Stop::Other(other.as_str().to_owned()),
            };
            return Ok(Answer {
                text,
                stop,
                turns,
                messages,
            });
        }
    }

    /// Every server's tools, listed concurrently.
    async fn catalog(&self) -> Result<ToolCatalog, AskError> {
        let listings = self.servers.iter().map(|server| async move {
            match server.list_tools().await {
                Ok(tools) => Ok((server.clone(), tools)),
                Err(e) => {
                    tracing::error!(source = "mcp", server = %server.name(), "tools/list failed: {e}");
                    Err(AskError::mcp(
                        server.name(),
                        format!("listing its tools failed: {e}"),
                    ))
                }
            }
        });
        let listed = futures_util::future::try_join_all(listings).await?;
        Ok(ToolCatalog::new(listed))
    }
}

fn message(role: ConversationRole, content: Vec<ContentBlock>) -> Result<Message, AskError> {
    Message::builder()
        .role(role)
        .set_content(Some(content))
        .build()
        .map_err(|e| AskError::bedrock(format!("a message could not be built: {e}")))
}

/// How the loop ended, and the model's last text.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Answer {
    /// The text of the model's last message.
    pub text: String,
    /// Why the loop ended.
    pub stop: Stop,
    /// How many Converse calls were made.
    pub turns: u32,
    /// The whole conversation, the question first.
    pub messages: Vec<Message>,
}

/// Why the loop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// `end_turn`: the model finished its answer.
    EndTurn,
    /// `stop_sequence`: the model produced a stop sequence.
    StopSequence,
    /// `max_tokens`: the answer was cut at the output token limit.
    MaxTokens,
    /// `guardrail_intervened`: a Bedrock guardrail stepped in.
    GuardrailIntervened,
    /// `content_filtered`: content filters removed the answer.
    ContentFiltered,
    /// `model_context_window_exceeded`: the conversation no longer fits.
    ContextWindowExceeded,
    /// The turn limit was reached while the model still wanted tools.
    MaxTurns(u32),
    /// Another stop reason, e.g. `malformed_tool_use`.
    Other(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::EndTurn => f.write_str("end_turn"),
            Stop::StopSequence => f.write_str("stop_sequence"),
            Stop::MaxTokens => f.write_str("max_tokens"),
            Stop::GuardrailIntervened => f.write_str("guardrail_intervened"),
            Stop::ContentFiltered => f.write_str("content_filtered"),
            Stop::ContextWindowExceeded => f.write_str("model_context_window_exceeded"),
            Stop::MaxTurns(turns) => write!(f, "max turns ({turns})"),
            Stop::Other(reason) => f.write_str(reason),
        }
    }
}

/// Where a failure came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Bedrock: the SDK call failed or its reply could not be used.
    Bedrock,
    /// The MCP server of this name.
    Mcp(String),
}

/// The loop could not go on: Bedrock failed, or an MCP server could not list its
/// tools.
#[derive(Clone, Debug)]
pub struct AskError {
    origin: Origin,
    message: String,
}

impl AskError {
    fn bedrock(message: impl Into<String>) -> Self {
        Self {
            origin: Origin::Bedrock,
            message: message.into(),
        }
    }

    fn mcp(server: &str, message: impl Into<String>) -> Self {
        Self {
            origin: Origin::Mcp(server.to_owned()),
            message: message.into(),
        }
    }

    /// Where the failure came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Bedrock => write!(f, "Bedrock: {}", self.message),
            Origin::Mcp(server) => write!(f, "MCP server `{server}`: {}", self.message),
        }
    }
}

impl std::error::Error for AskError {}
