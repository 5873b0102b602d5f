//! Logs on stderr, never stdout (stdout carries the host's JSON-RPC): text lines
//! for people, or one JSON object per line for a log pipeline.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's
    /// fields (`message` among them) at the top level, the fields of the
    /// spans it happened in (`span`, `spans`), and with traces on the
    /// `trace_id` of the span it happened in.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Choose the format for [`init`]; `--log-format`, read once before the command
/// runs. The first choice stays.
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// The levels `--log-level` takes, from quiet to chatty.
pub const LEVELS: &str = "off, error, warn, info, debug, trace";

/// The `--log-level` value parser: a level (any case; `warning` is `warn`), or a
/// `tracing` filter such as `info,tower_sigv4=debug` whose every part ends in a
/// level.
///
/// A bare word that is not a level (`verbose`) is refused: `tracing` would read it
/// as the name of a module to trace, and log nothing at all.
///
/// ```
/// use mcp_sigv4::logging::parse_level;
/// assert_eq!(parse_level("WARNING").unwrap(), "warn");
/// assert_eq!(parse_level("info,tower_sigv4=debug").unwrap(), "info,tower_sigv4=debug");
/// assert!(parse_level("verbose").unwrap_err().contains("off, error, warn, info, debug, trace"));
/// ```
pub fn parse_level(spec: &str) -> Result<String, String> {
    let directives = spec
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(directive)
        .collect::<Result<Vec<_>, _>>()?;
    if directives.is_empty() {
        return Err(format!("no log level given; expected one of {LEVELS}"));
    }
    let filter = directives.join(",");
    EnvFilter::try_new(&filter)
        .map_err(|e| format!("`{spec}` is not a log filter ({e}); expected one of {LEVELS}, or a filter such as info,tower_sigv4=debug"))?;
    Ok(filter)
}

/// One part of a filter: `LEVEL` or `TARGET=LEVEL`, the level normalised.
fn directive(part: &str) -> Result<String, String> {
    match part.rsplit_once('=') {
        Some((target, level)) => Ok(format!("{target}={}", level_name(level)?)),
        None => level_name(part).map(str::to_owned),
    }
}

fn level_name(word: &str) -> Result<&'static str, String> {
    match word.trim().to_ascii_lowercase().as_str() {
        "off" | "none" => Ok("off"),
        "error" => Ok("error"),
        "warn" | "warning" => Ok("warn"),
        "info" => Ok("info"),
        "debug" => Ok("debug"),
        "trace" => Ok("trace"),
        _ => Err(format!(
            "unknown log level `{}`; expected one of {LEVELS}, or a filter such as info,tower_sigv4=debug",
            word.trim()
        )),
    }
}

/// Log to stderr at `level` (already checked by [`parse_level`], so a level or a
/// `tracing` filter such as `info,tower_sigv4=debug`); when absent,
/// `MCP_SIGV4_LOG`, then `RUST_LOG`, then `info`. The lines are text unless
/// [`set_format`] chose JSON.
pub fn init(level: Option<&str>) {
    let from_env = || {
        ["MCP_SIGV4_LOG", "RUST_LOG"].iter().find_map(|name| {
            let value = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
            match parse_level(&value) {
                Ok(filter) => Some(filter),
                Err(e) => {
                    eprintln!("mcp-sigv4: {name}: {e}; logging at info");
                    Some("info".to_owned())
                }
            }
        })
    };
    let spec = level
        .map(str::to_owned)
        .or_else(from_env)
        .unwrap_or_else(|| "info".to_owned());
    let spec = quiet_libraries(&spec);
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("mcp-sigv4: log filter `{spec}` is not valid ({e}); logging at info");
        EnvFilter::new("info")
    });
    // Spans are exported at info whatever the log level: `ask` logs at warn,
    // and a trace-level log would otherwise export every library's spans.
    // tower-sigv4's `sign` and `credentials.load` spans are at debug, so that
    // they cost nothing unless exported.
    let exported = crate::telemetry::traces::layer().unwrap_or_else(|e| {
        eprintln!("mcp-sigv4: {e}; continuing without traces");
        None
    });
    let exported_filter = EnvFilter::new("info,tower_sigv4::spans=debug");
    let _ = tracing_subscriber::registry()
        .with(lines(FORMAT.get().copied().unwrap_or_default()).with_filter(filter))
        .with(exported.map(|layer| layer.with_filter(exported_filter)))
        .try_init();
}

/// Libraries whose events repeat, in their own terms, what the command says
/// once in the user's: aws_config's credential chain warns once per provider
/// it tried, with a Debug dump of each cause, and rmcp's worker logs the error
/// its caller is about to report. Logged only from `debug` on.
const QUIET_BELOW_DEBUG: [&str; 2] = ["aws_config", "rmcp::transport::worker"];

/// `spec` with [`QUIET_BELOW_DEBUG`] turned off, unless it logs at `debug` or
/// `trace` or names one of them itself.
///
/// ```text
/// info        -> info,aws_config=off,rmcp::transport::worker=off
/// debug       -> debug
/// info,aws_config=warn -> info,aws_config=warn,rmcp::transport::worker=off
/// ```
fn quiet_libraries(spec: &str) -> String {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    if parts.iter().any(|part| matches!(*part, "debug" | "trace")) {
        return spec.to_owned();
    }
    let mut quiet = spec.to_owned();
    for target in QUIET_BELOW_DEBUG {
        let named = parts
            .iter()
            .any(|part| part.split('=').next() == Some(target));
        if !named {
            quiet.push_str(&format!(",{target}=off"));
        }
    }
    quiet
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
            .fmt_fields(JsonFields::new())
            .event_format(WithTraceId(
                format::Format::default()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(true),
            ))
            .boxed(),
    }
}

/// A JSON line format that puts the `trace_id` of the span an event happened
/// in at the top of its object, so that every line logged while a request is
/// served names its trace, however deep the span it was logged in.
struct WithTraceId<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some(trace_id) = crate::telemetry::traces::current_trace_id() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(writer, "{{\"trace_id\":\"{trace_id}\",{rest}"),
            None => writer.write_str(&line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quiet_libraries;

    #[test]
    fn chatty_libraries_are_quiet_below_debug() {
        assert_eq!(
            quiet_libraries("info"),
            "info,aws_config=off,rmcp::transport::worker=off"
        );
        assert_eq!(quiet_libraries("debug"), "debug");
        assert_eq!(
            quiet_libraries("warn,mcp_sigv4=trace,trace"),
            "warn,mcp_sigv4=trace,trace"
        );
        assert_eq!(
            quiet_libraries("info,aws_config=warn"),
            "info,aws_config=warn,rmcp::transport::worker=off"
        );
    }
}
