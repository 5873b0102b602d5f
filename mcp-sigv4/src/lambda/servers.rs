//! The MCP servers of an action group: one session each, opened on first use
//! and kept across warm invocations with its credentials cache and
//! connections, and dropped after a failure so the next invocation opens a new
//! one (a restarted server). A session the server forgot (HTTP 404) is
//! replaced by the [`Upstream`] itself, which replays its `initialize`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::Tool;
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tower_sigv4::rmcp::{HttpClientError, SignedHttpService, TowerHttpClient};

use super::names;
use crate::config::ServerConfig;
use crate::protocol::era::{Envelope, Era};
use crate::upstream::{Upstream, UpstreamError, own_request};

/// The HTTP client of one server: signed, with its credentials cache and
/// connection pool.
pub(crate) type Client = TowerHttpClient<SignedHttpService>;

/// Why a server could not be used.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Its client could not be built (the configuration, the credentials).
    Setup(String),
    /// An exchange with it failed.
    Upstream(UpstreamError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(message) => f.write_str(message),
            Self::Upstream(e) => f.write_str(&crate::advice::mcp_failure(e)),
        }
    }
}

impl From<UpstreamError> for Failure {
    fn from(error: UpstreamError) -> Self {
        Self::Upstream(error)
    }
}

/// One configured server, its client once built, and its session once opened.
pub(crate) struct Slot {
    pub(crate) config: ServerConfig,
    /// What its function names start with (empty with one server).
    prefix: String,
    client: Mutex<Option<Client>>,
    session: Mutex<Option<Arc<Session>>>,
}

/// An open session and the tools it listed (after `allowed_tools` and
/// `disallowed_tools`).
pub(crate) struct Session {
    pub(crate) upstream: Arc<Upstream<Client>>,
    pub(crate) tools: Vec<Tool>,
}

/// The envelope of the requests of the command `purpose` (`lambda`,
/// `agent-schema`): no capability, the command named.
fn envelope(purpose: &str) -> Envelope {
    Envelope {
        capabilities: json!({}),
        client_info: Some(
            json!({"name": format!("mcp-sigv4 {purpose}"), "version": env!("CARGO_PKG_VERSION")}),
        ),
    }
}

/// Open a session with `config` through `client`: `server/discover` first, a
/// legacy `initialize` session when the server shows itself 2025-era; then
/// its tools, every page, after `allowed_tools` and `disallowed_tools`.
/// `purpose` names the command in the ids of its requests.
pub(crate) async fn open(
    config: &ServerConfig,
    client: Client,
    purpose: &str,
) -> Result<Session, Failure> {
    let headers = config
        .headers()
        .map_err(|e| Failure::Setup(crate::advice::library(&e)))?;
    let upstream = Arc::new(Upstream::new(client, config.url.as_str(), headers));
    upstream.probe(&envelope(purpose)).await?;
    let tools = listed(config, &upstream, purpose).await?;
    Ok(Session { upstream, tools })
}

/// The tools `upstream` lists now, as MCP tools, after `allowed_tools` and
/// `disallowed_tools`.
async fn listed(
    config: &ServerConfig,
    upstream: &Upstream<Client>,
    purpose: &str,
) -> Result<Vec<Tool>, Failure> {
    let mut tools = Vec::new();
    for tool in upstream.list_tools(purpose, &envelope(purpose)).await? {
        let tool: Tool = serde_json::from_value(tool).map_err(|e| {
            UpstreamError::UnexpectedServerResponse(
                format!("tools/list: a tool that is not an MCP tool: {e}").into(),
            )
        })?;
        if config.tools.allows(&tool.name) {
            tools.push(tool);
        }
    }
    Ok(tools)
}

impl Session {
    /// End a legacy session (best effort, at most 5 s: the server forgets an
    /// abandoned one by itself).
    pub(crate) async fn close(&self) {
        if self.upstream.era() == Some(Era::Legacy) {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.upstream.end()).await;
        }
    }
}

