//! The gateway's contract with its clients (issue 27): every reply it builds
//! itself (merged lists, partial lists, `server/discover`, merged `initialize`,
//! the end of a subscription, `ping`, the errors it makes up for filtered
//! tools, unknown names and methods, timeouts and unreachable servers) and every
//! reply it relays from an upstream of the other era is valid in the era of the
//! client it goes to. Each reply is read into the typed result of that
//! revision's published schema (rust-mcp-schema, generated from the
//! specification repository's `schema.json`; Cargo.toml names the commits),
//! and a 2025 reply carries none of the 2026-only fields.
//! See `support/schema.rs` for how a reply is checked.

use http::StatusCode;
use serde_json::{Value, json};

pub(crate) use crate::schema::Era;
use crate::schema::{check, legacy_schema, modern_schema, reads_as};

use crate::era_server::{self, Kind};
use crate::eras::{modern, post_modern_with};
use crate::{Answer, Gateway, initialize, rpc, send, upstream};

#[test]
fn the_schema_types_refuse_what_breaks_the_schema() {
    // What the aggregated /mcp sent a 2026-07-28 client before issue 27.
    let merged = json!({"cacheScope": "private", "tools": [], "ttlMs": 0});
    assert!(!reads_as::<modern_schema::ListToolsResult>(merged.clone()));
    let mut fixed = merged.clone();
    fixed["resultType"] = json!("complete");
    assert!(reads_as::<modern_schema::ListToolsResult>(fixed.clone()));
    for (field, broken) in [
        ("ttlMs", Value::Null),
        ("ttlMs", json!(-1)),
        ("cacheScope", Value::Null),
        ("cacheScope", json!("everyone")),
        ("resultType", json!(1)),
    ] {
        let mut wrong = fixed.clone();
        match broken {
            Value::Null => wrong.as_object_mut().unwrap().remove(field),
            value => wrong.as_object_mut().unwrap().insert(field.into(), value),
        };
        assert!(
            !reads_as::<modern_schema::ListToolsResult>(wrong.clone()),
            "{wrong}"
        );
    }
    // What a 2025-era cached list gave a 2026-07-28 client.
    assert!(!reads_as::<modern_schema::ListToolsResult>(
        json!({"tools": []})
    ));
    assert!(!reads_as::<modern_schema::Result>(json!({})));
    assert!(reads_as::<modern_schema::Result>(
        json!({"resultType": "complete"})
    ));
    assert!(!reads_as::<modern_schema::DiscoverResult>(json!({
        "resultType": "complete", "capabilities": {}, "ttlMs": 0, "cacheScope": "private"
    })));
    // The end of a subscription must name it.
    assert!(!reads_as::<modern_schema::SubscriptionsListenResult>(
        json!({"resultType": "complete"})
    ));
    assert!(reads_as::<modern_schema::SubscriptionsListenResult>(
        json!({"resultType": "complete", "_meta": {"io.modelcontextprotocol/subscriptionId": 1}})
    ));
    // A tool needs its input schema; an initialize result its version.
    assert!(!reads_as::<legacy_schema::ListToolsResult>(
        json!({"tools": [{"name": "x"}]})
    ));
    assert!(!reads_as::<legacy_schema::InitializeResult>(json!({
        "protocolVersion": null, "capabilities": {}, "serverInfo": {"name": "g", "version": "1"}
    })));
    assert!(!reads_as::<legacy_schema::JsonrpcResultResponse>(
        json!({"jsonrpc": "1.0", "id": 1, "result": {}})
    ));
    assert!(!reads_as::<modern_schema::JsonrpcErrorResponse>(
        json!({"jsonrpc": "2.0", "id": 1, "error": {"message": "no code"}})
    ));
}

/// The upstreams of the contract test: one of each era, a bearer-protected
/// rmcp server with a tool that never ends, and one that is down.
struct Upstreams {
    dual: era_server::EraStandIn,
    old: era_server::EraStandIn,
    new: era_server::EraStandIn,
    _tools: upstream::Running,
    config: std::path::PathBuf,
}

