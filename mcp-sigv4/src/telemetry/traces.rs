//! OpenTelemetry traces over OTLP (HTTP/protobuf), on only when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set. The SDK reads the rest of the standard variables itself:
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (the service is
//! `mcp-sigv4` when neither names one), `OTEL_TRACES_SAMPLER` and its argument,
//! `OTEL_BSP_*` for batching, `OTEL_EXPORTER_OTLP_HEADERS` for a collector's key.
//!
//! `tracing` spans become OpenTelemetry spans through `tracing-opentelemetry`.
//! A W3C `traceparent` (and `tracestate`) is continued from a client's headers,
//! and the current span's is added to the headers of upstream requests, where
//! the signer signs it like any other header.

use std::collections::HashMap;
use std::sync::OnceLock;

use ::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether the environment asks for traces.
pub fn wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
        && std::env::var("OTEL_SDK_DISABLED").map_or(true, |v| !v.eq_ignore_ascii_case("true"))
}

/// The layer that exports spans, when [`wanted`]; `Err` says why it cannot be
/// built. Call it before any async runtime starts: the exporter's HTTP client
/// runs on a thread of its own.
pub fn layer<S>() -> Result<Option<Box<dyn Layer<S> + Send + Sync>>, String>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    if !wanted() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| {
            format!("cannot export traces over OTLP: {e}; check OTEL_EXPORTER_OTLP_ENDPOINT")
        })?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name="));
    if !named {
        resource = resource.with_service_name("mcp-sigv4");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("mcp-sigv4");
    let _ = PROVIDER.set(provider);
    Ok(Some(
        tracing_opentelemetry::layer().with_tracer(tracer).boxed(),
    ))
}

/// Export the spans still batched; call it once, outside any async runtime,
/// before the process exits.
pub fn finish() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown()
    {
        eprintln!("mcp-sigv4: the last traces were not exported: {e}");
    }
}

/// Make `span` continue the trace of a client's `traceparent` header, if any.
pub fn continue_from(span: &tracing::Span, headers: &HeaderMap) {
    if PROVIDER.get().is_none() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
}

/// Add the current span's `traceparent` (and `tracestate`) to `headers`, when
/// traces are exported.
pub fn inject(headers: &mut HashMap<HeaderName, HeaderValue>) {
    if PROVIDER.get().is_none() {
        return;
    }
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut Outgoing(headers));
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct Outgoing<'a>(&'a mut HashMap<HeaderName, HeaderValue>);

impl Injector for Outgoing<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The span of one client request to the gateway, continuing the client's
/// trace. `http.response.status_code` is recorded when the answer is known.
pub fn client_span(method: &::http::Method, route: &str, headers: &HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "gateway request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    continue_from(&span, headers);
    record_trace_id(&span);
    span
}

/// The trace id of the current span, when traces are exported and it has one:
/// for the `trace_id` of JSON log lines.
pub fn current_trace_id() -> Option<TraceId> {
    PROVIDER.get()?;
    let trace_id = tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id();
    (trace_id != TraceId::INVALID).then_some(trace_id)
}

