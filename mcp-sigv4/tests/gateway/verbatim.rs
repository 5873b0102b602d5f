//! The gateway passes on what it does not need to understand: fields no rmcp
//! type knows (a 2025-11-25 task-augmented `tools/call`'s `params.task`, an
//! extension's `params.x_ext`, a `_meta` key of another vendor) reach the
//! server as the client sent them, and a result and a notification carrying
//! such fields reach the client as the server sent them, in both eras and both
//! reply shapes (one JSON body, an event stream).

use http::StatusCode;
use serde_json::{Value, json};

use crate::era_server::{EraStandIn, RAW_TOOL, raw_notification, raw_result};
use crate::eras::{eras, modern, post_modern};
use crate::{Answer, Gateway, open, rpc, send};

/// A call to the raw tool with fields rmcp's `CallToolRequestParams` has no
/// place for, `_meta` keys of another vendor added to the `_meta` of `base`.
fn call(id: i64, name: &str, shape: &str, mut base: Value) -> Value {
    let params = &mut base["params"];
    params["name"] = json!(name);
    params["arguments"] = json!({"shape": shape, "deep": {"list": [1, "two", null]}});
    params["task"] = json!({"ttl": 60000});
    params["x_ext"] = json!({"nested": {"a": [1, {"b": false}]}, "text": "é"});
    params["_meta"]["io.example/trace"] = json!("t-0");
    params["_meta"]["io.example/baggage"] = json!({"k": ["v"]});
    base["id"] = json!(id);
    base
}

/// What reached the client and the server agree with what was sent.
fn assert_verbatim(
    server: &EraStandIn,
    shape: &str,
    sent: &Value,
    answer: &Answer,
    modern_era: bool,
) {
    assert_eq!(answer.status, StatusCode::OK, "{shape}: {answer:?}");
    let calls = server.seen_method("tools/call");
    let received = calls
        .iter()
        .rfind(|c| c.body["params"]["arguments"]["shape"] == shape)
        .unwrap_or_else(|| panic!("{shape}: no call reached the server"));
    let mut expected = sent["params"].clone();
    expected["name"] = json!(RAW_TOOL);
    assert_eq!(
        received.body["params"], expected,
        "{shape}: the server received other params than the client sent"
    );
    assert_eq!(
        answer.reply()["result"],
        raw_result(modern_era),
        "{shape}: {answer:?}"
    );
    if shape == "sse" {
        assert!(
            answer.messages.contains(&raw_notification()),
            "the server's notification did not reach the client unchanged: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_modern_clients_unknown_fields_reach_the_server_and_the_servers_come_back() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    for (id, shape) in [(10, "json"), (11, "sse")] {
        let sent = call(id, RAW_TOOL, shape, modern(id, "tools/call", json!({})));
        let answer = post_modern(&gateway, "/mcp/dual", &sent).await;
        assert_verbatim(&eras.dual, shape, &sent, &answer, true);
    }
}

#[tokio::test]
async fn a_legacy_clients_unknown_fields_reach_the_server_and_the_servers_come_back() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let session = open(&gateway, "/mcp/dual", &[]).await;
    let url = format!("{}/mcp/dual", gateway.base);
    for (id, shape) in [(10, "json"), (11, "sse")] {
        let sent = call(id, RAW_TOOL, shape, rpc(id, "tools/call", json!({})));
        let answer = send(
            "POST",
            &url,
            &[
                ("mcp-session-id", session.as_str()),
                ("mcp-protocol-version", "2025-11-25"),
            ],
            Some(&sent),
        )
        .await;
        assert_verbatim(&eras.dual, shape, &sent, &answer, false);
    }
}

#[tokio::test]
async fn through_the_aggregated_endpoint_only_the_prefixed_name_changes() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let name = format!("dual-{RAW_TOOL}");
    for (id, shape) in [(10, "json"), (11, "sse")] {
        let sent = call(id, &name, shape, modern(id, "tools/call", json!({})));
        let answer = post_modern(&gateway, "/mcp", &sent).await;
        assert_verbatim(&eras.dual, shape, &sent, &answer, true);
    }
    let session = open(&gateway, "/mcp", &[]).await;
    let url = format!("{}/mcp", gateway.base);
    for (id, shape) in [(12, "json"), (13, "sse")] {
        let sent = call(id, &name, shape, rpc(id, "tools/call", json!({})));
        let headers = [("mcp-session-id", session.as_str())];
        let answer = send("POST", &url, &headers, Some(&sent)).await;
        assert_verbatim(&eras.dual, shape, &sent, &answer, false);
    }
}
