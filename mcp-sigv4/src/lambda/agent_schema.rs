//! `mcp-sigv4 agent-schema`: the action group's schema from the servers'
//! `tools/list`, and `--check`, the drift check a team runs in CI (Bedrock
//! Agents does not rediscover tools).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::cli::{Sources, chosen};
use super::schema::{self, Format};
use super::servers;

/// Exit codes.
pub mod exit {
    /// The schema was printed, or `--check` found no difference.
    pub const OK: u8 = 0;
    /// `--check` found differences, or a server could not be listed.
    pub const DRIFT: u8 = 1;
    /// A usage or configuration error.
    pub const USAGE: u8 = 2;
}

/// Arguments of `mcp-sigv4 agent-schema`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints the functionSchema for `aws bedrock-agent create-agent-action-group --function-schema file://schema.json`,
or with --format openapi the document for `--api-schema payload=...`. Tools Bedrock cannot take are
named on stderr with the reason. Exit codes: 0 ok, 1 drift (--check) or a server failed, 2 usage.")]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    /// Only this server of the config (repeatable). Function names keep the
    /// server prefix when the config has several servers, as the Lambda does.
    #[arg(long = "server", value_name = "NAME")]
    server: Vec<String>,
    /// What to print.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Compare this saved schema with what the servers list now; exit 1 with the
    /// differences.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
    /// Log level (off, error, warn, info, debug, trace).
    #[arg(long, default_value = "warn", env = "MCP_SIGV4_LOG", value_parser = crate::logging::parse_level)]
    log_level: String,
}

/// Run `mcp-sigv4 agent-schema`.
pub fn main(args: Args) -> ExitCode {
    crate::logging::init(Some(&args.log_level));
    crate::runtime::Runtime::multi_thread("agent-schema")
        .block_on(run(args))
        .map_or_else(|code| code, ExitCode::from)
}

async fn run(args: Args) -> u8 {
    let (chosen, count) = match chosen(&args.sources, &args.server) {
        Ok(chosen) => chosen,
        Err(message) => return usage(&message),
    };
    let prefixed = count > 1;
    let saved = match &args.check {
        None => None,
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| e.to_string()))
        {
            Ok(saved) => Some(saved),
            Err(e) => return usage(&format!("--check {}: {e}", path.display())),
        },
    };
    let listings = chosen.iter().map(|config| async move {
        let client = config
            .http_client_with(|b| b.connect_timeout(Duration::from_secs(10)))
            .map_err(|e| {
                format!(
                    "MCP server `{}`: {}",
                    config.name,
                    crate::advice::library(&e)
                )
            })?;
        let session = servers::open(config, client, "agent-schema")
            .await
            .map_err(|e| format!("MCP server `{}`: cannot list its tools: {e}", config.name))?;
        session.close().await;
        Ok::<_, String>((config.name.clone(), session.tools))
    });
    let listed = match futures_util::future::try_join_all(listings).await {
        Ok(listed) => listed,
        Err(message) => {
            eprintln!("mcp-sigv4 agent-schema: {message}");
            return exit::DRIFT;
        }
    };
    let format = saved.as_ref().map_or(args.format, schema::format_of);
    let (now, notes) = schema::build(&listed, prefixed, format);
    for note in &notes {
        eprintln!("mcp-sigv4 agent-schema: {note}");
    }
    match saved {
        None => {
            println!("{}", serde_json::to_string_pretty(&now).unwrap_or_default());
            exit::OK
        }
        Some(saved) => {
            let drift = schema::drift(&saved, &now);
            for line in &drift {
                println!("{line}");
            }
            if drift.is_empty() {
                exit::OK
            } else {
                eprintln!(
                    "mcp-sigv4 agent-schema: the servers' tools differ from the saved schema; regenerate it and update the action group"
                );
                exit::DRIFT
            }
        }
    }
}

fn usage(message: &str) -> u8 {
    eprintln!("mcp-sigv4 agent-schema: {message}");
    exit::USAGE
}