async fn upstreams() -> Upstreams {
    let dual = era_server::start(Kind::Dual).await;
    let old = era_server::start(Kind::LegacyOnly).await;
    let new = era_server::start(Kind::ModernOnly).await;
    let tools = upstream::start().await;
    // Nothing listens on port 1.
    let mut yaml = String::from(
        "mcp_servers:\n  down:\n    url: \"http://127.0.0.1:1/mcp\"\n    auth_type: none\n",
    );
    yaml.push_str(&format!(
        "  tools:\n    url: \"{}\"\n    auth_type: bearer_token\n    auth_value: os.environ/TOOLS_TOKEN\n",
        tools.url()
    ));
    for (name, server) in [("dual", &dual), ("old", &old), ("new", &new)] {
        yaml.push_str(&crate::signed_entry(name, &server.url()));
        if name == "dual" {
            yaml.push_str("    disallowed_tools: [\"wetter-ä\"]\n");
        }
    }
    yaml.push_str("general_settings:\n  session_secret: contract-test-secret-0123456789abcdef\n");
    let config = crate::write_config("contract", &yaml);
    Upstreams {
        dual,
        old,
        new,
        _tools: tools,
        config,
    }
}

/// A client of one era at one path of the gateway.
pub(crate) struct Caller<'a> {
    gateway: &'a Gateway,
    path: String,
    era: Era,
    /// Headers sent with every request (a master key, say).
    auth: Vec<(String, String)>,
    session: Option<String>,
    next_id: i64,
}

impl<'a> Caller<'a> {
    /// A client at `path` that sends `auth` with every request; a legacy one
    /// initializes (its reply checked).
    pub(crate) async fn new(
        gateway: &'a Gateway,
        path: &str,
        era: Era,
        auth: &[(&str, &str)],
    ) -> Caller<'a> {
        let mut caller = Caller {
            gateway,
            path: path.to_owned(),
            era,
            auth: auth
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            session: None,
            next_id: 1,
        };
        if era == Era::Legacy {
            let url = format!("{}{path}", gateway.base);
            let mut init = initialize();
            init["params"]["protocolVersion"] = json!("2025-11-25");
            let answer = send("POST", &url, auth, Some(&init)).await;
            assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
            check(era, "initialize", answer.reply());
            let session = answer.session.clone().expect("a session id");
            let mut headers = auth.to_vec();
            headers.push(("mcp-session-id", &session));
            let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let done = send("POST", &url, &headers, Some(&initialized)).await;
            assert_eq!(done.status, StatusCode::ACCEPTED, "{done:?}");
            caller.session = Some(session);
        }
        caller
    }

    /// Send a `method` request; its answer, whose reply is checked.
    pub(crate) async fn ask(&mut self, method: &str, params: Value) -> Answer {
        let id = self.next_id;
        self.next_id += 1;
        let mut headers: Vec<(&str, &str)> = self
            .auth
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let answer = match &self.session {
            Some(session) => {
                headers.push(("mcp-session-id", session));
                let url = format!("{}{}", self.gateway.base, self.path);
                send("POST", &url, &headers, Some(&rpc(id, method, params))).await
            }
            None => {
                let message = modern(id, method, params);
                post_modern_with(self.gateway, &self.path, &message, &headers).await
            }
        };
        check(self.era, method, answer.reply());
        answer
    }
}

/// `name` as a client at `path` calls it: prefixed on the aggregated `/mcp`.
fn named(path: &str, server: &str, name: &str) -> String {
    if path == "/mcp" {
        format!("{server}-{name}")
    } else {
        name.to_owned()
    }
}

