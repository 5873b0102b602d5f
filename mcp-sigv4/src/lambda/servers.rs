//! The MCP servers of an action group: one session each, opened on first use
//! and kept across warm invocations with its credentials cache and
//! connections, and dropped after a failure so the next invocation opens a new
//! one (a restarted server, or one that forgot the session).

use std::sync::Arc;

use rmcp::model::Tool;
use tokio::sync::Mutex;

use super::names;
use crate::ask::{McpError, RmcpServer, ToolServer};
use crate::config::ServerConfig;

/// One configured server and its session, once opened.
pub(crate) struct Slot {
    pub(crate) config: ServerConfig,
    /// What its function names start with (empty with one server).
    prefix: String,
    session: Mutex<Option<Arc<Session>>>,
}

/// An open session and the tools it listed (after `allowed_tools` and
/// `disallowed_tools`).
pub(crate) struct Session {
    pub(crate) server: RmcpServer,
    pub(crate) tools: Vec<Tool>,
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
            session: Mutex::new(None),
        }
    }

    /// Whether `function` can be one of this server's tools.
    pub(crate) fn may_have(&self, function: &str) -> bool {
        function.starts_with(&self.prefix)
    }

    /// The open session, or a new one: connected, initialized (or discovered,
    /// for a 2026-07-28 server) and its tools listed.
    pub(crate) async fn session(&self, refresh: bool) -> Result<Arc<Session>, McpError> {
        let mut slot = self.session.lock().await;
        if let Some(session) = slot.as_ref().filter(|_| !refresh) {
            return Ok(session.clone());
        }
        let server = match slot.take() {
            Some(old) if refresh => match Arc::try_unwrap(old) {
                Ok(old) => old.server,
                // An invocation still holds it: open a new session.
                Err(_) => RmcpServer::connect(&self.config, |b| b).await?,
            },
            _ => RmcpServer::connect(&self.config, |b| b).await?,
        };
        let tools = server
            .list_tools()
            .await?
            .into_iter()
            .filter(|t| self.config.tools.allows(&t.name))
            .collect();
        let session = Arc::new(Session { server, tools });
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
