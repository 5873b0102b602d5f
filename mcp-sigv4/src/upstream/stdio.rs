//! `transport: stdio`: the server as a child process, behind the same HTTP
//! service every other server has, so that the gateway reaches it like any
//! streamable-HTTP server.
//!
//! One process per server, shared by every client: requests are written to
//! its stdin with ids of the bridge's own (so that two clients' ids never
//! collide) and answered in any order, so a slow call blocks no other. Its
//! first `initialize` is the handshake; later ones are answered from it, and a
//! restarted process gets it replayed. A process that dies is started again
//! with backoff (100 ms doubling to 30 s); its pending requests get an error.
//! It inherits only the environment the MCP SDKs give stdio servers (`HOME`,
//! `PATH`, `USER`...) plus `env`. Its stderr goes to the log with the server's
//! name. When the gateway stops, the process is killed with it.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};
use tower::util::BoxCloneSyncService;
use tower_sigv4::BoxError;
use tower_sigv4::rmcp::SignedHttpService;

use super::OnNotification;
use super::answer::{Answer, respond};
use crate::config::StdioCommand;

/// The variables a stdio server inherits, as the MCP SDKs pass them.
const INHERITED: [&str; 7] = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "TMPDIR"];
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A process that ran this long before dying is restarted without delay.
const STABLE: Duration = Duration::from_secs(30);
/// Messages waiting for the process.
const QUEUE: usize = 256;

type Job = (Value, Option<oneshot::Sender<Value>>);

/// The HTTP service of a stdio server named `server`: its process starts now.
pub(super) fn service(
    server: &str,
    command: &StdioCommand,
    notify: OnNotification,
) -> SignedHttpService {
    let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
    tokio::spawn(supervise(server.to_owned(), command.clone(), queue, notify));
    BoxCloneSyncService::new(tower::service_fn(move |request: Request<Full<Bytes>>| {
        answer(jobs.clone(), request)
    }))
}

async fn answer(
    jobs: mpsc::Sender<Job>,
    request: Request<Full<Bytes>>,
) -> Result<Answer, BoxError> {
    match *request.method() {
        Method::POST => {}
        Method::DELETE => return Ok(respond(StatusCode::OK, None)),
        // No server-initiated stream: the gateway takes 405 as "none offered".
        _ => return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, None)),
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(_) => return Ok(respond(StatusCode::BAD_REQUEST, None)),
    };
    let is_request = message.get("method").is_some() && message.get("id").is_some();
    if !is_request {
        let _ = jobs.send((message, None)).await;
        return Ok(respond(StatusCode::ACCEPTED, None));
    }
    let (reply, replied) = oneshot::channel();
    if jobs.send((message, Some(reply))).await.is_err() {
        return Err("the stdio server's supervisor has stopped".into());
    }
    match replied.await {
        Ok(reply) => Ok(respond(StatusCode::OK, Some(&reply))),
        Err(_) => Err("the stdio server stopped before it answered".into()),
    }
}

/// What the first process said to `initialize`, kept for the next clients and
/// replayed to a restarted process.
#[derive(Default)]
struct Handshake {
    request: Option<Value>,
    result: Option<Value>,
}

async fn supervise(
    server: String,
    command: StdioCommand,
    mut queue: mpsc::Receiver<Job>,
    notify: OnNotification,
) {
    let mut handshake = Handshake::default();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = tokio::time::Instant::now();
        // Why the process could not even start: what arrives until the next
        // attempt is answered with it at once, not left to time out.
        let mut cannot_start = None;
        match spawn(&server, &command) {
            Ok(child) => {
                let stopped = run(&server, child, &mut queue, &mut handshake, &notify).await;
                if stopped {
                    return;
                }
                tracing::warn!(server = %server, "the stdio server stopped; starting it again in {} ms", backoff.as_millis());
            }
            Err(e) => {
                let why = format!(
                    "server `{server}`: cannot start the stdio server `{}`: {e}; check its command and args",
                    command.command
                );
                tracing::warn!(server = %server, "{why}; trying again in {} ms", backoff.as_millis());
                cannot_start = Some(why);
            }
        }
        if started.elapsed() > STABLE {
            backoff = FIRST_BACKOFF;
        }
        let wake = tokio::time::Instant::now() + backoff;
        loop {
            let job = tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                job = queue.recv(), if cannot_start.is_some() => job,
            };
            let Some((message, reply)) = job else { return };
            if let (Some(reply), Some(id), Some(why)) = (reply, message.get("id"), &cannot_start) {
                let _ = reply.send(json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32603, "message": why}}));
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn spawn(server: &str, command: &StdioCommand) -> std::io::Result<Child> {
    let mut process = Command::new(&command.command);
    process
        .args(&command.args)
        .env_clear()
        .envs(
            INHERITED
                .iter()
                .filter_map(|name| Some((*name, std::env::var(name).ok()?))),
        )
        .envs(command.env.iter().map(|(k, v)| (k, v.expose())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = process.spawn()?;
    tracing::info!(server = %server, pid = child.id().unwrap_or_default(), "started the stdio server `{}`", command.command);
    if let Some(stderr) = child.stderr.take() {
        let server = server.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(server = %server, "stderr: {line}");
            }
        });
    }
    Ok(child)
}

