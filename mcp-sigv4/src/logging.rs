//! Logs on stderr, never stdout (stdout carries the host's JSON-RPC).

use tracing_subscriber::EnvFilter;

/// Log to stderr at `level` (a level or a `tracing` filter such as
/// `info,tower_sigv4=debug`); when absent, `MCP_SIGV4_LOG`, then `RUST_LOG`, then
/// `info`.
pub fn init(level: Option<&str>) {
    let from_env = || {
        ["MCP_SIGV4_LOG", "RUST_LOG"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    };
    let spec = level
        .map(str::to_owned)
        .or_else(from_env)
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("mcp-sigv4: log filter `{spec}` is not valid ({e}); logging at info");
        EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}
