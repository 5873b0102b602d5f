//! Hosts and servers of both MCP protocol eras, through the real `mcp-sigv4
//! proxy`: a 2026-07-28 host as raw stdio JSON-RPC with the `_meta` envelope, a
//! 2025 host with `initialize`, against rmcp servers that speak both eras, only
//! the legacy one, or only 2026-07-28. What each request carried is asserted at
//! the server: the modern headers, and that they were signed.

use serde_json::{Value, json};

use crate::era_server::{self, EraStandIn, Kind};
use crate::header_server::{self, HeaderStandIn, Mode as HeaderMode};
use crate::{Cli, credentials_env, initialize};

const MODERN: &str = "2026-07-28";

/// A 2026-07-28 request: the envelope in `params._meta`.
pub(crate) fn modern(id: i64, method: &str, mut params: Value) -> String {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-host", "version": "1"},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

fn legacy(id: i64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

pub(crate) fn proxy(server: &EraStandIn) -> Cli {
    Cli::proxy(&server.url(), "bedrock-agentcore", &[], &credentials_env())
}

fn text_of(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content in {reply}"))
}

/// Every request the server got from a modern host: the modern headers, equal
/// to the body, and each of them signed.
fn assert_modern_headers(server: &EraStandIn) {
    let seen = server.seen();
    assert!(!seen.is_empty());
    for request in seen {
        let Some(method) = request.method.as_deref() else {
            continue;
        };
        assert_eq!(
            request.header("mcp-protocol-version"),
            Some(MODERN),
            "{method}"
        );
        assert_eq!(request.header("mcp-method"), Some(method));
        for header in ["mcp-protocol-version", "mcp-method"] {
            assert!(request.is_signed(header), "{header} unsigned on {method}");
        }
        if method == "tools/call" {
            assert!(request.is_signed("mcp-name"), "Mcp-Name unsigned");
        }
        assert_eq!(request.http_method, http::Method::POST, "{method}");
        assert_ne!(method, "initialize");
    }
}

#[tokio::test]
async fn a_modern_host_reaches_a_dual_era_server_statelessly_with_signed_headers() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);

    cli.send(&modern(1, "server/discover", json!({}))).await;
    let (discover, _) = cli.recv_id(1).await;
    let versions = discover["result"]["supportedVersions"].as_array().unwrap();
    assert!(versions.contains(&json!(MODERN)), "{discover}");

    cli.send(&modern(2, "tools/list", json!({}))).await;
    let (list, _) = cli.recv_id(2).await;
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        6,
        "{list}"
    );

    // Three calls in flight at once: each its own signed POST.
    cli.send(&modern(
        3,
        "tools/call",
        json!({"name": "wetter-ä", "arguments": {}}),
    ))
    .await;
    cli.send(&modern(
        4,
        "tools/call",
        json!({"name": "lookup", "arguments": {"region": "eu-west-1", "key": "k"}}),
    ))
    .await;
    let mut count_request: Value =
        serde_json::from_str(&modern(5, "tools/call", json!({}))).unwrap();
    count_request["params"]["name"] = json!("count");
    count_request["params"]["arguments"] = json!({"steps": 3});
    count_request["params"]["_meta"]["progressToken"] = json!("p");
    cli.send(&count_request.to_string()).await;

    let mut replies = std::collections::HashMap::new();
    let mut progress = 0;
    while replies.len() < 3 {
        let message = cli.recv().await;
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "p");
            progress += 1;
        } else {
            replies.insert(message["id"].as_i64().unwrap(), message);
        }
    }
    assert_eq!(text_of(&replies[&3]), "sonnig");
    assert_eq!(text_of(&replies[&4]), "k@eu-west-1");
    assert_eq!(text_of(&replies[&5]), "counted to 3");
    assert_eq!(progress, 3, "every progress notification reached the host");

    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);

    assert_modern_headers(&server);
    let calls = server.seen_method("tools/call");
    let wetter = calls
        .iter()
        .find(|c| c.body["params"]["name"] == "wetter-ä")
        .unwrap();
    let name = wetter.header("mcp-name").unwrap();
    assert!(name.starts_with("=?base64?"), "non-ASCII Mcp-Name: {name}");
    let lookup = calls
        .iter()
        .find(|c| c.body["params"]["name"] == "lookup")
        .unwrap();
    assert_eq!(lookup.header("mcp-param-region"), Some("eu-west-1"));
    assert!(lookup.is_signed("mcp-param-region"));
    // No session: no initialize, no GET stream, no DELETE at exit.
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.http_method == http::Method::POST && s.header("mcp-session-id").is_none())
    );
}

