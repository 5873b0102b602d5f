//! The proxy passes on what it does not need to understand: fields no rmcp type
//! knows (a 2025-11-25 task-augmented `tools/call`'s `params.task`, an
//! extension's `params.x_ext`, a `_meta` key of another vendor) reach the server
//! as the host sent them, and a result and a notification carrying such fields
//! reach the host as the server sent them, in both eras and both reply shapes
//! (one JSON body, an event stream).

use serde_json::{Value, json};

use crate::era_server::{self, EraStandIn, Kind, RAW_TOOL, raw_notification, raw_result};
use crate::eras::{modern, proxy};
use crate::{Cli, initialize};

/// The fields of a call to the raw tool that rmcp's `CallToolRequestParams` has
/// no place for, beside ones it has.
fn unknown_fields(shape: &str) -> Value {
    json!({
        "name": RAW_TOOL,
        "arguments": {"shape": shape, "deep": {"list": [1, "two", null]}},
        "task": {"ttl": 60000},
        "x_ext": {"nested": {"a": [1, {"b": false}]}, "text": "é"},
    })
}

/// `params` with `_meta` keys of another vendor added to whatever `_meta` it has.
fn with_foreign_meta(mut params: Value) -> Value {
    params["_meta"]["io.example/trace"] = json!("t-0");
    params["_meta"]["io.example/baggage"] = json!({"k": ["v"]});
    params
}

/// Call the raw tool in each reply shape with `request(id, params)`, and check
/// both directions: what the server received, and what reached the host.
async fn round_trip(
    cli: &mut Cli,
    server: &EraStandIn,
    modern_era: bool,
    request: impl Fn(i64, Value) -> Value,
) {
    for (id, shape) in [(10, "json"), (11, "sse")] {
        let sent = request(id, unknown_fields(shape));
        cli.send(&sent.to_string()).await;
        let (reply, before) = cli.recv_id(id).await;
        let calls = server.seen_method("tools/call");
        let received = calls
            .iter()
            .find(|c| c.body["params"]["arguments"]["shape"] == shape)
            .unwrap_or_else(|| panic!("{shape}: no call reached the server"));
        assert_eq!(
            received.body["params"], sent["params"],
            "{shape}: the server received other params than the host sent"
        );
        assert_eq!(reply["result"], raw_result(modern_era), "{shape}: {reply}");
        if shape == "sse" {
            assert!(
                before.contains(&raw_notification()),
                "the server's notification did not reach the host unchanged: {before:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_modern_hosts_unknown_fields_reach_the_server_and_the_servers_come_back() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);
    round_trip(&mut cli, &server, true, |id, params| {
        let mut request: Value =
            serde_json::from_str(&modern(id, "tools/call", json!({}))).unwrap();
        let meta = request["params"]["_meta"].take();
        request["params"] = params;
        request["params"]["_meta"] = meta;
        request["params"] = with_foreign_meta(request["params"].take());
        request
    })
    .await;
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn a_legacy_hosts_unknown_fields_reach_the_server_and_the_servers_come_back() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);
    let mut init: Value = serde_json::from_str(&initialize(1)).unwrap();
    init["params"]["protocolVersion"] = json!("2025-11-25");
    cli.send(&init.to_string()).await;
    let (reply, _) = cli.recv_id(1).await;
    assert!(reply["result"]["protocolVersion"].is_string(), "{reply}");
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    round_trip(&mut cli, &server, false, |id, params| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": with_foreign_meta(params)})
    })
    .await;
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
    // No `"params": null` added where the host sent none (the TypeScript SDK's
    // servers refuse it).
    let initialized = server.seen_method("notifications/initialized");
    assert_eq!(
        initialized.first().map(|s| &s.body),
        Some(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    );
}

#[tokio::test]
async fn a_hosts_answer_to_a_server_request_reaches_the_server_as_the_host_sent_it() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);
    let mut init: Value = serde_json::from_str(&initialize(1)).unwrap();
    init["params"]["protocolVersion"] = json!("2025-11-25");
    init["params"]["capabilities"] = json!({"sampling": {}});
    cli.send(&init.to_string()).await;
    cli.recv_id(1).await;
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "ask_model", "arguments": {}}});
    cli.send(&call.to_string()).await;
    let asked = cli.recv().await;
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    // rmcp's `CreateMessageResult` has no place for `x_ext` or the vendor key.
    let result = json!({
        "role": "assistant", "content": {"type": "text", "text": "42"},
        "model": "test-model", "stopReason": "endTurn",
        "x_ext": {"tokens": [3, 4]}, "_meta": {"io.example/trace": "t-3"},
    });
    let answer = json!({"jsonrpc": "2.0", "id": asked["id"], "result": result});
    cli.send(&answer.to_string()).await;
    let (reply, _) = cli.recv_id(2).await;
    assert_eq!(
        reply["result"]["content"][0]["text"], "the model said 42",
        "{reply}"
    );
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
    let answers: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method.is_none() && s.body.get("result").is_some())
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].body["result"], result);
}
