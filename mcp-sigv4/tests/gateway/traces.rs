//! OpenTelemetry traces from the gateway to an OTLP/HTTP receiver on 127.0.0.1:
//! the client's `traceparent` continued, the upstream request a child span, and
//! the upstream handed the child's `traceparent`.

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;

use crate::{Gateway, LIMIT, initialize, otlp, rpc, send, server, text, upstream, upstreams};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[tokio::test]
async fn a_call_is_traced_from_the_clients_traceparent_to_the_upstream() {
    let (endpoint, received) = otlp::receiver().await;
    let up = upstreams().await;
    let gateway = Gateway::start_with_env(
        &up.config(""),
        &["--log-format", "json", "--log-level", "debug"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "gateway-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let url = format!("{}/mcp/tools", gateway.base);
    let answer = send(
        "POST",
        &url,
        &[("traceparent", &traceparent)],
        Some(&initialize()),
    )
    .await;
    let session = answer.session.clone().expect("a session id");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    send("POST", &url, &headers, Some(&initialized)).await;
    let call = send(
        "POST",
        &url,
        &headers,
        Some(&rpc(2, "tools/call", json!({"name": "whoami"}))),
    )
    .await;
    assert_eq!(text(&call), "the bearer-protected server");

    // Batches leave every 100 ms; wait (bounded) for the call's span.
    let is_call = |span: &Span| span.name == "tools/call whoami";
    let spans = otlp::wait_for(&received, LIMIT, is_call).await;
    let (service, call) = spans
        .iter()
        .find(|(_, s)| is_call(s))
        .unwrap_or_else(|| panic!("no tools/call span in {spans:?}"));
    assert_eq!(service, "gateway-under-test");
    assert_eq!(
        hex::encode(&call.trace_id),
        TRACE_ID,
        "the client's trace continued"
    );
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert_eq!(
        otlp::string_attribute(&call.attributes, "mcp.server").as_deref(),
        Some("tools")
    );
    assert_eq!(
        otlp::string_attribute(&call.attributes, "gen_ai.tool.name").as_deref(),
        Some("whoami")
    );
    assert_eq!(
        otlp::string_attribute(&call.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    // Its parent is the client request's span, whose parent is the client's.
    let (_, request) = spans
        .iter()
        .find(|(_, s)| s.span_id == call.parent_span_id)
        .unwrap_or_else(|| panic!("the call's parent span is missing from {spans:?}"));
    assert_eq!(request.name, "POST /mcp/{server}");
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(hex::encode(&request.parent_span_id), PARENT_ID);
    assert_eq!(
        otlp::string_attribute(&request.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    // The upstream got the call span's own traceparent.
    let expected = format!("00-{TRACE_ID}-{}-01", hex::encode(&call.span_id));
    let seen = up.tools.traceparents.lock().unwrap().clone();
    assert!(seen.contains(&expected), "{expected} not in {seen:?}");
    // A log line in a request's span names the trace.
    let refused = send(
        "POST",
        &url,
        &[("traceparent", &traceparent), ("host", "elsewhere.example")],
        Some(&initialize()),
    )
    .await;
    assert_eq!(refused.status, http::StatusCode::FORBIDDEN, "{refused:?}");
    let log = gateway.stderr();
    let line: serde_json::Value = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .find(|line: &serde_json::Value| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("refused a request"))
        })
        .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
    assert_eq!(line["span"]["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    // So does every line logged deeper, inside an upstream request.
    let upstream_lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["name"] == "upstream request"))
        })
        .collect();
    assert!(
        !upstream_lines.is_empty(),
        "no line inside an upstream request:\n{log}"
    );
    for line in &upstream_lines {
        assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    }
    // Nothing secret was exported.
    let exported = otlp::exported_text(&received);
    for secret in [upstream::TOKEN, server::SECRET_KEY, server::SESSION_TOKEN] {
        assert!(
            !exported.contains(secret),
            "an exported span shows a secret"
        );
    }
}