#[tokio::test]
async fn a_legacy_host_is_bridged_to_a_modern_only_server_with_an_elicitation_both_ways() {
    let server = era_server::start(Kind::ModernOnly).await;
    let mut cli = proxy(&server);

    cli.send(&legacy(
        0,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "legacy-host", "version": "1"}
        }),
    ))
    .await;
    let (init, _) = cli.recv_id(0).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    assert!(
        init["result"]["capabilities"]["tools"].is_object(),
        "{init}"
    );
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;

    // 2026-07-28 has no ping: the relay answers the bridged host itself.
    cli.send(&legacy(9, "ping", json!({}))).await;
    let (pong, _) = cli.recv_id(9).await;
    assert_eq!(pong["result"], json!({}), "{pong}");
    cli.send(&legacy(1, "tools/list", json!({}))).await;
    let (list, _) = cli.recv_id(1).await;
    assert_eq!(
        list["result"]["tools"].as_array().unwrap().len(),
        6,
        "{list}"
    );

    cli.send(&legacy(
        2,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    ))
    .await;
    let (echo, _) = cli.recv_id(2).await;
    assert_eq!(text_of(&echo), "hi");

    // The server's InputRequiredResult reaches the host as elicitation/create.
    cli.send(&legacy(
        3,
        "tools/call",
        json!({"name": "confirm", "arguments": {}}),
    ))
    .await;
    let ask = cli.recv().await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], "Proceed?");
    let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "action": "accept", "content": {"ok": true}
    }});
    cli.send(&answer.to_string()).await;
    let (confirmed, _) = cli.recv_id(3).await;
    assert_eq!(text_of(&confirmed), "the user answered true");

    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);

    // The host's initialize was tried once; everything after went stateless,
    // stamped with the host's capabilities, and the retry carried the answer.
    assert_eq!(server.seen_method("initialize").len(), 1);
    let calls = server.seen_method("tools/call");
    for call in &calls {
        let meta = &call.body["params"]["_meta"];
        assert_eq!(meta["io.modelcontextprotocol/protocolVersion"], MODERN);
        assert_eq!(
            meta["io.modelcontextprotocol/clientCapabilities"],
            json!({"elicitation": {}})
        );
        assert_eq!(
            meta["io.modelcontextprotocol/clientInfo"]["name"],
            "legacy-host"
        );
        assert_eq!(call.header("mcp-protocol-version"), Some(MODERN));
        assert!(call.is_signed("mcp-method") && call.is_signed("mcp-name"));
    }
    // The instance pin the server set on its first answer went back on every
    // later request (AgentCore Runtime routes to a microVM by it).
    let seen = server.seen();
    assert!(
        seen.iter()
            .skip(2)
            .all(|s| s.header("mcp-session-id") == Some(era_server::PIN)),
        "{:?}",
        seen.iter()
            .map(|s| s.header("mcp-session-id"))
            .collect::<Vec<_>>()
    );
    let retry = calls
        .iter()
        .find(|c| c.body["params"]["inputResponses"].is_object())
        .expect("the retried request");
    assert_eq!(retry.body["params"]["requestState"], "state-1");
    assert_eq!(
        retry.body["params"]["inputResponses"]["confirm"]["content"]["ok"],
        true
    );
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.http_method == http::Method::POST)
    );
    assert!(
        server.seen_method("ping").is_empty(),
        "no ping reached the server"
    );
}

#[tokio::test]
async fn a_modern_host_reaches_a_legacy_only_server_through_a_session_opened_for_it() {
    let server = era_server::start(Kind::LegacyOnly).await;
    let mut cli = proxy(&server);

    cli.send(&modern(1, "server/discover", json!({}))).await;
    let (discover, _) = cli.recv_id(1).await;
    assert_eq!(
        discover["result"]["supportedVersions"],
        json!([MODERN]),
        "{discover}"
    );
    assert!(discover["result"]["capabilities"]["tools"].is_object());

    cli.send(&modern(
        2,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "old"}}),
    ))
    .await;
    let (echo, _) = cli.recv_id(2).await;
    assert_eq!(text_of(&echo), "old");
    cli.send(&modern(3, "tools/list", json!({}))).await;
    let (list, _) = cli.recv_id(3).await;
    assert_eq!(list["result"]["tools"].as_array().unwrap().len(), 6);

    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);

    // One discover probe refused, one initialize with the envelope's client
    // info, then the host's requests inside that session without the envelope.
    assert_eq!(server.seen_method("server/discover").len(), 1);
    let inits = server.seen_method("initialize");
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].body["params"]["clientInfo"]["name"], "modern-host");
    for call in server.seen_method("tools/call") {
        assert!(call.header("mcp-session-id").is_some());
        assert!(call.body["params"]["_meta"].is_null(), "{}", call.body);
        assert!(call.status.is_success());
    }
}

