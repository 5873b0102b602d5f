//! The MCP side of the loop: a small trait, and its rmcp implementation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, ProtocolVersion, Tool};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use tower_sigv4::BoxError;
use tower_sigv4::unstable::ErrorChain;

use crate::config::ServerConfig;

/// A boxed, sendable future, as [`ToolServer`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An MCP server as the loop sees it: a name, its tools, and a way to call one.
///
/// [`RmcpServer`] is the implementation the command uses; tests and embedders
/// can provide their own.
pub trait ToolServer: Send + Sync {
    /// The name used in tool activity lines, errors and logs.
    fn name(&self) -> &str;

    /// `tools/list`, every page.
    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<Tool>, McpError>>;

    /// `tools/call` of the tool named `name` (the server's own name for it).
    fn call_tool(
        &self,
        name: String,
        arguments: Option<JsonObject>,
    ) -> BoxFuture<'_, Result<CallToolResult, McpError>>;
}

/// An MCP request that failed: the transport, the session or the protocol (a
/// tool that ran and failed is a [`CallToolResult`] with `isError`, not this).
#[derive(Debug)]
pub struct McpError(BoxError);

impl McpError {
    /// Wrap the cause.
    pub fn new(cause: impl Into<BoxError>) -> Self {
        Self(cause.into())
    }

    /// The cause.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&without_type_names(&ErrorChain(&*self.0).to_string()))
    }
}

/// rmcp's transport errors name the transport's full Rust type
/// (`Transport [rmcp::transport::worker::WorkerTransport<...>] error: ...`), which
/// says nothing to a user: keep the words around it.
fn without_type_names(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    // Bounded: each pass consumes at least one bracket.
    while let Some(start) = rest.find(" [") {
        let after = &rest[start + 2..];
        let mut depth = 1usize;
        let end = after.char_indices().find_map(|(i, c)| {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(i)
        });
        let Some(end) = end else { break };
        let inside = &after[..end];
        out.push_str(&rest[..start]);
        if !inside.contains("::") {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

impl std::error::Error for McpError {}

/// A connected rmcp client session to one MCP server.
pub struct RmcpServer {
    name: String,
    client: RunningService<RoleClient, ()>,
}

impl RmcpServer {
    /// Connect to `server` (signed for `aws_sigv4`, with its header otherwise) in
    /// rmcp's auto mode: `server/discover` first, and MCP 2026-07-28 where the
    /// server speaks it; the legacy `initialize` session otherwise. `configure`
    /// can set timeouts and retries.
    pub async fn connect(
        server: &ServerConfig,
        configure: impl FnOnce(
            tower_sigv4::rmcp::TransportBuilder,
        ) -> tower_sigv4::rmcp::TransportBuilder,
    ) -> Result<Self, McpError> {
        let transport = server.transport_with(configure).map_err(McpError::new)?;
        let lifecycle = ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        };
        let client = ().serve_with_lifecycle(transport, lifecycle).await.map_err(McpError::new)?;
        Ok(Self {
            name: server.name.clone(),
            client,
        })
    }

    /// End the session (the transport sends `DELETE` when the server has one).
    pub async fn close(mut self) {
        let _ = self
            .client
            .close_with_timeout(std::time::Duration::from_secs(5))
            .await;
    }
}

impl fmt::Debug for RmcpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RmcpServer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ToolServer for RmcpServer {
    fn name(&self) -> &str {
        &self.name
    }

    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<Tool>, McpError>> {
        Box::pin(async move { self.client.list_all_tools().await.map_err(McpError::new) })
    }

    fn call_tool(
        &self,
        name: String,
        arguments: Option<JsonObject>,
    ) -> BoxFuture<'_, Result<CallToolResult, McpError>> {
        Box::pin(async move {
            let mut params = CallToolRequestParams::new(name);
            params.arguments = arguments;
            self.client.call_tool(params).await.map_err(McpError::new)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::without_type_names;

    #[test]
    fn rust_type_names_are_left_out() {
        assert_eq!(
            without_type_names("Transport send error: Transport [a::B<c::D<[u8]>>] error: refused"),
            "Transport send error: Transport error: refused"
        );
        assert_eq!(without_type_names("a [b] c"), "a [b] c");
        assert_eq!(without_type_names("a [unclosed"), "a [unclosed");
    }
}
