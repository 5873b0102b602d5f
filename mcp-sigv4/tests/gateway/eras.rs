//! Clients and upstreams of both MCP protocol eras through the gateway: a
//! 2026-07-28 client (no session, the `_meta` envelope and the modern headers)
//! and a 2025 one, in front of rmcp servers that speak both eras (`dual`), only
//! the legacy one (`old`), or only 2026-07-28 (`new`).

use http::StatusCode;
use serde_json::{Value, json};

use crate::era_server::{self, EraStandIn, Kind};
use crate::telemetry::{sample, scrape};
use crate::{
    Answer, Gateway, first_event, initialize, read_events_until, rpc, send, text, tool_names,
};

pub(crate) const MODERN: &str = "2026-07-28";

/// Three upstreams, one of each era, and a gateway configuration naming them
/// `dual`, `old` and `new`.
pub(crate) struct Eras {
    pub(crate) dual: EraStandIn,
    pub(crate) old: EraStandIn,
    pub(crate) new: EraStandIn,
    pub(crate) config: std::path::PathBuf,
}

pub(crate) async fn eras() -> Eras {
    let dual = era_server::start(Kind::Dual).await;
    let old = era_server::start(Kind::LegacyOnly).await;
    let new = era_server::start(Kind::ModernOnly).await;
    let mut yaml = String::from("mcp_servers:\n");
    for (name, server) in [("dual", &dual), ("old", &old), ("new", &new)] {
        yaml.push_str(&crate::signed_entry(name, &server.url()));
    }
    yaml.push_str("general_settings:\n  session_secret: era-test-secret-0123456789abcdef0123\n");
    let config = crate::write_config("gateway-eras", &yaml);
    Eras {
        dual,
        old,
        new,
        config,
    }
}

/// A 2026-07-28 request: the envelope in `params._meta`.
pub(crate) fn modern(id: i64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "modern-client", "version": "1"},
    });
    rpc(id, method, params)
}

/// POST `message` as a 2026-07-28 client does: its headers equal to its body.
pub(crate) async fn post_modern(gateway: &Gateway, path: &str, message: &Value) -> Answer {
    post_modern_with(gateway, path, message, &[]).await
}

/// [`post_modern`] with `extra` headers (a master key, say).
pub(crate) async fn post_modern_with(
    gateway: &Gateway,
    path: &str,
    message: &Value,
    extra: &[(&str, &str)],
) -> Answer {
    let method = message["method"].as_str().unwrap().to_owned();
    let name = message["params"]["name"].as_str().map(str::to_owned);
    let mut headers = vec![
        ("mcp-protocol-version", MODERN.to_owned()),
        ("mcp-method", method),
    ];
    if let Some(name) = name {
        headers.push((
            "mcp-name",
            mcp_sigv4::protocol::era::encode_header_value(&name),
        ));
    }
    let mut headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    headers.extend_from_slice(extra);
    let url = format!("{}{path}", gateway.base);
    let answer = send("POST", &url, &headers, Some(message)).await;
    assert!(answer.session.is_none(), "a modern client got a session id");
    answer
}