#[tokio::test]
async fn a_legacy_host_and_a_dual_era_server_keep_the_legacy_session() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);
    cli.send(&initialize(0)).await;
    let (init, _) = cli.recv_id(0).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    cli.send(&legacy(
        1,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "x"}}),
    ))
    .await;
    let (echo, _) = cli.recv_id(1).await;
    assert_eq!(text_of(&echo), "x");
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
    let calls = server.seen_method("tools/call");
    assert!(calls[0].header("mcp-session-id").is_some());
    assert_eq!(calls[0].header("mcp-protocol-version"), Some("2025-06-18"));
    assert!(calls[0].header("mcp-method").is_none());
}

#[tokio::test]
async fn a_subscription_is_relayed_event_by_event_and_re_sent_when_it_breaks() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);
    cli.send(&modern(
        1,
        "subscriptions/listen",
        json!({"notifications": {"toolsListChanged": true}}),
    ))
    .await;
    let (end, events) = cli.recv_id(1).await;
    assert_eq!(end["result"]["resultType"], "complete", "{end}");
    // The event of the broken stream, then the event of the re-sent one.
    let nths: Vec<i64> = events
        .iter()
        .filter(|e| e["method"] == "notifications/tools/list_changed")
        .map(|e| e["params"]["nth"].as_i64().unwrap())
        .collect();
    assert_eq!(nths, [0, 1]);
    assert_eq!(server.listens(), 2);
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn late_and_unknown_cancellations_are_forgotten_and_a_reused_id_is_answered() {
    let server = era_server::start(Kind::Dual).await;
    let mut cli = proxy(&server);
    cli.send(&modern(
        5,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "first"}}),
    ))
    .await;
    let (first, _) = cli.recv_id(5).await;
    assert_eq!(text_of(&first), "first");
    // A late cancel for 5, and a thousand for ids never sent.
    for id in std::iter::once(5).chain(1_000..2_000) {
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": "late"}});
        cli.send(&cancel.to_string()).await;
    }
    cli.send(&modern(
        5,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "again"}}),
    ))
    .await;
    let (again, _) = cli.recv_id(5).await;
    assert_eq!(text_of(&again), "again", "a reused id still gets its reply");
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn a_cancelled_subscription_ends_without_a_reply_and_the_server_hears_of_it() {
    let server = era_server::start(Kind::ModernOnly).await;
    let mut cli = proxy(&server);
    // A subscription the server holds open; the host cancels it after its event.
    cli.send(&modern(1, "subscriptions/listen", json!({"hold": true})))
        .await;
    let event = cli.recv().await;
    assert_eq!(event["method"], "notifications/tools/list_changed");
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 1, "reason": "host closed the view"}});
    cli.send(&cancel.to_string()).await;
    cli.send(&modern(
        2,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "next"}}),
    ))
    .await;
    let (next, before) = cli.recv_id(2).await;
    assert_eq!(text_of(&next), "next");
    assert!(
        before.iter().all(|m| m["id"] != 1),
        "a cancelled request got a reply: {before:?}"
    );
    // The upstream stream is closed while the proxy runs on (bounded wait).
    for _ in 0..200 {
        if server.listens_closed() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        server.listens_closed(),
        1,
        "the upstream listen stream is still open"
    );
    assert_eq!(server.listens(), 1);
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
    let cancels: Vec<_> = server
        .seen_method("notifications/cancelled")
        .into_iter()
        .filter(|s| s.body["params"]["requestId"] == 1)
        .collect();
    assert_eq!(cancels.len(), 1, "the server was told");
    assert_eq!(
        cancels[0].header("mcp-method"),
        Some("notifications/cancelled")
    );
}