#[tokio::test]
async fn every_reply_is_valid_in_the_era_of_its_client_on_every_route() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config, &["--tool-timeout", "3"]).await;
    for era in [Era::Legacy, Era::Modern] {
        for (path, server) in [
            ("/mcp", "dual"),
            ("/mcp/dual", "dual"),
            ("/dual/mcp", "dual"),
            ("/mcp/old", "old"),
            ("/mcp/new", "new"),
            ("/tools/mcp", "tools"),
        ] {
            let mut caller = Caller::new(&gateway, path, era, &[]).await;
            if era == Era::Modern {
                caller.ask("server/discover", json!({})).await;
            }
            let tools = caller.ask("tools/list", json!({})).await;
            for method in ["prompts/list", "resources/list", "resources/templates/list"] {
                caller.ask(method, json!({})).await;
            }
            caller.ask("ping", json!({})).await;
            if server == "tools" {
                continue;
            }
            let names = crate::tool_names(&tools);
            assert!(
                names.contains(&named(path, server, "echo")),
                "{path}: {names:?}"
            );
            assert_eq!(
                names.contains(&named(path, server, "wetter-ä")),
                server != "dual",
                "{path}: {names:?}"
            );
            let echo = json!({"name": named(path, server, "echo"), "arguments": {"text": path}});
            let call = caller.ask("tools/call", echo).await;
            assert_eq!(crate::text(&call), path);
            // A filtered tool on dual; a plain one elsewhere.
            let wetter = json!({"name": named(path, server, "wetter-ä"), "arguments": {}});
            let refused = caller.ask("tools/call", wetter).await;
            assert_eq!(
                refused.reply().get("error").is_some(),
                server == "dual",
                "{refused:?}"
            );
        }

        let mut caller = Caller::new(&gateway, "/mcp", era, &[]).await;
        // A partial list: `down` is missing, and says why.
        let list = caller.ask("tools/list", json!({})).await;
        let failures = &list.reply()["result"]["_meta"]["mcp-sigv4/failures"];
        assert_eq!(failures[0]["server"], "down", "{list:?}");
        // Names and methods the gateway cannot route, and a timeout.
        let nobody = json!({"name": "nobody-echo", "arguments": {}});
        let error = caller.ask("tools/call", nobody).await;
        assert_eq!(error.reply()["error"]["code"], -32602, "{error:?}");
        let error = caller.ask("completion/complete", json!({})).await;
        assert_eq!(error.reply()["error"]["code"], -32601, "{error:?}");
        let wait = json!({"name": "tools-wait", "arguments": {}});
        let timeout = caller.ask("tools/call", wait).await;
        assert_eq!(timeout.reply()["error"]["code"], -32001, "{timeout:?}");
        // The down server alone: an error, not an empty list.
        let mut down = Caller::new(&gateway, "/mcp/down", Era::Modern, &[]).await;
        let error = down.ask("tools/list", json!({})).await;
        assert!(error.reply()["error"]["message"].is_string(), "{error:?}");
        if era == Era::Modern {
            // The gateway's own discover, with the unreachable server named.
            let discover = caller.ask("server/discover", json!({})).await;
            let meta = &discover.reply()["result"]["_meta"];
            assert_eq!(
                meta["mcp-sigv4/unreachable"],
                json!(["down"]),
                "{discover:?}"
            );
            // The end of a subscription on /mcp and on one server's route.
            for path in ["/mcp", "/mcp/new"] {
                let mut listener = Caller::new(&gateway, path, era, &[]).await;
                let ended = listener.ask("subscriptions/listen", json!({})).await;
                assert!(
                    ended.messages.len() > 1,
                    "the stream carried events: {ended:?}"
                );
            }
        }
    }
}

/// What an SDK client was answered: each POST's JSON-RPC messages, with the
/// request they answer.
type Exchanges = std::sync::Arc<std::sync::Mutex<Vec<(Value, Vec<Value>)>>>;

/// An HTTP client for rmcp that keeps every POST's request and reply messages.
fn recording_client(
    exchanges: Exchanges,
) -> tower_sigv4::rmcp::TowerHttpClient<
    impl tower::Service<
        http::Request<http_body_util::Full<bytes::Bytes>>,
        Response = http::Response<
            http_body_util::combinators::BoxBody<bytes::Bytes, tower::BoxError>,
        >,
        Error = tower::BoxError,
        Future = impl Send,
    > + Clone
    + Send
    + 'static,