#[tokio::test]
async fn a_modern_client_reaches_every_kind_of_upstream_routed_and_aggregated() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;

    for name in ["dual", "old", "new"] {
        let path = format!("/mcp/{name}");
        let discover = post_modern(&gateway, &path, &modern(1, "server/discover", json!({}))).await;
        assert_eq!(discover.status, StatusCode::OK, "{name}: {discover:?}");
        let versions = &discover.reply()["result"]["supportedVersions"];
        assert!(
            versions.as_array().unwrap().contains(&json!(MODERN)),
            "{name}: {discover:?}"
        );
        let list = post_modern(&gateway, &path, &modern(2, "tools/list", json!({}))).await;
        assert_eq!(tool_names(&list).len(), 6, "{name}: {list:?}");
        for id in 3..6 {
            let call = post_modern(
                &gateway,
                &path,
                &modern(
                    id,
                    "tools/call",
                    json!({"name": "echo", "arguments": {"text": name}}),
                ),
            )
            .await;
            assert_eq!(text(&call), name);
        }
    }

    // Aggregated: the gateway answers discover itself, and routes by prefix.
    let discover = post_modern(&gateway, "/mcp", &modern(7, "server/discover", json!({}))).await;
    let result = &discover.reply()["result"];
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-sigv4 gateway"
    );
    assert!(result["capabilities"]["tools"].is_object(), "{discover:?}");
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );
    let list = post_modern(&gateway, "/mcp", &modern(8, "tools/list", json!({}))).await;
    let names = tool_names(&list);
    assert_eq!(names.len(), 18, "{names:?}");
    assert!(names.contains(&"new-echo".to_owned()) && names.contains(&"old-lookup".to_owned()));
    for server in ["dual", "old", "new"] {
        let call = post_modern(
            &gateway,
            "/mcp",
            &modern(
                9,
                "tools/call",
                json!({"name": format!("{server}-echo"), "arguments": {"text": "agg"}}),
            ),
        )
        .await;
        assert_eq!(text(&call), "agg", "{server}");
    }

    // The dual server was spoken to stateless; the modern-only one got back only
    // the instance pin it set (never a session of the gateway's); the legacy one
    // got one session for all of the replica's modern clients, not a handshake
    // per call.
    for server in [&eras.new, &eras.dual] {
        for seen in server.seen() {
            let pin = seen.header("mcp-session-id");
            assert!(
                pin.is_none() || (server.kind == Kind::ModernOnly && pin == Some(era_server::PIN)),
                "{pin:?}"
            );
            if let Some(method) = seen.method.as_deref() {
                assert_eq!(seen.header("mcp-method"), Some(method));
                assert!(seen.is_signed("mcp-method") && seen.is_signed("mcp-protocol-version"));
            }
        }
    }
    assert_eq!(eras.old.seen_method("initialize").len(), 1);
    assert_eq!(eras.old.seen_method("server/discover").len(), 1);
    assert!(eras.old.seen_method("tools/call").len() >= 4);
}

#[tokio::test]
async fn a_legacy_client_is_bridged_to_a_modern_only_upstream() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let url = format!("{}/mcp/new", gateway.base);
    let init = send("POST", &url, &[], Some(&initialize())).await;
    assert_eq!(
        init.reply()["result"]["protocolVersion"],
        "2025-06-18",
        "{init:?}"
    );
    let session = init.session.clone().expect("a sealed session");
    let headers = [("mcp-session-id", session.as_str())];
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let answer = send("POST", &url, &headers, Some(&initialized)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let call = send(
        "POST",
        &url,
        &headers,
        Some(&rpc(
            1,
            "tools/call",
            json!({"name": "lookup", "arguments": {"region": "eu-west-1", "key": "k"}}),
        )),
    )
    .await;
    assert_eq!(text(&call), "k@eu-west-1");
    let calls = eras.new.seen_method("tools/call");
    assert_eq!(calls.len(), 1);
    let meta = &calls[0].body["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"]["name"],
        "gateway-test"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientCapabilities"],
        json!({"sampling": {}})
    );
    assert_eq!(calls[0].header("mcp-name"), Some("lookup"));
    assert_eq!(
        eras.new.seen_method("initialize").len(),
        1,
        "tried once, then bridged"
    );
}

