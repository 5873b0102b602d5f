//! `mcp-sigv4 ask`: the command-line face of [`Ask`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use clap::{ArgMatches, FromArgMatches};
use tower_sigv4::endpoint::RuntimeArn;

use super::{Ask, Observer, RmcpServer, Stop, ToolCallReport, ToolServer};
use crate::config::{Config, ServerConfig};
use crate::upstream::NotInferred;

/// Exit codes, shown by `--help` and documented in the README.
pub mod exit {
    /// The model ended its turn (`end_turn`, `stop_sequence`), or `max_tokens`
    /// with `--allow-truncated`.
    pub const OK: u8 = 0;
    /// Bedrock or an MCP server failed; the message names which.
    pub const FAILURE: u8 = 1;
    /// A usage or configuration error.
    pub const USAGE: u8 = 2;
    /// `max_tokens`: the answer was cut.
    pub const MAX_TOKENS: u8 = 3;
    /// `guardrail_intervened`.
    pub const GUARDRAIL: u8 = 4;
    /// `content_filtered`.
    pub const CONTENT_FILTERED: u8 = 5;
    /// `model_context_window_exceeded`.
    pub const CONTEXT_WINDOW: u8 = 6;
    /// `--max-turns` was reached while the model still wanted tools.
    pub const MAX_TURNS: u8 = 7;
}

const AFTER_HELP: &str = "\
Per-server flags (--service, --region, --profile) apply to the --mcp before them;
given before every --mcp, they apply to all.

Exit codes:
  0  the model ended its turn (end_turn, stop_sequence), or max_tokens with --allow-truncated
  1  Bedrock or an MCP server failed (the message names which)
  2  usage or configuration error
  3  max_tokens: the answer was cut
  4  guardrail_intervened: a Bedrock guardrail stepped in
  5  content_filtered
  6  model_context_window_exceeded
  7  --max-turns reached while the model still wanted tools";

/// The flags as clap sees them.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
struct Flags {
    /// The Bedrock model id or inference profile, e.g.
    /// `us.anthropic.claude-sonnet-4-20250514-v1:0`.
    #[arg(long)]
    model: String,
    /// An MCP server's streamable-HTTP URL, signed with SigV4 (service and region
    /// inferred from the host, as in `proxy`). Repeatable.
    #[arg(long = "mcp", value_name = "URL")]
    mcp: Vec<String>,
    /// SigV4 service of the --mcp before it (inferred from the URL when absent).
    #[arg(long, value_name = "SERVICE")]
    service: Vec<String>,
    /// AWS region of the --mcp before it (inferred from the URL when absent).
    #[arg(long, value_name = "REGION")]
    region: Vec<String>,
    /// AWS profile for signing the --mcp before it (default chain otherwise).
    #[arg(long, value_name = "PROFILE")]
    profile: Vec<String>,
    /// The gateway's configuration file (LiteLLM `config.yaml` shape); its
    /// `mcp_servers` are used too.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A system prompt.
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// At most this many Converse calls.
    #[arg(long, default_value_t = Ask::DEFAULT_MAX_TURNS, value_name = "N")]
    max_turns: u32,
    /// Seconds a tool call may take before it becomes an error result.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    tool_timeout: f64,
    /// Use ConverseStream and print the text as it arrives.
    #[arg(long)]
    stream: bool,
    /// Exit 0 on max_tokens (the answer is still said to be cut).
    #[arg(long)]
    allow_truncated: bool,
    /// Bedrock Runtime endpoint (default: the SDK's, or AWS_ENDPOINT_URL_BEDROCK_RUNTIME).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Log level for stderr: off, error, warn, info, debug, trace, or a filter
    /// such as `info,tower_sigv4=debug`.
    #[arg(long, default_value = "warn", env = "MCP_SIGV4_LOG", value_parser = crate::logging::parse_level)]
    log_level: String,
    /// The question.
    question: String,
}

/// Arguments of `mcp-sigv4 ask`.
#[derive(Debug)]
pub struct Args {
    flags: Flags,
    /// The per-server flags of each `--mcp`, in order.
    per_server: Vec<ServerFlags>,
}

#[derive(Clone, Debug, Default)]
struct ServerFlags {
    service: Option<String>,
    region: Option<String>,
    profile: Option<String>,
}

impl clap::Args for Args {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        Flags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Flags::augment_args_for_update(cmd)
    }
}

