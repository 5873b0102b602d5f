//! The stdio front-end: newline-delimited JSON-RPC on stdin and stdout, as MCP
//! hosts speak to a local server. Logs go to stderr only.

use std::time::Duration;

use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower_sigv4::rmcp::HttpClientError;

use crate::relay::Relay;

/// Messages waiting for stdout before the relay waits for the host to read.
pub const OUTPUT_QUEUE: usize = 1024;

/// How long in-flight requests may finish after stdin closes or a signal.
const GRACE: Duration = Duration::from_secs(3);

/// Relay between this process's stdin/stdout and `relay` until stdin closes or
/// `shutdown` is cancelled (SIGINT, SIGTERM); then end the session.
pub async fn serve<C>(relay: Relay<C>, output: mpsc::Receiver<Value>, shutdown: CancellationToken)
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let writer_done = CancellationToken::new();
    let writer = tokio::spawn(write_lines(
        tokio::io::stdout(),
        output,
        writer_done.clone(),
    ));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            () = shutdown.cancelled() => {
                tracing::info!("signal received; ending the session");
                break;
            }
            line = lines.next_line() => line,
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => {
                tracing::info!("stdin closed; ending the session");
                break;
            }
            Err(e) => {
                tracing::error!("reading stdin failed: {e}; ending the session");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(message) => relay.handle(message).await,
            Err(e) => relay.parse_error(&e).await,
        }
    }
    relay.shutdown(GRACE).await;
    writer_done.cancel();
    let _ = writer.await;
}

/// Write each message as one line, until `done` and the queue is drained.
async fn write_lines(
    mut out: impl AsyncWrite + Unpin,
    mut messages: mpsc::Receiver<Value>,
    done: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            biased;
            message = messages.recv() => message,
            () = done.cancelled() => messages.try_recv().ok(),
        };
        let Some(message) = message else { break };
        let mut line = message.to_string();
        line.push('\n');
        if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
            tracing::warn!("stdout is closed; replies can no longer reach the host");
            break;
        }
    }
}