#[tokio::test]
async fn a_legacy_client_answers_a_modern_only_server_s_input_request_on_its_request_stream() {
    use http_body_util::BodyExt;
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},
        "clientInfo":{"name":"gateway-test","version":"1"}}});
    for (n, (path, tool)) in [("/mcp/new", "confirm"), ("/mcp", "new-confirm")]
        .into_iter()
        .enumerate()
    {
        let url = format!("{}{path}", gateway.base);
        let opened = send("POST", &url, &[], Some(&init)).await;
        let session = opened.session.clone().expect("a sealed session");
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-06-18"),
        ];
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(
            send("POST", &url, &headers, Some(&initialized))
                .await
                .status,
            StatusCode::ACCEPTED
        );
        let call = rpc(7, "tools/call", json!({"name": tool, "arguments": {}}));
        let response = crate::respond("POST", &url, &headers, Some(&call)).await;
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body();
        // The server's InputRequiredResult reaches the 2025 client as the
        // request it would have been in 2025, on the call's own stream.
        let ask = first_event(&mut body).await;
        assert_eq!(ask["method"], "elicitation/create", "{ask}");
        assert_eq!(ask["params"]["message"], "Proceed?", "{ask}");
        // The server's raw task id is no client's to see (it may be anyone's).
        assert!(
            ask["params"]["_meta"]
                .get("io.modelcontextprotocol/related-task")
                .is_none(),
            "{ask}"
        );
        assert!(
            ask.get("resultType").is_none() && ask["result"].is_null(),
            "{ask}"
        );
        let answer = json!({"jsonrpc": "2.0", "id": ask["id"],
            "result": {"action": "accept", "content": {"ok": true}}});
        let taken = send("POST", &url, &headers, Some(&answer)).await;
        assert_eq!(taken.status, StatusCode::ACCEPTED, "{taken:?}");
        let rest = tokio::time::timeout(crate::LIMIT, body.collect())
            .await
            .unwrap()
            .unwrap()
            .to_bytes();
        let rest = String::from_utf8_lossy(&rest);
        let last: Value = serde_json::from_str(
            rest.lines()
                .rev()
                .find_map(|l| l.strip_prefix("data: "))
                .expect("the result"),
        )
        .unwrap();
        assert_eq!(last["id"], 7, "{rest}");
        assert_eq!(
            last["result"]["content"][0]["text"], "the user answered true",
            "{rest}"
        );
        assert!(
            last["result"].get("resultType").is_none(),
            "a 2025 result: {rest}"
        );
        // The server got its answer the 2026 way: the call again, with
        // inputResponses and its requestState; the client's answer went nowhere else.
        let calls = eras.new.seen_method("tools/call");
        assert_eq!(calls.len(), 2 * (n + 1), "{calls:?}");
        let retry = &calls.last().unwrap().body["params"];
        assert_eq!(
            retry["inputResponses"]["confirm"]["content"]["ok"], true,
            "{retry}"
        );
        assert_eq!(retry["requestState"], "state-1", "{retry}");
        assert!(
            eras.new
                .seen()
                .iter()
                .all(|s| s.body.get("result").is_none())
        );
    }
}

#[tokio::test]
async fn a_one_shot_call_gets_the_shape_of_the_revision_its_header_names_2025_03_26_without() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let list = json!({"method": "tools/list"});
    for (path, echo) in [
        ("/mcp/new", "echo"),
        ("/mcp/old", "echo"),
        ("/mcp", "new-echo"),
    ] {
        let call =
            json!({"method": "tools/call", "params": {"name": echo, "arguments": {"text": "hi"}}});
        let url = format!("{}{path}", gateway.base);
        // No header, no initialize, no envelope: 2025-03-26, none of 2026's result fields.
        for body in [&list, &call] {
            let answer = send("POST", &url, &[], Some(body)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path} {answer:?}");
            let result = answer.reply()["result"]
                .as_object()
                .unwrap_or_else(|| panic!("{answer:?}"));
            for field in ["resultType", "ttlMs", "cacheScope"] {
                assert!(!result.contains_key(field), "{path} {field}: {answer:?}");
            }
        }
        let stated = send(
            "POST",
            &url,
            &[("mcp-protocol-version", "2025-06-18")],
            Some(&list),
        )
        .await;
        assert!(
            stated.reply()["result"].get("resultType").is_none(),
            "{path} {stated:?}"
        );
        // A caller that names 2026-07-28 gets its shape.
        let modern = send(
            "POST",
            &url,
            &[("mcp-protocol-version", MODERN)],
            Some(&list),
        )
        .await;
        let result = &modern.reply()["result"];
        assert_eq!(result["resultType"], "complete", "{path} {modern:?}");
        assert!(
            matches!(result["cacheScope"].as_str(), Some("public" | "private")),
            "{path} {modern:?}"
        );
        assert!(result["ttlMs"].is_u64(), "{path} {modern:?}");
    }
}

