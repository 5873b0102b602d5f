//! `mcp-sigv4 lambda` run as a child process, as Lambda runs a custom runtime's
//! bootstrap: the `lambda_runtime` crate inside it polls a Runtime API on
//! 127.0.0.1 (`runtime`), and each Bedrock Agents event (both shapes, as AWS
//! documents them) reaches signed MCP servers on 127.0.0.1 behind
//! `VerifySigV4Layer`.

mod awkward;
mod bedrock_model;
#[path = "../support/era_server.rs"]
mod era_server;
#[path = "../../../tests/support/pseudo_random.rs"]
mod pseudo_random;
mod runtime;
#[path = "../../../tests/support/serve.rs"]
mod serve;
#[path = "../../../examples/demo/server.rs"]
mod server;
mod tools;

mod cases;
mod docs;
mod fuzz;
mod schema;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Every wait is bounded.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A running `mcp-sigv4 lambda` against `runtime`, its stderr (the log) in a
/// file.
pub struct Function {
    child: Child,
    pub log: std::path::PathBuf,
    _dir: TempDir,
}

impl Function {
    /// Start it with `env` on top of the Lambda runtime's own variables.
    pub fn start(runtime: &runtime::RuntimeApi, env: &[(&str, &str)], dir: TempDir) -> Self {
        let log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"));
        command
            .arg("lambda")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.host())
            .env("AWS_LAMBDA_FUNCTION_NAME", "mcp-tools")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("MCP_SIGV4_LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        Self {
            child: command.spawn().expect("the binary runs"),
            log,
            _dir: dir,
        }
    }

    /// The JSON log lines so far.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The log's `invocation` lines.
    pub fn invocations(&self) -> Vec<serde_json::Value> {
        self.log_lines()
            .into_iter()
            .filter(|l| l["message"] == "invocation")
            .collect()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The stand-in's credentials, as the execution role's would be in the
/// environment.
pub fn credentials() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", server::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", server::SECRET_KEY),
        ("AWS_SESSION_TOKEN", server::SESSION_TOKEN),
    ]
}

/// A temporary directory, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "mcp-sigv4-lambda-{name}-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
