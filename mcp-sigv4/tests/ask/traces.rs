//! `mcp-sigv4 ask` with traces on: one run span, a child span per Converse call
//! (model, stop reason, token usage) and per tool call, sent to an OTLP/HTTP
//! receiver on 127.0.0.1.

use serde_json::json;

use crate::bedrock::{self, Turn, tool_use};
use crate::mcp::{self, Guard};
use crate::{MODEL, SECRET_KEY, ask_with_env, otlp};

#[tokio::test]
async fn a_run_is_one_trace_of_converse_calls_and_tool_calls() {
    let (endpoint, received) = otlp::receiver().await;
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    let bedrock = bedrock::scripted(vec![
        Turn::new(
            vec![tool_use("tu-release", "release", json!({}))],
            "tool_use",
        ),
        Turn::text("All done."),
    ])
    .await;
    let url = server.url();
    let run = ask_with_env(
        &bedrock,
        &[
            "--mcp",
            &url,
            "--service",
            "bedrock-agentcore",
            "--region",
            crate::REGION,
            "What happened?",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SERVICE_NAME", "ask-under-test"),
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    // The spans are flushed before the process exits.
    let spans = otlp::spans(&received);
    let named = |name: &str| -> Vec<_> {
        spans
            .iter()
            .filter(|(_, s)| s.name == name)
            .map(|(_, s)| s)
            .collect()
    };
    let runs = named(&format!("invoke_agent {MODEL}"));
    assert_eq!(runs.len(), 1, "{spans:?}");
    let root = runs[0];
    assert!(spans.iter().all(|(service, _)| service == "ask-under-test"));
    assert_eq!(
        otlp::string_attribute(&root.attributes, "turns").as_deref(),
        Some("2")
    );
    let chats = named(&format!("chat {MODEL}"));
    assert_eq!(chats.len(), 2, "{spans:?}");
    let mut reasons = Vec::new();
    for chat in &chats {
        assert_eq!(chat.parent_span_id, root.span_id, "a child of the run");
        assert_eq!(chat.trace_id, root.trace_id);
        let attribute = |key| otlp::string_attribute(&chat.attributes, key);
        assert_eq!(attribute("gen_ai.request.model").as_deref(), Some(MODEL));
        assert_eq!(
            attribute("gen_ai.usage.input_tokens").as_deref(),
            Some("10")
        );
        assert_eq!(
            attribute("gen_ai.usage.output_tokens").as_deref(),
            Some("5")
        );
        reasons.extend(attribute("gen_ai.response.finish_reasons"));
    }
    reasons.sort();
    assert_eq!(reasons, ["end_turn", "tool_use"]);
    let tools = named("execute_tool release");
    assert_eq!(tools.len(), 1, "{spans:?}");
    assert_eq!(tools[0].parent_span_id, root.span_id);
    assert_eq!(
        otlp::string_attribute(&tools[0].attributes, "mcp.server"),
        Some(server.name())
    );
    assert_eq!(
        otlp::string_attribute(&tools[0].attributes, "gen_ai.tool.call.id").as_deref(),
        Some("tu-release")
    );
    assert!(
        !otlp::exported_text(&received).contains(SECRET_KEY),
        "an exported span shows the secret key"
    );
}