#[tokio::test]
async fn the_gateway_checks_modern_headers_and_versions_before_any_upstream_call() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let url = format!("{}/mcp/dual", gateway.base);
    let call = modern(
        1,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "x"}}),
    );
    for (headers, expected) in [
        (
            vec![
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/call"),
                ("mcp-name", "add"),
            ],
            "Mcp-Name",
        ),
        (
            vec![
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "tools/list"),
                ("mcp-name", "echo"),
            ],
            "Mcp-Method",
        ),
        (
            vec![
                ("mcp-protocol-version", "2025-06-18"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "echo"),
            ],
            "MCP-Protocol-Version",
        ),
        (
            vec![("mcp-protocol-version", MODERN), ("mcp-name", "echo")],
            "Mcp-Method",
        ),
    ] {
        let answer = send("POST", &url, &headers, Some(&call)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
        let error = &answer.reply()["error"];
        assert_eq!(error["code"], -32020, "{answer:?}");
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{answer:?}"
        );
    }
    let mut future = call.clone();
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let answer = send(
        "POST",
        &url,
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
        ],
        Some(&future),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.reply()["error"]["code"], -32022);
    assert!(
        answer.reply()["error"]["data"]["supported"]
            .as_array()
            .unwrap()
            .contains(&json!(MODERN))
    );
    for method in ["GET", "DELETE"] {
        let answer = send(method, &url, &[], None).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert!(
        eras.dual.seen().is_empty(),
        "a refused request reached the upstream"
    );
}

#[tokio::test]
async fn the_gateway_checks_a_modern_call_s_mcp_param_headers_against_its_arguments() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let lookup = |id, name: &str| {
        modern(
            id,
            "tools/call",
            json!({"name": name, "arguments": {"region": "eu-west-1", "key": "k"}}),
        )
    };
    // `lookup` mirrors `region` as Mcp-Param-Region: on the server's own route,
    // aggregated (its tools listed first when never listed), and on a legacy
    // server once a list through the gateway showed the annotation.
    let listed = post_modern(&gateway, "/mcp/old", &modern(1, "tools/list", json!({}))).await;
    assert!(
        tool_names(&listed).contains(&"lookup".to_owned()),
        "{listed:?}"
    );
    for (path, name) in [
        ("/mcp/new", "lookup"),
        ("/mcp", "dual-lookup"),
        ("/mcp/old", "lookup"),
    ] {
        for (region, expected) in [
            (None, "the Mcp-Param-Region header is missing"),
            (Some("us-east-1"), "Mcp-Param-Region is `us-east-1`"),
            (
                Some("=?base64?!?="),
                "Mcp-Param-Region header is not a valid value",
            ),
        ] {
            let extra: Vec<(&str, &str)> = region
                .map(|r| ("mcp-param-region", r))
                .into_iter()
                .collect();
            let answer = post_modern_with(&gateway, path, &lookup(2, name), &extra).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path} {answer:?}");
            let error = &answer.reply()["error"];
            assert_eq!(error["code"], -32020, "{path} {answer:?}");
            assert!(
                error["message"].as_str().unwrap().contains(expected),
                "{path} {answer:?}"
            );
        }
        // Headers name the header case-insensitively; an encoded value is decoded.
        for region in ["eu-west-1", "=?base64?ZXUtd2VzdC0x?="] {
            let answer = post_modern_with(
                &gateway,
                path,
                &lookup(3, name),
                &[("Mcp-Param-REGION", region)],
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK, "{path} {answer:?}");
            assert_eq!(text(&answer), "k@eu-west-1", "{path} {answer:?}");
        }
    }
    // No refused call reached a server: each got the two accepted ones.
    for server in [&eras.new, &eras.dual, &eras.old] {
        assert_eq!(server.seen_method("tools/call").len(), 2);
    }
    // A tool without annotations needs no Mcp-Param header, and one it does not know is ignored.
    let echo = modern(
        4,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "hi"}}),
    );
    let answer = post_modern_with(&gateway, "/mcp/new", &echo, &[("mcp-param-other", "x")]).await;
    assert_eq!(text(&answer), "hi", "{answer:?}");
}