/// `tools/call` of `tool` with `arguments` in `session`: the server's reply,
/// a JSON-RPC error included. A call dropped before its reply (the
/// invocation's deadline came first) closes its stream, the 2026-07-28
/// signal; a 2025 server is also sent `notifications/cancelled`.
pub(crate) async fn call_tool(
    session: &Arc<Session>,
    tool: &str,
    arguments: Value,
) -> Result<Value, Failure> {
    let request = own_request(
        "lambda",
        &envelope("lambda"),
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    );
    let mut pending = Pending {
        armed: Some((session.upstream.clone(), request["id"].clone())),
    };
    let reply = session.upstream.call(&request).await;
    pending.armed = None;
    Ok(reply?)
}

/// A `tools/call` not answered yet. Dropped while armed, it tells a 2025
/// server to stop, from a task of its own.
struct Pending<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Send + Sync + 'static,
{
    armed: Option<(Arc<Upstream<C>>, Value)>,
}

impl<C> Drop for Pending<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Send + Sync + 'static,
{
    fn drop(&mut self) {
        let Some((upstream, id)) = self.armed.take() else {
            return;
        };
        if upstream.era() != Some(Era::Legacy) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(cancel(upstream, id));
        }
    }
}

/// Tell a 2025 server that the call `id` is no longer wanted (at most 5 s).
async fn cancel<C>(upstream: Arc<Upstream<C>>, id: Value)
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let reason = "the Lambda invocation's deadline came first";
    match tokio::time::timeout(Duration::from_secs(5), upstream.cancel(&id, reason)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(
            "cancelling a tool call upstream failed: {}",
            crate::advice::mcp_failure(&e)
        ),
        Err(_) => tracing::warn!("cancelling a tool call upstream got no answer"),
    }
}

impl Slot {
    pub(crate) fn new(config: ServerConfig, prefixed: bool) -> Self {
        let prefix = if prefixed {
            names::server_prefix(&config.name)
        } else {
            String::new()
        };
        Self {
            config,
            prefix,
            client: Mutex::new(None),
            session: Mutex::new(None),
        }
    }

    /// Whether `function` can be one of this server's tools.
    pub(crate) fn may_have(&self, function: &str) -> bool {
        function.starts_with(&self.prefix)
    }

    /// The server's client, built on first use and kept (its credentials
    /// cache and connections with it).
    async fn client(&self) -> Result<Client, Failure> {
        let mut client = self.client.lock().await;
        if let Some(client) = client.as_ref() {
            return Ok(client.clone());
        }
        let built = self
            .config
            .http_client_with(|builder| builder)
            .map_err(|e| Failure::Setup(crate::advice::library(&e)))?;
        *client = Some(built.clone());
        Ok(built)
    }

    /// The open session, or a new one: discovered (or initialized, for a
    /// 2025 server) and its tools listed. With `refresh`, the tools are listed
    /// again.
    pub(crate) async fn session(&self, refresh: bool) -> Result<Arc<Session>, Failure> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref().filter(|_| !refresh) {
            return Ok(session.clone());
        }
        let session = match slot.take() {
            Some(old) if refresh => match Arc::try_unwrap(old) {
                Ok(old) => Session {
                    tools: listed(&self.config, &old.upstream, "lambda").await?,
                    upstream: old.upstream,
                },
                // An invocation still holds it: open a new session.
                Err(_) => open(&self.config, self.client().await?, "lambda").await?,
            },
            _ => open(&self.config, self.client().await?, "lambda").await?,
        };
        let session = Arc::new(session);
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Forget `session` after a failure, unless another invocation already
    /// replaced it.
    pub(crate) async fn forget(&self, session: &Arc<Session>) {
        let mut slot = self.session.lock().await;
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, session)) {
            *slot = None;
        }
    }

    /// The tool `function` names on this server, if it lists one.
    pub(crate) fn find<'a>(
        &self,
        session: &'a Session,
        function: &str,
        prefixed: bool,
    ) -> Option<&'a Tool> {
        session
            .tools
            .iter()
            .find(|t| names::function_name(&self.config.name, &t.name, prefixed) == function)
    }
}
