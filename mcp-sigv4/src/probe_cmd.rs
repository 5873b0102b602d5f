//! `mcp-sigv4 probe --config FILE` (or `--url URL`): one probe round against
//! every server, one line each, and an exit status for cron, a Kubernetes
//! probe or CI.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::ServerConfig;
use crate::lambda::cli::{Sources, chosen};
use crate::probe::{self, Round};
use crate::protocol::era::{Era, MODERN_VERSION};
use crate::upstream::Upstream;

/// Exit codes.
mod exit {
    /// Every server answered.
    pub(super) const UP: u8 = 0;
    /// A server did not answer as an MCP server.
    pub(super) const DOWN: u8 = 1;
    /// A usage or configuration error.
    pub(super) const USAGE: u8 = 2;
}

/// Arguments of `mcp-sigv4 probe`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
One round against each server, signed like any request: server/discover for a 2026-07-28 server,
initialize then ping for a 2025 one, then tools/list to count its tools. One line per server:
  NAME up|down LATENCY era=VERSION tools=N   (or cause=transport|auth|http|protocol|timeout and what happened)
Exit codes: 0 every server up, 1 a server down, 2 usage. With --format prometheus, the node-exporter
textfile format instead (write it to a .prom file of the textfile collector's directory).")]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    /// Only this server of the config (repeatable).
    #[arg(long = "server", value_name = "NAME")]
    server: Vec<String>,
    /// Seconds one server's round may take.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    timeout: f64,
    /// One line per server, or the Prometheus text format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Log level (off, error, warn, info, debug, trace).
    #[arg(long, default_value = "warn", env = "MCP_SIGV4_LOG", value_parser = crate::logging::parse_level)]
    log_level: String,
}

/// What `probe` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// One line per server.
    #[default]
    Text,
    /// The Prometheus text format, for node-exporter's textfile collector.
    Prometheus,
}

/// Run `mcp-sigv4 probe`: one round, one line a server; exit 0 when every
/// server is up, 1 when one is down, 2 on a usage error.
pub fn main(args: Args) -> ExitCode {
    crate::logging::init(Some(&args.log_level));
    crate::runtime::Runtime::multi_thread("probe")
        .block_on(run(args))
        .map_or_else(|code| code, ExitCode::from)
}

async fn run(args: Args) -> u8 {
    let (chosen, _) = match chosen(&args.sources, &args.server) {
        Ok(chosen) => chosen,
        Err(message) => return usage(&message),
    };
    let timeout = crate::flags::seconds(args.timeout);
    let rounds = chosen
        .iter()
        .map(|server| async move { (server.name.as_str(), once(server, timeout).await) });
    let rounds = futures_util::future::join_all(rounds).await;
    let mut rounds_ok = Vec::with_capacity(rounds.len());
    for (name, round) in rounds {
        match round {
            Ok(round) => rounds_ok.push((name, round)),
            Err(message) => return usage(&format!("MCP server `{name}`: {message}")),
        }
    }
    print!(
        "{}",
        match args.format {
            Format::Text => text(&rounds_ok),
            Format::Prometheus => prometheus(&rounds_ok),
        }
    );
    if rounds_ok.iter().all(|(_, round)| round.is_up()) {
        exit::UP
    } else {
        exit::DOWN
    }
}

/// One round against `server`, through a session of its own.
async fn once(server: &ServerConfig, timeout: Duration) -> Result<Round, String> {
    let client = server
        .http_client_with(|builder| builder.timeout(timeout))
        .map_err(|e| crate::advice::library(&e))?;
    let headers = server
        .headers()
        .map_err(|e| crate::advice::library(&e))?;
    let upstream = Upstream::new(client, server.url.as_str(), headers);
    Ok(probe::round(&upstream, timeout, None).await)
}

fn era_name(era: Era) -> &'static str {
    match era {
        Era::Modern => MODERN_VERSION,
        Era::Legacy => "2025",
    }
}

/// `NAME up 12.3ms era=2026-07-28 tools=3`, or `NAME down 1.0ms cause=transport: ...`.
fn text(rounds: &[(&str, Round)]) -> String {
    let mut out = String::new();
    for (name, round) in rounds {
        let latency = format!("{:.1}ms", round.latency.as_secs_f64() * 1000.0);
        let _ = match &round.state {
            Ok(up) => writeln!(
                out,
                "{name} up {latency} era={} tools={}",
                era_name(up.era),
                up.tools.map_or_else(|| "?".to_owned(), |n| n.to_string())
            ),
            Err(down) => writeln!(
                out,
                "{name} down {latency} cause={}: {}",
                down.cause,
                down.detail.replace('\n', " ")
            ),
        };
    }
    out
}

/// The Prometheus text format node-exporter's textfile collector reads, with
/// the names the gateway's `/metrics` uses.
fn prometheus(rounds: &[(&str, Round)]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP mcp_sigv4_{name} {help}");
        let _ = writeln!(out, "# TYPE mcp_sigv4_{name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "mcp_sigv4_{name}{{{labels}}} {value}");
        }
    };
    let server = |name: &str| format!("server=\"{}\"", escape(name));
    family(
        "upstream_up",
        "1 when the server answered the probe as an MCP server, 0 when not",
        rounds
            .iter()
            .map(|(name, r)| (server(name), f64::from(u8::from(r.is_up()))))
            .collect(),
    );
    family(
        "upstream_probe_duration_seconds",
        "How long the probe took, tools/list included",
        rounds
            .iter()
            .map(|(name, r)| (server(name), r.latency.as_secs_f64()))
            .collect(),
    );
    family(
        "upstream_tools",
        "How many tools the server lists",
        rounds
            .iter()
            .filter_map(|(name, r)| {
                let tools = r.state.as_ref().ok()?.tools?;
                Some((server(name), tools as f64))
            })
            .collect(),
    );
    family(
        "upstream_probe_failure",
        "1 for the cause of a failed probe: transport, auth, http, protocol, timeout",
        rounds
            .iter()
            .filter_map(|(name, r)| {
                let down = r.state.as_ref().err()?;
                Some((format!("{},cause=\"{}\"", server(name), down.cause), 1.0))
            })
            .collect(),
    );
    out
}

/// A label value in the text format: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn usage(message: &str) -> u8 {
    eprintln!("mcp-sigv4 probe: {message}");
    exit::USAGE
}
