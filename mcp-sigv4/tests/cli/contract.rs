//! The proxy's contract with its host (issue 27): the replies it makes up
//! itself (`server/discover` for a legacy server, `initialize` for a modern
//! one, `ping`, an `InputRequiredResult`, its errors) and every reply it
//! relays from a server of the other era are valid in the host's era, read
//! into the typed results of that revision's published schema
//! (`support/schema.rs`).

use serde_json::{Value, json};

use crate::era_server::{self, Kind};
use crate::eras::{modern, proxy};
use crate::initialize;
use crate::schema::{Era, check};

/// Send `request` and check the reply to it as `era`'s.
async fn ask(cli: &mut crate::Cli, era: Era, request: &Value) -> Value {
    cli.send(&request.to_string()).await;
    let id = request["id"].as_i64().unwrap();
    let (reply, _) = cli.recv_id(id).await;
    check(era, request["method"].as_str().unwrap(), &reply);
    reply
}

fn parsed(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

#[tokio::test]
async fn a_modern_host_gets_2026_results_from_a_legacy_only_server() {
    let server = era_server::start(Kind::LegacyOnly).await;
    let mut cli = proxy(&server);
    let sampling = |id: i64, method: &str, params: Value| {
        let mut request = parsed(&modern(id, method, params));
        request["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
            json!({"sampling": {}});
        request
    };
    let discover = ask(
        &mut cli,
        Era::Modern,
        &sampling(1, "server/discover", json!({})),
    )
    .await;
    assert!(
        discover["result"]["capabilities"]["tools"].is_object(),
        "{discover}"
    );
    let list = ask(&mut cli, Era::Modern, &sampling(2, "tools/list", json!({}))).await;
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        6,
        "{list}"
    );
    for (id, method) in [(3, "prompts/list"), (4, "resources/list")] {
        ask(&mut cli, Era::Modern, &sampling(id, method, json!({}))).await;
    }
    let echo = json!({"name": "echo", "arguments": {"text": "hi"}});
    let call = ask(&mut cli, Era::Modern, &sampling(5, "tools/call", echo)).await;
    assert_eq!(call["result"]["content"][0]["text"], "hi", "{call}");
    // The server's sampling request, as the proxy's InputRequiredResult.
    let ask_model = json!({"name": "ask_model", "arguments": {}});
    let asked = ask(
        &mut cli,
        Era::Modern,
        &sampling(6, "tools/call", ask_model.clone()),
    )
    .await;
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let key = result["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let mut retry = sampling(7, "tools/call", ask_model);
    retry["params"]["inputResponses"] = json!({key: {
        "role": "assistant", "content": {"type": "text", "text": "42"},
        "model": "test-model", "stopReason": "endTurn"
    }});
    retry["params"]["requestState"] = result["requestState"].clone();
    let answered = ask(&mut cli, Era::Modern, &retry).await;
    assert_eq!(
        answered["result"]["content"][0]["text"],
        "the model said 42"
    );
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn a_legacy_host_gets_2025_results_from_a_modern_only_server() {
    let server = era_server::start(Kind::ModernOnly).await;
    let mut cli = proxy(&server);
    let mut init = parsed(&initialize(1));
    init["params"]["protocolVersion"] = json!("2025-11-25");
    let initialized = ask(&mut cli, Era::Legacy, &init).await;
    assert_eq!(initialized["result"]["protocolVersion"], "2025-11-25");
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let request = |id: i64, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let list = ask(&mut cli, Era::Legacy, &request(2, "tools/list", json!({}))).await;
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        6,
        "{list}"
    );
    ask(&mut cli, Era::Legacy, &request(3, "ping", json!({}))).await;
    let echo = json!({"name": "echo", "arguments": {"text": "hi"}});
    let call = ask(&mut cli, Era::Legacy, &request(4, "tools/call", echo)).await;
    assert_eq!(call["result"]["content"][0]["text"], "hi", "{call}");
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}