impl FromArgMatches for Args {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            flags: Flags::from_arg_matches(matches)?,
            per_server: per_server(matches),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// Each per-server flag belongs to the last `--mcp` before it on the command
/// line; one before every `--mcp` is a default for all.
fn per_server(matches: &ArgMatches) -> Vec<ServerFlags> {
    let positions: Vec<usize> = matches
        .indices_of("mcp")
        .map(Iterator::collect)
        .unwrap_or_default();
    let mut defaults = ServerFlags::default();
    let mut each = vec![ServerFlags::default(); positions.len()];
    type Set = fn(&mut ServerFlags, String);
    let setters: [(&str, Set); 3] = [
        ("service", |f, v| f.service = Some(v)),
        ("region", |f, v| f.region = Some(v)),
        ("profile", |f, v| f.profile = Some(v)),
    ];
    for (id, set) in setters {
        let (Some(values), Some(indices)) =
            (matches.get_many::<String>(id), matches.indices_of(id))
        else {
            continue;
        };
        for (value, index) in values.zip(indices) {
            match positions.iter().rposition(|&p| p < index) {
                Some(server) => set(&mut each[server], value.clone()),
                None => set(&mut defaults, value.clone()),
            }
        }
    }
    each.into_iter()
        .map(|f| ServerFlags {
            service: f.service.or_else(|| defaults.service.clone()),
            region: f.region.or_else(|| defaults.region.clone()),
            profile: f.profile.or_else(|| defaults.profile.clone()),
        })
        .collect()
}

/// Run `mcp-sigv4 ask`.
pub fn main(args: Args) -> ExitCode {
    crate::logging::init(Some(&args.flags.log_level));
    crate::runtime::Runtime::multi_thread("ask")
        .worker_threads(2)
        .block_on(run(args))
        .map_or_else(|code| code, ExitCode::from)
}

async fn run(args: Args) -> u8 {
    let flags = &args.flags;
    let tool_timeout = match flags.tool_timeout {
        secs if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        _ => return usage("--tool-timeout must be a positive number of seconds"),
    };
    // Every URL is checked before anything is opened, Bedrock's set-up (region,
    // credentials) said before any MCP server is reached.
    if let Some(url) = &flags.endpoint_url
        && let Err(message) = crate::advice::check_url(url)
    {
        return usage(&format!("--endpoint-url: {message}"));
    }
    let configs = match server_configs(&args) {
        Ok(configs) => configs,
        Err(message) => return usage(&message),
    };
    let client = match bedrock_client(flags.endpoint_url.as_deref()).await {
        Ok(client) => client,
        Err(message) => return usage(&message),
    };
    let servers = match connect_all(&configs).await {
        Ok(servers) => servers,
        Err(message) => {
            eprintln!("mcp-sigv4: {message}");
            return exit::FAILURE;
        }
    };
    let mut ask = Ask::new(client, flags.model.as_str())
        .max_turns(flags.max_turns)
        .tool_timeout(tool_timeout)
        .stream(flags.stream)
        .observer(Arc::new(Printer));
    if let Some(system) = &flags.system {
        ask = ask.system(system.as_str());
    }
    for server in &servers {
        ask = ask.server(server.clone() as Arc<dyn ToolServer>);
    }
    let result = ask.run(&flags.question).await;
    drop(ask);
    close_all(servers).await;
    let answer = match result {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("mcp-sigv4: {e}");
            return exit::FAILURE;
        }
    };
    if flags.stream {
        // The text went out as it arrived; end its line.
        println!();
    } else if !answer.text.is_empty() {
        println!("{}", answer.text);
    }
    let _ = std::io::stdout().flush();
    let (code, message) = outcome(&answer.stop, flags);
    if let Some(message) = message {
        eprintln!("mcp-sigv4: {message}");
    }
    code
}

fn usage(message: &str) -> u8 {
    eprintln!("mcp-sigv4: {message}");
    exit::USAGE
}

/// The exit code of a stop, and what to say about it.
fn outcome(stop: &Stop, flags: &Flags) -> (u8, Option<String>) {
    match stop {
        Stop::EndTurn | Stop::StopSequence => (exit::OK, None),
        Stop::MaxTokens => (
            if flags.allow_truncated {
                exit::OK
            } else {
                exit::MAX_TOKENS
            },
            Some(
                "the answer was cut: the model reached its output token limit (stop reason max_tokens); ask for a shorter answer, or pass --allow-truncated to accept it"
                    .to_owned(),
            ),
        ),
        Stop::GuardrailIntervened => (
            exit::GUARDRAIL,
            Some("a Bedrock guardrail intervened (stop reason guardrail_intervened); the answer was blocked or rewritten".to_owned()),
        ),
        Stop::ContentFiltered => (
            exit::CONTENT_FILTERED,
            Some("the answer was removed by Bedrock's content filters (stop reason content_filtered)".to_owned()),
        ),
        Stop::ContextWindowExceeded => (
            exit::CONTEXT_WINDOW,
            Some("the conversation no longer fits the model's context window (stop reason model_context_window_exceeded); ask a narrower question, or offer fewer tools".to_owned()),
        ),
        Stop::MaxTurns(turns) => (
            exit::MAX_TURNS,
            Some(format!(
                "stopped after {turns} turns (--max-turns) while the model still wanted to call tools; raise --max-turns"
            )),
        ),
        Stop::Other(reason) => (
            exit::FAILURE,
            Some(format!("Bedrock stopped the model with stop reason {reason}")),
        ),
    }
}

