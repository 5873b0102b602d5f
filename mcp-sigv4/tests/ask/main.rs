//! `mcp-sigv4 ask` run as a child process against a scripted Converse stand-in
//! (behind `VerifySigV4Layer` for `bedrock`) and rmcp servers (one behind
//! `VerifySigV4Layer` for `bedrock-agentcore`, one behind a bearer token).

mod bedrock;
mod cases;
#[path = "../support/client_secret_basic.rs"]
mod client_secret_basic;
#[path = "../../../examples/demo/bedrock.rs"]
mod converse_stand_in;
mod demo;
#[path = "../../../examples/demo/server.rs"]
mod demo_server;
mod library;
mod mcp;
#[path = "../support/otlp.rs"]
mod otlp;
#[path = "../../../tests/support/serve.rs"]
mod serve;
mod traces;
#[path = "../support/without_proxies.rs"]
mod without_proxies;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

pub use converse_stand_in::offered_tools;
use tokio::process::Command;

use without_proxies::WithoutProxies;

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "AKIDASKEXAMPLE";
pub const SECRET_KEY: &str = "ask/secret+key/not-a-real-one/EXAMPLE";
/// A model id with a `:`, which the SDK percent-encodes in the path.
pub const MODEL: &str = "anthropic.claude-test-v1:0";

/// Every run is bounded.
pub const LIMIT: Duration = Duration::from_secs(60);

/// What a finished `mcp-sigv4 ask` left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `mcp-sigv4 ask --model MODEL ARGS...` with the SDK pointed at `bedrock`
/// and static credentials in the environment (the default chain of both the SDK
/// and the MCP signer finds them); no profile, no instance metadata.
pub async fn ask(bedrock: &bedrock::BedrockStandIn, args: &[&str]) -> Run {
    ask_with_env(bedrock, args, &[]).await
}

pub async fn ask_with_env(
    bedrock: &bedrock::BedrockStandIn,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"));
    command
        .args(["ask", "--model", MODEL])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env_remove("AWS_PROFILE")
        .without_proxies()
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("MCP_SIGV4_LOG")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("running mcp-sigv4");
    let stdout = tokio::spawn(read_all(child.stdout.take().unwrap()));
    let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
    let status = tokio::time::timeout(LIMIT, child.wait()).await;
    if status.is_err() {
        let _ = child.kill().await;
    }
    let stdout = stdout.await.unwrap();
    let stderr = stderr.await.unwrap();
    let Ok(status) = status else {
        panic!("mcp-sigv4 ask did not finish in time; stdout:\n{stdout}\nstderr:\n{stderr}");
    };
    Run {
        code: status.unwrap().code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

pub async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The `toolResult` blocks of a request's last message, by `toolUseId`.
pub fn tool_results(body: &Value) -> Vec<(String, String, Value)> {
    let messages = body["messages"].as_array().expect("messages");
    let last = messages.last().expect("a message");
    assert_eq!(last["role"], "user", "{last}");
    last["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|block| {
            let result = &block["toolResult"];
            (
                result["toolUseId"].as_str().unwrap().to_owned(),
                result["status"].as_str().unwrap_or("").to_owned(),
                result["content"].clone(),
            )
        })
        .collect()
}

/// The result for `id`: its status and its first text.
pub fn result_for(body: &Value, id: &str) -> (String, String) {
    let (_, status, content) = tool_results(body)
        .into_iter()
        .find(|(use_id, _, _)| use_id == id)
        .unwrap_or_else(|| panic!("no toolResult for {id} in {body}"));
    let text = content[0]["text"].as_str().unwrap_or_default().to_owned();
    (status, text)
}
