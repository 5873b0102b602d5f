//! `mcp-sigv4` driven as a child process, exactly as an MCP host does: JSON-RPC
//! lines on stdin, replies on stdout, logs on stderr.

#[path = "../../../examples/demo/server.rs"]
mod server;

#[path = "../support/client_secret_basic.rs"]
mod client_secret_basic;
mod contract;
mod docs;
mod endpoint;
#[path = "../support/era_server.rs"]
mod era_server;
mod eras;
mod first_minutes;
mod front_door;
#[path = "../support/header_server.rs"]
mod header_server;
mod link_order;
#[path = "../../../tests/support/network.rs"]
mod network;
mod oauth2;
mod order;
#[path = "../support/ordered_server.rs"]
mod ordered_server;
#[path = "../support/otlp.rs"]
mod otlp;
mod proxy;
mod relay;
#[path = "../support/schema.rs"]
mod schema;
#[path = "../../../tests/support/serve.rs"]
mod serve;
mod sign;
mod traces;
mod verbatim;
#[path = "../support/without_proxies.rs"]
mod without_proxies;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use without_proxies::WithoutProxies;

/// Every exchange is bounded.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The stand-in's temporary credentials, as a host passes them in `env`.
pub fn credentials_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", server::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", server::SECRET_KEY),
        ("AWS_SESSION_TOKEN", server::SESSION_TOKEN),
    ]
}

/// A host's `initialize` request with this id.
pub fn initialize(id: i64) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test-host", "version": "1.0"}
    }})
    .to_string()
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_mcp-sigv4")
}

/// A running `mcp-sigv4` with piped stdio.
pub struct Cli {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Cli {
    /// `mcp-sigv4 proxy` to `url`, signing for `service` in us-east-1, with
    /// `extra` flags and `env`.
    pub fn proxy(url: &str, service: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec!["proxy", url, "--service", service, "--region", "us-east-1"];
        args.extend_from_slice(extra);
        Self::spawn(&args, env)
    }

    /// Send the host's `initialize` and read its refusal: the error message.
    pub async fn initialize_error(&mut self) -> String {
        self.send(&initialize(0)).await;
        let (reply, _) = self.recv_id(0).await;
        reply["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{reply}"))
            .to_owned()
    }

    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary());
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .env_remove("AWS_PROFILE")
            // Hermetic: no proxy or CA bundle of the machine's; tests set their own.
            .without_proxies()
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("SSL_CERT_FILE")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawning mcp-sigv4");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
        }
    }

    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin closed");
        stdin.write_all(line.as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// The next stdout line, parsed: every line must be a JSON message.
    pub async fn recv(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(LIMIT, self.stdout.next_line())
            .await
            .expect("no reply in time")
            .unwrap();
        let Some(line) = line else {
            let mut stderr = String::new();
            if let Some(mut err) = self.child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = tokio::time::timeout(LIMIT, err.read_to_string(&mut stderr)).await;
            }
            panic!("mcp-sigv4 closed stdout; its stderr:\n{stderr}");
        };
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a non-JSON line {line:?}: {e}"))
    }

    /// The next message with this id, collecting what came before it.
    pub async fn recv_id(&mut self, id: i64) -> (serde_json::Value, Vec<serde_json::Value>) {
        let mut before = Vec::new();
        loop {
            let message = self.recv().await;
            if message["id"] == id && message.get("method").is_none() {
                return (message, before);
            }
            before.push(message);
        }
    }

    /// Close stdin and wait for the exit code and stderr.
    pub async fn finish(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = tokio::time::timeout(LIMIT, err.read_to_string(&mut stderr)).await;
        }
        let status = tokio::time::timeout(LIMIT, self.child.wait())
            .await
            .expect("mcp-sigv4 did not exit after stdin closed")
            .unwrap();
        (status.code().unwrap_or(-1), stderr)
    }
}