> {
    use http_body_util::BodyExt;

    let client = crate::client();
    tower_sigv4::rmcp::TowerHttpClient::new(tower::service_fn(
        move |request: http::Request<http_body_util::Full<bytes::Bytes>>| {
            let (client, exchanges) = (client.clone(), exchanges.clone());
            async move {
                let (parts, body) = request.into_parts();
                let sent = body.collect().await?.to_bytes();
                let is_post = parts.method == http::Method::POST;
                let request =
                    http::Request::from_parts(parts, http_body_util::Full::new(sent.clone()));
                let response = client.request(request).await?;
                if !is_post {
                    // A GET stream stays open: passed on as it comes.
                    return Ok(response.map(|b| b.map_err(Into::into).boxed()));
                }
                let (parts, body) = response.into_parts();
                let bytes = body.collect().await?.to_bytes();
                let text = String::from_utf8_lossy(&bytes);
                let messages: Vec<Value> = if text.trim_start().starts_with('{') {
                    vec![serde_json::from_str(&text)?]
                } else {
                    text.lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .filter_map(|d| serde_json::from_str(d.trim()).ok())
                        .collect()
                };
                let request: Value = serde_json::from_slice(&sent)?;
                exchanges.lock().unwrap().push((request, messages));
                let body = http_body_util::Full::new(bytes)
                    .map_err(|never| match never {})
                    .boxed();
                Ok::<_, tower::BoxError>(http::Response::from_parts(parts, body))
            }
        },
    ))
}

/// Check the reply to every request in `exchanges` against `era`'s schema.
fn check_exchanges(era: Era, exchanges: &Exchanges) -> Vec<String> {
    let mut methods = Vec::new();
    for (request, messages) in exchanges.lock().unwrap().iter() {
        let (Some(method), Some(id)) = (request["method"].as_str(), request.get("id")) else {
            continue;
        };
        let reply = messages
            .iter()
            .find(|m| m.get("id") == Some(id) && m.get("method").is_none())
            .unwrap_or_else(|| panic!("no reply to {request} in {messages:?}"));
        check(era, method, reply);
        methods.push(method.to_owned());
    }
    methods
}

/// rmcp's own clients on the aggregated `/mcp` in front of several servers:
/// a 2025 client lists and calls, then a 2026-07-28 one does, within one list
/// cache lifetime. Every reply either SDK got is valid in its era, and each
/// era server was asked for its tools once.
#[tokio::test]
async fn rmcp_clients_of_both_eras_list_and_call_on_the_aggregated_mcp() {
    use rmcp::model::{CallToolRequestParams, ProtocolVersion};
    use rmcp::object;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

    let up = upstreams().await;
    let gateway = Gateway::start(&up.config, &[]).await;
    let url = format!("{}/mcp", gateway.base);
    for (era, lifecycle) in [
        (Era::Legacy, ClientLifecycleMode::Initialize),
        (
            Era::Modern,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
    ] {
        let exchanges = Exchanges::default();
        let transport = StreamableHttpClientTransport::with_client(
            recording_client(exchanges.clone()),
            StreamableHttpClientTransportConfig::with_uri(url.clone()),
        );
        let client =
            tokio::time::timeout(crate::LIMIT, ().serve_with_lifecycle(transport, lifecycle))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{era:?}: {e}"));
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        // Three era servers of six tools (dual without its filtered one) and
        // the bearer-protected server's three; `down` is missing.
        assert_eq!(names.len(), 6 + 5 + 6 + 3, "{era:?}: {names:?}");
        for server in ["dual", "old", "new"] {
            let reply = client
                .call_tool(
                    CallToolRequestParams::new(format!("{server}-echo"))
                        .with_arguments(object!({ "text": server })),
                )
                .await
                .unwrap();
            let reply = serde_json::to_value(&reply).unwrap();
            assert_eq!(reply["content"][0]["text"], server, "{era:?}");
        }
        client.cancel().await.unwrap();
        let methods = check_exchanges(era, &exchanges);
        assert!(
            methods.iter().filter(|m| *m == "tools/call").count() == 3
                && methods.iter().any(|m| m == "tools/list"),
            "{era:?}: {methods:?}"
        );
    }
    // The pages of the servers spoken to in 2025 were kept for the list cache's
    // time; the 2026-07-28-only server's say `ttlMs: 0`, so it is asked each time.
    for (server, lists) in [(&up.dual, 1), (&up.old, 1), (&up.new, 2)] {
        assert_eq!(
            server.seen_method("tools/list").len(),
            lists,
            "{:?}",
            server.kind
        );
    }
}