/// The servers of `--config` and of each `--mcp`, with unique names.
fn server_configs(args: &Args) -> Result<Vec<ServerConfig>, String> {
    let mut configs = match &args.flags.config {
        Some(path) => {
            let config = Config::load(path).map_err(|e| e.to_string())?;
            config.log_notes();
            config.servers
        }
        None => Vec::new(),
    };
    for (url, flags) in args.flags.mcp.iter().zip(&args.per_server) {
        configs.push(mcp_server(url, flags)?);
    }
    let mut seen = std::collections::HashSet::new();
    let count = configs.len();
    for config in &mut configs {
        let base = config.name.clone();
        // Bounded: each try is a new suffix, and at most `count` names are taken.
        for n in 2..=count + 1 {
            if seen.insert(config.name.clone()) {
                break;
            }
            config.name = format!("{base}-{n}");
        }
    }
    Ok(configs)
}

fn mcp_server(url: &str, flags: &ServerFlags) -> Result<ServerConfig, String> {
    crate::advice::check_url(url).map_err(|e| format!("--mcp: {e}"))?;
    ServerConfig::signed_for_url(
        server_name(url),
        url,
        flags.service.clone(),
        flags.region.clone(),
        flags.profile.clone(),
    )
    .map_err(|missing| match missing {
        NotInferred::Service => format!(
            "--mcp {url}: cannot infer the SigV4 service from the host; add --service after it (bedrock-agentcore for AgentCore, aws-mcp for the AWS MCP Server)"
        ),
        NotInferred::Region => {
            format!("--mcp {url}: cannot infer the AWS region from the host; add --region after it")
        }
    })
}

/// A short name for a URL: an AgentCore runtime's id, or the host and port.
fn server_name(url: &str) -> String {
    if let Some((arn, _)) = RuntimeArn::from_invocation_url(url) {
        return arn.runtime_id().to_owned();
    }
    url.parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_else(|| url.to_owned())
}

async fn connect_all(configs: &[ServerConfig]) -> Result<Vec<Arc<RmcpServer>>, String> {
    let connecting = configs.iter().map(|config| async move {
        RmcpServer::connect(config, |builder| {
            builder.connect_timeout(Duration::from_secs(10))
        })
        .await
        .map_err(|e| {
            tracing::debug!(source = "mcp", server = %config.name, "connecting failed: {e}");
            format!("MCP server `{}`: cannot connect: {e}", config.name)
        })
    });
    let servers = futures_util::future::try_join_all(connecting).await?;
    Ok(servers.into_iter().map(Arc::new).collect())
}

/// End each session, so servers can release them (`DELETE`).
async fn close_all(servers: Vec<Arc<RmcpServer>>) {
    let closing = servers
        .into_iter()
        .filter_map(|server| Arc::try_unwrap(server).ok())
        .map(RmcpServer::close);
    futures_util::future::join_all(closing).await;
}

async fn bedrock_client(
    endpoint_url: Option<&str>,
) -> Result<aws_sdk_bedrockruntime::Client, String> {
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    if sdk.region().is_none() {
        return Err(
            "no AWS region for Bedrock: set AWS_REGION, or a region in your AWS profile".to_owned(),
        );
    }
    // Loaded once up front, so that a missing profile or empty chain is one line
    // that says what to do, not the SDK's list of providers per failed call.
    if let Some(provider) = sdk.credentials_provider() {
        use aws_credential_types::provider::ProvideCredentials;
        if provider.provide_credentials().await.is_err() {
            return Err(no_credentials(&|name| std::env::var(name).ok()));
        }
    }
    let mut config = aws_sdk_bedrockruntime::config::Builder::from(&sdk);
    if let Some(url) = endpoint_url {
        config = config.endpoint_url(url);
    }
    Ok(aws_sdk_bedrockruntime::Client::from_conf(config.build()))
}

/// What to say when the default chain found no credentials for Bedrock.
fn no_credentials(env: &dyn Fn(&str) -> Option<String>) -> String {
    format!("Bedrock: {}", crate::advice::no_credentials(None, env))
}

/// Prints streamed text to stdout and one line per tool call to stderr.
struct Printer;

impl Observer for Printer {
    fn text(&self, delta: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(delta.as_bytes());
        let _ = stdout.flush();
    }

    fn tool_call(&self, report: &ToolCallReport) {
        eprintln!("mcp-sigv4: {report}");
    }
}
