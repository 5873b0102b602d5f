//! OpenTelemetry traces from the gateway to an OTLP/HTTP receiver on 127.0.0.1:
//! the client's `traceparent` continued, the upstream request a child span, and
//! the upstream handed the child's `traceparent`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;
use tokio::net::TcpListener;

use crate::{Gateway, LIMIT, initialize, rpc, send, server, text, upstream, upstreams};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

/// What the receiver was sent: each POST's path and body.
type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

/// An OTLP/HTTP receiver: accepts every POST and answers an empty (valid)
/// export response.
async fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let kept = kept.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    kept.lock().unwrap().push((path, body));
                    let mut response = Response::new(Full::new(Bytes::new()));
                    response.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("application/x-protobuf"),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), received)
}

/// Every span received so far, with its resource's `service.name`.
fn spans(received: &Received) -> Vec<(String, Span)> {
    let mut all = Vec::new();
    for (path, body) in received.lock().unwrap().iter() {
        assert_eq!(path, "/v1/traces");
        let export = ExportTraceServiceRequest::decode(body.clone()).expect("OTLP protobuf");
        for resource in export.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| string_attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                all.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    all
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

#[tokio::test]
async fn a_call_is_traced_from_the_clients_traceparent_to_the_upstream() {
    let (endpoint, received) = receiver().await;
    let up = upstreams().await;
    let gateway = Gateway::start_with_env(
        &up.config(""),
        &[],
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
    let deadline = tokio::time::Instant::now() + LIMIT;
    let spans = loop {
        let spans = spans(&received);
        if spans.iter().any(|(_, s)| is_call(s)) || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
        string_attribute(&call.attributes, "mcp.server").as_deref(),
        Some("tools")
    );
    assert_eq!(
        string_attribute(&call.attributes, "gen_ai.tool.name").as_deref(),
        Some("whoami")
    );
    assert_eq!(
        string_attribute(&call.attributes, "http.response.status_code").as_deref(),
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
        string_attribute(&request.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    // The upstream got the call span's own traceparent.
    let expected = format!("00-{TRACE_ID}-{}-01", hex::encode(&call.span_id));
    let seen = up.tools.traceparents.lock().unwrap().clone();
    assert!(seen.contains(&expected), "{expected} not in {seen:?}");
    // Nothing secret was exported.
    let exported: Vec<u8> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, body)| body.to_vec())
        .collect();
    let exported = String::from_utf8_lossy(&exported);
    for secret in [upstream::TOKEN, server::SECRET_KEY, server::SESSION_TOKEN] {
        assert!(
            !exported.contains(secret),
            "an exported span shows a secret"
        );
    }
}