#[tokio::test]
async fn a_legacy_server_s_sampling_request_reaches_a_modern_host_as_an_input_request() {
    let server = era_server::start(Kind::LegacyOnly).await;
    let mut cli = proxy(&server);
    let with_sampling = |id: i64, method: &str, params: Value| {
        let mut request: Value = serde_json::from_str(&modern(id, method, params)).unwrap();
        request["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
            json!({"sampling": {}});
        request
    };
    cli.send(&with_sampling(1, "server/discover", json!({})).to_string())
        .await;
    let (discover, _) = cli.recv_id(1).await;
    assert!(discover["result"]["capabilities"]["tools"].is_object());

    cli.send(
        &with_sampling(
            2,
            "tools/call",
            json!({"name": "ask_model", "arguments": {}}),
        )
        .to_string(),
    )
    .await;
    let (asked, before) = cli.recv_id(2).await;
    assert!(
        before.is_empty(),
        "no server request reached the modern host: {before:?}"
    );
    let result = &asked["result"];
    assert_eq!(result["resultType"], "input_required", "{asked}");
    let requests = result["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1);
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "sampling/createMessage");
    let state = result["requestState"].as_str().unwrap().to_owned();

    let mut retry = with_sampling(
        3,
        "tools/call",
        json!({"name": "ask_model", "arguments": {}}),
    );
    retry["params"]["inputResponses"] = json!({key.as_str(): {
        "role": "assistant", "content": {"type": "text", "text": "42"},
        "model": "test-model", "stopReason": "endTurn"
    }});
    retry["params"]["requestState"] = json!(state);
    cli.send(&retry.to_string()).await;
    let (answered, _) = cli.recv_id(3).await;
    assert_eq!(text_of(&answered), "the model said 42", "{answered}");

    // Without the capability, the server is told why, and the host gets the
    // server's error carrying that reason, not a request it cannot take.
    cli.send(&modern(
        4,
        "tools/call",
        json!({"name": "ask_model", "arguments": {}}),
    ))
    .await;
    let (refused, before) = cli.recv_id(4).await;
    assert!(before.is_empty(), "{before:?}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("declared no sampling"), "{refused}");

    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
    // The retry continued the parked call: the server ran ask_model once for it.
    let calls: Vec<_> = server
        .seen_method("tools/call")
        .into_iter()
        .filter(|c| c.body["params"]["name"] == "ask_model")
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "one for the answered call, one for the refused"
    );
    let answers: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method.is_none() && s.body["result"]["content"]["text"] == "42")
        .collect();
    assert_eq!(
        answers.len(),
        1,
        "the host's answer reached the server once"
    );
}

/// A proxy to a 2026-07-28 server that checks `lookup`'s `Mcp-Param-*`
/// header, its tools listed once by a modern host.
async fn listed(server: &HeaderStandIn) -> Cli {
    let url = server.url();
    let mut cli = Cli::spawn(
        &[
            "proxy",
            url.as_str(),
            "--service",
            "bedrock-agentcore",
            "--region",
            "us-east-1",
        ],
        &credentials_env(),
    );
    cli.send(&modern(1, "tools/list", json!({}))).await;
    let (list, _) = cli.recv_id(1).await;
    assert_eq!(list["result"]["tools"][0]["name"], "lookup", "{list}");
    assert_eq!(server.lists(), 1);
    cli
}

fn lookup(id: i64) -> String {
    modern(
        id,
        "tools/call",
        json!({"name": "lookup", "arguments": {"region": "eu-west-1", "key": "k"}}),
    )
}

#[tokio::test]
async fn calls_refused_for_a_renamed_header_share_one_listing_and_are_retried_once() {
    const CALLS: i64 = 3;
    // The server answers none of the three calls before all three arrived.
    let server = header_server::start(HeaderMode::Renamed, CALLS as usize).await;
    let mut cli = listed(&server).await;
    for id in 0..CALLS {
        cli.send(&lookup(10 + id)).await;
    }
    // The replies come in any order.
    let mut replies = Vec::new();
    while replies.len() < CALLS as usize {
        replies.push(cli.recv().await);
    }
    for reply in &replies {
        assert_eq!(text_of(reply), "k@eu-west-1");
    }
    cli.finish().await;
    assert_eq!(
        server.lists(),
        2,
        "one more tools/list for the three refusals"
    );
    assert_eq!(server.calls(), 2 * CALLS as usize, "each call retried once");
    let params = server.call_params();
    let retried = &params[CALLS as usize..];
    assert!(
        retried
            .iter()
            .all(|p| p == &["mcp-param-zone=eu-west-1".to_owned()]),
        "{params:?}"
    );
}

#[tokio::test]
async fn a_second_mismatch_reaches_the_host_after_one_retry() {
    let server = header_server::start(HeaderMode::RenamedAndRefuses, 0).await;
    let mut cli = listed(&server).await;
    cli.send(&lookup(2)).await;
    let (reply, _) = cli.recv_id(2).await;
    assert_eq!(reply["error"]["code"], -32020, "{reply}");
    cli.finish().await;
    assert_eq!(server.lists(), 2, "one listing, not a loop");
    assert_eq!(server.calls(), 2, "one retry, not a loop");
}
