//! `mcp-sigv4`: reach SigV4-signed MCP endpoints (Bedrock AgentCore, the AWS MCP
//! Server) from any stdio MCP host, and debug signatures.

mod compare;
mod explain;
mod sign;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Who each command is for, after the list of commands in `--help`.
const AFTER_HELP: &str = "\
Which command:
  proxy         for a desktop MCP host (Claude Desktop, Cursor, VS Code): one signed server over stdio
  gateway       for a team: one HTTP endpoint in front of many MCP servers, each with its own credentials
  ask           for a model with tools: a Bedrock model answers a question with the tools of MCP servers
  lambda        for a Bedrock agent: its action group's Lambda function, calling the tools of MCP servers
  agent-schema  for a Bedrock agent: the action group's schema from the tools MCP servers list
  sign          for debugging: sign JSON lines, to compare with another SigV4 implementation
  explain       for debugging: the canonical request and signature of one request, and why a 403's differs
  probe         for monitoring: each server of a config file probed once, exit 1 if one is down
From Rust code, use the tower-sigv4 library instead (not on crates.io yet: its guide, with the
rmcp, reqwest and verifying modules, is `cargo doc -p tower-sigv4 --all-features --open` in a checkout).

Shell completions: `mcp-sigv4 completions bash|zsh|fish|powershell|elvish`; a man page: `mcp-sigv4 man [COMMAND]`.

Try it with no AWS account: `cargo run --example demo --all-features -- --serve` in a
checkout starts verifying stand-ins (an MCP server and a scripted Bedrock Converse endpoint) and
prints the host JSON for `proxy` and a command line for `ask`.";

// `about` is the package description, which names every command.
#[derive(Debug, Parser)]
// clap's own `help` takes no `--help`; ours is a command like the others.
#[command(
    name = "mcp-sigv4",
    version,
    about,
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
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
    Proxy(mcp_sigv4::proxy::Args),
    /// Serve one HTTP endpoint in front of the MCP servers of a config file.
    Gateway(mcp_sigv4::gateway_cmd::Args),
    /// Sign requests given as JSON lines on stdin; one JSON line out per line in.
    Sign(sign::Args),
    /// Show the canonical request, string to sign and signature of one request,
    /// and compare with an Authorization header from a failing request.
    Explain(explain::Args),
    /// Ask a Bedrock model a question, with the tools of signed MCP servers (the Converse tool loop).
    Ask(mcp_sigv4::ask::cli::Args),
    /// Answer a Bedrock Agents action group as its Lambda function, with the tools of MCP servers.
    Lambda(mcp_sigv4::lambda::cli::Args),
    /// Print a Bedrock Agents action group schema from the tools MCP servers list, or check a saved one.
    AgentSchema(mcp_sigv4::lambda::agent_schema::Args),
    /// Probe each MCP server once (server/discover, or initialize and ping); exit 1 if one is down.
    Probe(mcp_sigv4::probe_cmd::Args),
    /// Print a shell completion script, e.g. `mcp-sigv4 completions bash > ~/.local/share/bash-completion/completions/mcp-sigv4`.
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print this help, or the help of a command (`mcp-sigv4 help proxy`, the
    /// same as `mcp-sigv4 proxy --help`).
    Help {
        /// A command, for its own help.
        command: Option<String>,
    },
    /// Print the man page (roff) of mcp-sigv4, or of one of its commands, e.g.
    /// `mcp-sigv4 man > ~/.local/share/man/man1/mcp-sigv4.1`.
    #[command(hide = true)]
    Man {
        /// A command, for its own page (`mcp-sigv4-proxy.1`).
        command: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mcp_sigv4::logging::set_format(cli.log_format);
    let code = match cli.command {
        Command::Proxy(args) => mcp_sigv4::proxy::main(args),
        Command::Gateway(args) => mcp_sigv4::gateway_cmd::main(args, cli.log_format),
        Command::Sign(args) => sign::main(args),
        Command::Explain(args) => explain::main(args),
        Command::Ask(args) => mcp_sigv4::ask::cli::main(args),
        Command::Lambda(args) => mcp_sigv4::lambda::cli::main(args),
        Command::AgentSchema(args) => mcp_sigv4::lambda::agent_schema::main(args),
        Command::Probe(args) => mcp_sigv4::probe_cmd::main(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mcp-sigv4",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Command::Help { command } => help(command.as_deref()),
        Command::Man { command } => man(command.as_deref()),
    };
    mcp_sigv4::telemetry::traces::finish();
    code
}

/// One of the five commands: not `help`, nor a hidden one.
fn is_listed(command: &clap::Command) -> bool {
    !command.is_hide_set() && command.get_name() != "help"
}

/// The built command line, or the command of it named `name` (hidden ones
/// too: `completions` and `man` have pages of their own); an unknown name
/// gets the line that lists the five.
fn command_named(name: Option<&str>, asked_by: &str) -> Result<clap::Command, String> {
    let mut cli = Cli::command();
    cli.build();
    let Some(name) = name else {
        return Ok(cli);
    };
    // Built, a subcommand's display name is `mcp-sigv4-NAME`, the page's title.
    if let Some(sub) = cli.find_subcommand(name) {
        return Ok(sub.clone());
    }
    let names: Vec<&str> = cli
        .get_subcommands()
        .filter(|c| is_listed(c))
        .map(|c| c.get_name())
        .collect();
    Err(format!(
        "mcp-sigv4 {asked_by}: no command `{name}`; one of {}",
        names.join(", ")
    ))
}

/// `mcp-sigv4 help [COMMAND]`: the `--help` of the command line or of one command.
fn help(command: Option<&str>) -> ExitCode {
    match command_named(command, "help") {
        Ok(mut command) => match command.print_long_help() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mcp-sigv4 help: cannot write the help: {e}");
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// `mcp-sigv4 man [COMMAND]`: the roff page of the command line or of one command.
fn man(command: Option<&str>) -> ExitCode {
    let page = match command_named(command, "man") {
        Ok(page) => page,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match clap_mangen::Man::new(page).render(&mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-sigv4 man: cannot write the page: {e}");
            ExitCode::FAILURE
        }
    }
}