async fn write(stdin: &mut ChildStdin, message: &Value) -> std::io::Result<()> {
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    stdin.write_all(&line).await?;
    stdin.flush().await
}

/// Serve the queue with one process until it dies (`false`) or the gateway
/// drops the service (`true`).
async fn run(
    server: &str,
    mut child: Child,
    queue: &mut mpsc::Receiver<Job>,
    handshake: &mut Handshake,
    notify: &OnNotification,
) -> bool {
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return false;
    };
    let mut lines = BufReader::new(stdout).lines();
    // Bridge id -> (the caller's id, where its reply goes, whether it is the handshake).
    let mut pending: HashMap<u64, (Value, Option<oneshot::Sender<Value>>, bool)> = HashMap::new();
    let mut next_id: u64 = 0;
    let mut initialized = false;
    if let Some(request) = handshake.request.clone() {
        // A restarted process: the handshake again, before anything else.
        let mut replay = request;
        next_id += 1;
        replay["id"] = json!(next_id);
        pending.insert(next_id, (Value::Null, None, true));
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        if write(&mut stdin, &replay).await.is_err() || write(&mut stdin, &note).await.is_err() {
            return false;
        }
        initialized = true;
    }
    let stopped = loop {
        tokio::select! {
            job = queue.recv() => {
                let Some((mut message, reply)) = job else { break true };
                let method = message.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
                if method == "initialize"
                    && let Some(result) = &handshake.result
                {
                    let id = message.get("id").cloned().unwrap_or(Value::Null);
                    if let Some(reply) = reply {
                        let _ = reply.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
                    }
                    continue;
                }
                if method == "notifications/initialized" {
                    if initialized { continue; }
                    initialized = true;
                }
                if let Some(reply) = reply {
                    next_id += 1;
                    let id = message.get("id").cloned().unwrap_or(Value::Null);
                    if method == "initialize" {
                        handshake.request = Some(message.clone());
                    }
                    message["id"] = json!(next_id);
                    pending.insert(next_id, (id, Some(reply), method == "initialize"));
                }
                if write(&mut stdin, &message).await.is_err() {
                    break false;
                }
            }
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break false };
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    tracing::debug!(server = %server, "not JSON on stdout: {line}");
                    continue;
                };
                if message.get("method").is_some() {
                    // The gateway carries no server requests from a stdio server:
                    // say so, so that the server does not wait.
                    let Some(id) = message.get("id") else {
                        notify(&message);
                        continue;
                    };
                    {
                        let refusal = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601,
                            "message": "the gateway does not carry requests from stdio servers to clients"}});
                        if write(&mut stdin, &refusal).await.is_err() { break false; }
                    }
                    continue;
                }
                let Some((id, reply, is_handshake)) = message.get("id").and_then(Value::as_u64).and_then(|id| pending.remove(&id)) else {
                    continue;
                };
                if is_handshake && let Some(result) = message.get("result") {
                    handshake.result = Some(result.clone());
                }
                if let Some(reply) = reply {
                    let mut message = message;
                    message["id"] = id;
                    let _ = reply.send(message);
                }
            }
        }
    };
    if stopped {
        let _ = child.kill().await;
        return true;
    }
    for (_, (id, reply, _)) in pending.drain() {
        if let Some(reply) = reply {
            let _ = reply.send(json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603,
                "message": format!("the stdio server `{server}` exited before it answered; it is being restarted")}}));
        }
    }
    let _ = child.kill().await;
    false
}
