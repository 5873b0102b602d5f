//! `mcp-sigv4 lambda`: the command that runs [`ActionGroup`] as a Lambda custom
//! runtime (`provided.al2023`), its settings from the function's environment.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tower_sigv4::endpoint::RuntimeArn;

use super::ActionGroup;
use crate::config::{Config, ServerConfig};
use crate::upstream::NotInferred;

/// The environment the Lambda runtime sets, which the runtime crate needs.
const RUNTIME_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Arguments of `mcp-sigv4 lambda`, each also an environment variable (a
/// Lambda function is configured through its environment).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Run as the bootstrap of a Lambda function (provided.al2023) behind a Bedrock Agents action group.
Function names are the tools' names, mapped as `mcp-sigv4 agent-schema` maps them.
See docs/bedrock-agents.md for the build, the IAM policy and the deployment.")]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    /// Seconds a tool call may take (less if the invocation's deadline comes first).
    #[arg(
        long,
        env = "MCP_SIGV4_TOOL_TIMEOUT",
        default_value_t = 60.0,
        value_name = "SECONDS"
    )]
    tool_timeout: f64,
    /// Seconds kept back from the invocation's deadline to answer Bedrock.
    #[arg(
        long,
        env = "MCP_SIGV4_DEADLINE_MARGIN",
        default_value_t = 0.5,
        value_name = "SECONDS"
    )]
    deadline_margin: f64,
    /// A response body over this many bytes is cut, with a marker (at most 5 MiB;
    /// Lambda's synchronous response limit is 6 MB).
    #[arg(long, env = "MCP_SIGV4_MAX_BODY_BYTES", default_value_t = super::body::DEFAULT_MAX_BODY, value_name = "BYTES")]
    max_body_bytes: usize,
    /// Log level (off, error, warn, info, debug, trace), or a `tracing` filter.
    #[arg(long, default_value = "info", env = "MCP_SIGV4_LOG", value_parser = crate::logging::parse_level)]
    log_level: String,
    /// Answer this one Bedrock Agents event (a JSON file, `-` for stdin) and
    /// print the response, instead of polling the Lambda Runtime API: to try
    /// the function, or an event from a log, on your machine.
    #[arg(long, value_name = "FILE")]
    event: Option<PathBuf>,
}

/// Where the servers come from: a config file, or one URL. `agent-schema` and
/// `probe` take the same flags, so all see the same servers under the same names.
#[derive(Debug, clap::Args)]
pub struct Sources {
    /// The gateway's configuration file; its `mcp_servers` are the servers
    /// (for `lambda`, packaged with the function: the action group's servers).
    #[arg(
        long,
        env = "MCP_SIGV4_CONFIG",
        value_name = "FILE",
        conflicts_with = "url"
    )]
    config: Option<PathBuf>,
    /// One MCP server's URL instead of a config file, signed with SigV4 from the
    /// default credential chain (on Lambda, the execution role); service and
    /// region inferred from the host.
    #[arg(long, env = "MCP_SERVER_URL", value_name = "URL")]
    url: Option<String>,
    /// The SigV4 service of `--url`, when the host does not say.
    #[arg(
        long,
        env = "MCP_SERVER_SERVICE",
        value_name = "SERVICE",
        requires = "url"
    )]
    service: Option<String>,
    /// The AWS region of `--url`, when the host does not say.
    #[arg(
        long,
        env = "MCP_SERVER_REGION",
        value_name = "REGION",
        requires = "url"
    )]
    region: Option<String>,
}