/// Record `span`'s trace id in its `trace_id` field, so that the log lines of
/// the events in it (`--log-format json`: `span`, `spans`) name the trace.
fn record_trace_id(span: &tracing::Span) {
    if PROVIDER.get().is_none() {
        return;
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// The span of one MCP request to one server, named as OpenTelemetry's MCP
/// conventions name it (`{mcp.method.name} {target}`).
pub fn upstream_span(server: &str, message: &serde_json::Value) -> tracing::Span {
    let method = message
        .get("method")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("response");
    let tool = message
        .pointer("/params/name")
        .and_then(serde_json::Value::as_str)
        .filter(|_| method == "tools/call");
    tracing::info_span!(
        "upstream request",
        otel.name = %format_args!("{method} {}", tool.unwrap_or(server)),
        otel.kind = "client",
        mcp.server = server,
        mcp.method.name = method,
        gen_ai.tool.name = tool,
        http.response.status_code = tracing::field::Empty,
        http.request.resend_count = tracing::field::Empty,
    )
}

/// The span of opening one server's GET event stream.
pub fn stream_span(server: &str) -> tracing::Span {
    tracing::info_span!(
        "upstream request",
        otel.name = %format_args!("GET {server}"),
        otel.kind = "client",
        mcp.server = server,
        http.response.status_code = tracing::field::Empty,
        http.request.resend_count = tracing::field::Empty,
    )
}

/// The span of one `mcp-sigv4 ask` run: every Converse call and tool call is
/// its child.
pub fn ask_span(model: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "ask",
        otel.name = %format_args!("invoke_agent {model}"),
        gen_ai.operation.name = "invoke_agent",
        gen_ai.request.model = model,
        turns = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    record_trace_id(&span);
    span
}

/// The span of one Converse (or ConverseStream) call, as OpenTelemetry's GenAI
/// conventions name it; the stop reason and token usage are recorded with
/// [`record_turn`].
pub fn chat_span(model: &str) -> tracing::Span {
    tracing::info_span!(
        "converse",
        otel.name = %format_args!("chat {model}"),
        otel.kind = "client",
        gen_ai.operation.name = "chat",
        gen_ai.system = "aws.bedrock",
        gen_ai.request.model = model,
        gen_ai.response.finish_reasons = tracing::field::Empty,
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
    )
}

/// Record a Converse call's stop reason and, when Bedrock gave it, its token
/// usage on the current span (a [`chat_span`]).
pub fn record_turn(stop_reason: &str, usage: Option<(i32, i32)>) {
    let span = tracing::Span::current();
    span.record("gen_ai.response.finish_reasons", stop_reason);
    if let Some((input, output)) = usage {
        span.record("gen_ai.usage.input_tokens", input);
        span.record("gen_ai.usage.output_tokens", output);
    }
}

/// The span of one tool call the model asked for.
pub fn tool_span(tool: &str, tool_use_id: &str) -> tracing::Span {
    tracing::info_span!(
        "tool call",
        otel.name = %format_args!("execute_tool {tool}"),
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = tool,
        gen_ai.tool.call.id = tool_use_id,
        mcp.server = tracing::field::Empty,
    )
}

/// The span of one request from a proxy's host, continuing the trace of its
/// `params._meta.traceparent` (and `tracestate`) when the host sent one.
pub fn host_span(message: &serde_json::Value) -> tracing::Span {
    let method = message
        .get("method")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let tool = message
        .pointer("/params/name")
        .and_then(serde_json::Value::as_str)
        .filter(|_| method == "tools/call");
    let span = tracing::info_span!(
        "host request",
        otel.name = %format_args!("{method} {}", tool.unwrap_or("proxy")),
        otel.kind = "client",
        mcp.method.name = method,
        gen_ai.tool.name = tool,
        http.request.resend_count = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if PROVIDER.get().is_some()
        && let Some(meta) = message
            .pointer("/params/_meta")
            .and_then(serde_json::Value::as_object)
        && meta.contains_key("traceparent")
    {
        let parent = TraceContextPropagator::new().extract(&Meta(meta));
        let _ = span.set_parent(parent);
    }
    record_trace_id(&span);
    span
}

struct Meta<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Extractor for Meta<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(serde_json::Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// The headers signed on upstream requests: the signer's default, plus
/// `traceparent` and `tracestate`, which the default leaves out (a tracing
/// proxy may rewrite them) but which AgentCore takes for its own traces when
/// they are signed.
pub fn signed_headers() -> tower_sigv4::SignedHeaders {
    tower_sigv4::SignedHeaders::excluding(
        tower_sigv4::SignedHeaders::DEFAULT_EXCLUDED
            .iter()
            .filter(|name| !matches!(**name, "traceparent" | "tracestate")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_context_is_signed_and_the_rest_of_the_default_kept() {
        let signed = signed_headers();
        assert!(signed.signs("traceparent") && signed.signs("tracestate"));
        assert!(!signed.signs("user-agent") && !signed.signs("authorization"));
        assert!(signed.signs("mcp-session-id"));
    }

    #[test]
    fn a_hosts_meta_traceparent_is_read() {
        let meta = serde_json::json!({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"});
        let meta = meta.as_object().unwrap();
        let context = TraceContextPropagator::new().extract(&Meta(meta));
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }
}
