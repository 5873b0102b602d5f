//! `mcp-sigv4`: reach SigV4-signed MCP endpoints (Bedrock AgentCore, the AWS MCP
//! Server) from any stdio MCP host, and debug signatures.

mod compare;
mod explain;
mod gateway_cmd;
mod proxy;
mod sign;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sign MCP traffic for AWS (Bedrock AgentCore, the AWS MCP Server) with SigV4.
#[derive(Debug, Parser)]
#[command(name = "mcp-sigv4", version, about)]
struct Cli {
    /// Log lines on stderr as text, or as one JSON object per line.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "MCP_SIGV4_LOG_FORMAT",
        default_value_t
    )]
    log_format: mcp_sigv4::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Relay MCP JSON-RPC between stdin/stdout and a signed streamable-HTTP endpoint.
    Proxy(proxy::Args),
    /// Serve one HTTP endpoint in front of the MCP servers of a config file.
    Gateway(gateway_cmd::Args),
    /// Sign requests given as JSON lines on stdin; one JSON line out per line in.
    Sign(sign::Args),
    /// Show the canonical request, string to sign and signature of one request,
    /// and compare with an Authorization header from a failing request.
    Explain(explain::Args),
    /// Ask a Bedrock model a question, with the tools of signed MCP servers (the Converse tool loop).
    Ask(mcp_sigv4::ask::cli::Args),
}

/// A duration flag in seconds: at least a millisecond, and "forever" past what a
/// `Duration` holds.
pub(crate) fn seconds(value: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(value.max(0.001)).unwrap_or(std::time::Duration::MAX)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mcp_sigv4::logging::set_format(cli.log_format);
    let code = match cli.command {
        Command::Proxy(args) => proxy::main(args),
        Command::Gateway(args) => gateway_cmd::main(args),
        Command::Sign(args) => sign::main(args),
        Command::Explain(args) => explain::main(args),
        Command::Ask(args) => mcp_sigv4::ask::cli::main(args),
    };
    mcp_sigv4::telemetry::traces::finish();
    code
}
