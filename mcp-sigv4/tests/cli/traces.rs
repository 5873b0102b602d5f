//! The proxy with traces on: a host request's span continues the trace of its
//! `params._meta.traceparent`, and the upstream gets the span's `traceparent`
//! as a signed header.

use serde_json::json;

use crate::endpoint::{self, Behaviour};
use crate::server::{SECRET_KEY, SESSION_TOKEN};
use crate::{Cli, credentials_env, initialize, otlp};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";

#[tokio::test]
async fn a_host_request_continues_its_meta_traceparent_to_a_signed_header() {
    let (collector, received) = otlp::receiver().await;
    let endpoint = endpoint::start(Behaviour::default()).await;
    let url = endpoint.url();
    let mut env = credentials_env();
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
        ("OTEL_SERVICE_NAME", "proxy-under-test"),
    ]);
    let args = [
        "proxy",
        url.as_str(),
        "--service",
        "bedrock-agentcore",
        "--region",
        "us-east-1",
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ];
    let mut cli = Cli::spawn(&args, &env);
    cli.send(&initialize(0)).await;
    cli.recv_id(0).await;
    let traceparent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list",
        "params": {"_meta": {"traceparent": traceparent}}});
    cli.send(&list.to_string()).await;
    let (listed, _) = cli.recv_id(1).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");

    // Flushed at exit.
    let spans = otlp::spans(&received);
    let (service, span) = spans
        .iter()
        .find(|(_, s)| s.name == "tools/list proxy")
        .unwrap_or_else(|| panic!("no tools/list span in {spans:?}"));
    assert_eq!(service, "proxy-under-test");
    assert_eq!(hex::encode(&span.trace_id), TRACE_ID);
    assert_eq!(hex::encode(&span.parent_span_id), PARENT_ID);
    let expected = format!("00-{TRACE_ID}-{}-01", hex::encode(&span.span_id));
    let seen = endpoint.seen.traceparents.lock().unwrap().clone();
    assert!(
        seen.contains(&(expected.clone(), true)),
        "{expected}, signed, not in {seen:?}"
    );
    // Every line logged while the host's tools/list was served names its
    // trace at the top level, the signer's among them.
    let in_list: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| {
            line["spans"].as_array().is_some_and(|spans| {
                spans
                    .iter()
                    .any(|s| s["name"] == "host request" && s["mcp.method.name"] == "tools/list")
            })
        })
        .collect();
    assert!(
        in_list.iter().any(|l| l["target"] == "tower_sigv4::signer"),
        "no signer line in the tools/list request:\n{stderr}"
    );
    for line in &in_list {
        assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    }
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(!stderr.contains(secret), "a JSON log line shows a secret");
    }
    let exported = otlp::exported_text(&received);
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(
            !exported.contains(secret),
            "an exported span shows a secret"
        );
    }
}
