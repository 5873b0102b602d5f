//! Logs on stderr, never stdout (stdout carries the host's JSON-RPC): text lines
//! for people, or one JSON object per line for a log pipeline.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's
    /// fields (`message` among them) at the top level, and the fields of the
    /// spans it happened in (`span`, `spans`).
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Choose the format for [`init`]; `--log-format`, read once before the command
/// runs. The first choice stays.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// Log to stderr at `level` (a level or a `tracing` filter such as
/// `info,tower_sigv4=debug`); when absent, `MCP_SIGV4_LOG`, then `RUST_LOG`, then
/// `info`. The lines are text unless [`set_format`] chose JSON.
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
    // Spans are exported at info whatever the log level: `ask` logs at warn,
    // and a trace-level log would otherwise export every library's spans.
    let exported = crate::telemetry::traces::layer().unwrap_or_else(|e| {
        eprintln!("mcp-sigv4: {e}; continuing without traces");
        None
    });
    let exported_filter = EnvFilter::new("info");
    let _ = tracing_subscriber::registry()
        .with(lines(FORMAT.get().copied().unwrap_or_default()).with_filter(filter))
        .with(exported.map(|layer| layer.with_filter(exported_filter)))
        .try_init();
}

/// The stderr layer in `format`.
fn lines<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    }
}