#[tokio::test]
async fn two_replicas_serve_one_modern_client_alternately_without_a_session() {
    let eras = eras().await;
    let first = Gateway::start(&eras.config, &[]).await;
    let second = Gateway::start(&eras.config, &[]).await;
    for id in 0..6 {
        let replica = if id % 2 == 0 { &first } else { &second };
        for path in ["/mcp/old", "/mcp/new"] {
            let call = post_modern(
                replica,
                path,
                &modern(
                    id,
                    "tools/call",
                    json!({"name": "echo", "arguments": {"text": format!("{id}")}}),
                ),
            )
            .await;
            assert_eq!(text(&call), format!("{id}"));
        }
    }
    // One legacy session per replica for the legacy-only upstream, none for the other.
    assert_eq!(eras.old.seen_method("initialize").len(), 2);
    assert_eq!(eras.new.seen_method("tools/call").len(), 6);
}

/// rmcp's own 2026-07-28 client (discover mode), unsigned over hyper, against
/// the gateway: routed to each kind of upstream and aggregated.
#[tokio::test]
async fn rmcp_s_modern_client_through_the_gateway() {
    use rmcp::model::{CallToolRequestParams, ProtocolVersion};
    use rmcp::object;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    for (path, tool, count) in [
        ("/mcp/dual", "echo", 6),
        ("/mcp/old", "echo", 6),
        ("/mcp/new", "echo", 6),
        ("/mcp", "new-echo", 18),
    ] {
        let transport = StreamableHttpClientTransport::with_client(
            tower_sigv4::rmcp::TowerHttpClient::new(crate::client()),
            StreamableHttpClientTransportConfig::with_uri(format!("{}{path}", gateway.base)),
        );
        let lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        };
        let client =
            tokio::time::timeout(crate::LIMIT, ().serve_with_lifecycle(transport, lifecycle))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{path}: {e}"));
        let tools = client.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), count, "{path}");
        let reply = client
            .call_tool(CallToolRequestParams::new(tool).with_arguments(object!({ "text": path })))
            .await
            .unwrap();
        let reply = serde_json::to_value(&reply).unwrap();
        assert_eq!(reply["content"][0]["text"], path, "{path}");
        client.cancel().await.unwrap();
    }
}

/// `subscriptions/listen` on `/mcp`: every modern upstream subscribed, their
/// events merged into one stream, and every upstream stream closed when the
/// client goes away.
#[tokio::test]
async fn a_subscription_on_mcp_fans_out_merges_and_closes_upstream_when_the_client_leaves() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let listen = modern(1, "subscriptions/listen", json!({"hold": true}));
    let request = http::Request::post(format!("{}/mcp", gateway.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "subscriptions/listen")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            listen.to_string(),
        )))
        .unwrap();
    let response = tokio::time::timeout(crate::LIMIT, crate::client().request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    read_events_until(&mut body, |text| {
        text.matches("notifications/tools/list_changed").count() >= 2
    })
    .await;
    // One event from each server that speaks 2026-07-28; the legacy one is left out.
    assert_eq!(eras.dual.listens(), 1);
    assert_eq!(eras.new.listens(), 1);
    assert_eq!(eras.old.listens(), 0);
    drop(body);
    for _ in 0..200 {
        if eras.dual.listens_closed() == 1 && eras.new.listens_closed() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(eras.dual.listens_closed(), 1, "dual's stream is still open");
    assert_eq!(eras.new.listens_closed(), 1, "new's stream is still open");
}

#[tokio::test]
async fn metrics_count_a_modern_clients_requests_under_their_era() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let list = post_modern(&gateway, "/mcp/new", &modern(1, "tools/list", json!({}))).await;
    assert_eq!(tool_names(&list).len(), 6, "{list:?}");
    let echo = json!({"name": "echo", "arguments": {"text": "hi"}});
    let call = post_modern(&gateway, "/mcp/new", &modern(2, "tools/call", echo)).await;
    assert_eq!(text(&call), "hi");
    let (status, metrics) = scrape(&format!("{}/metrics", gateway.base), &[]).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            r#"mcp_sigv4_protocol_era_requests_total{era="modern"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"mcp_sigv4_protocol_era_requests_total{era="legacy"}"#
        ),
        None,
        "no legacy request was made: {metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"mcp_sigv4_request_duration_seconds_count{server="new",method="tools/call",tool="echo"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
}