/// Run `mcp-sigv4 lambda` until the runtime stops it.
pub fn main(args: Args) -> ExitCode {
    crate::logging::init(Some(&args.log_level));
    let servers = match servers(&args.sources) {
        Ok(servers) => servers,
        Err(message) => {
            eprintln!("mcp-sigv4 lambda: {message}");
            return ExitCode::from(2);
        }
    };
    let event = match args.event.as_deref().map(read_event).transpose() {
        Ok(event) => event,
        Err(message) => {
            eprintln!("mcp-sigv4 lambda: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(missing) = RUNTIME_ENV
        .iter()
        .find(|name| event.is_none() && std::env::var_os(name).is_none())
    {
        eprintln!(
            "mcp-sigv4 lambda: {missing} is not set; this command runs inside AWS Lambda (or a local Runtime API such as `cargo lambda watch`), which sets it"
        );
        return ExitCode::from(2);
    }
    let group = ActionGroup::new(servers)
        .tool_timeout(seconds(args.tool_timeout).max(Duration::from_millis(1)))
        .deadline_margin(seconds(args.deadline_margin))
        .max_body(args.max_body_bytes);
    if let Some(event) = event {
        let runtime = crate::runtime::Runtime::multi_thread("lambda");
        return match runtime.block_on(group.handle(event, None)) {
            Ok(Ok(response)) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&response).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Ok(Err(e)) => {
                eprintln!("mcp-sigv4 lambda: --event: {e}");
                ExitCode::FAILURE
            }
            Err(code) => code,
        };
    }
    let group = &group;
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        let remaining = remaining(event.context.deadline);
        group.handle(event.payload, Some(remaining)).await
    });
    match crate::runtime::Runtime::multi_thread("lambda").block_on(lambda_runtime::run(handler)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("mcp-sigv4 lambda: the Lambda runtime stopped: {e}");
            ExitCode::FAILURE
        }
        Err(code) => code,
    }
}

/// The event of `--event FILE` (`-`: stdin), as JSON.
fn read_event(path: &std::path::Path) -> Result<Value, String> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("--event -: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("--event {}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "--event {}: not JSON ({e}); give a Bedrock Agents input event, such as examples/demo/agent-event.json",
            path.display()
        )
    })
}

/// A seconds flag as a duration: a negative one is zero, one past what a
/// `Duration` holds is "forever".
fn seconds(value: f64) -> Duration {
    Duration::try_from_secs_f64(value.max(0.0)).unwrap_or(Duration::MAX)
}

/// The time left before `deadline_ms` (`Lambda-Runtime-Deadline-Ms`, in
/// milliseconds since the epoch).
fn remaining(deadline_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    Duration::from_millis(deadline_ms.saturating_sub(now))
}

/// The servers of `--config`, or the one of `--url` (`mcp-sigv4 probe` takes
/// the same flags).
pub fn servers(args: &Sources) -> Result<Vec<ServerConfig>, String> {
    if let Some(path) = &args.config {
        let config = Config::load(path).map_err(|e| e.to_string())?;
        config.log_notes();
        if config.servers.is_empty() {
            return Err(format!(
                "{}: mcp_servers lists no server; add at least one",
                path.display()
            ));
        }
        return Ok(config.servers);
    }
    let Some(url) = &args.url else {
        return Err(
            "no servers: pass --config FILE (MCP_SIGV4_CONFIG, on Lambda a file in the package) or --url URL (MCP_SERVER_URL) for one server"
                .to_owned(),
        );
    };
    crate::advice::check_url(url).map_err(|e| format!("MCP_SERVER_URL: {e}"))?;
    let server = ServerConfig::signed_for_url(
        server_name(url),
        url,
        args.service.clone(),
        args.region.clone(),
        None,
    )
    .map_err(|missing| match missing {
        NotInferred::Service => format!("MCP_SERVER_URL {url}: cannot infer the SigV4 service from the host; set MCP_SERVER_SERVICE (bedrock-agentcore for AgentCore, aws-mcp for the AWS MCP Server)"),
        NotInferred::Region => format!("MCP_SERVER_URL {url}: cannot infer the AWS region from the host; set MCP_SERVER_REGION"),
    })?;
    Ok(vec![server])
}

/// The servers of `--config` (or the one of `--url`) that `--server` names
/// (all of them when it names none), and how many the config has (function
/// names carry the server's name when it has several). A name the config does
/// not have is refused with the names it has.
pub fn chosen(sources: &Sources, names: &[String]) -> Result<(Vec<ServerConfig>, usize), String> {
    let all = servers(sources)?;
    if let Some(unknown) = names.iter().find(|n| !all.iter().any(|s| &s.name == *n)) {
        let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        return Err(format!(
            "--server {unknown}: no such server in the config; one of {}",
            known.join(", ")
        ));
    }
    let count = all.len();
    let chosen = all
        .into_iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .collect();
    Ok((chosen, count))
}

/// A server's name for logs: an AgentCore runtime's id, or the host.
fn server_name(url: &str) -> String {
    if let Some((arn, _)) = RuntimeArn::from_invocation_url(url) {
        return arn.runtime_id().to_owned();
    }
    url.parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_owned))
        .unwrap_or_else(|| "server".to_owned())
}
