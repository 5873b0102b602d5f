//! List caching (issue #19): lists are kept per server and credential for the
//! 2026-07-28 `ttlMs`, or `--list-cache-ttl` for a 2025-era server, dropped on
//! `notifications/tools/list_changed` wherever it arrives, identical lists at
//! once cost one fetch, and a `tools/call` costs no `tools/list`. Driven
//! against the real gateway process in front of a small MCP server on
//! 127.0.0.1 that counts the `tools/list` requests it gets, by the
//! `Authorization` they carry, and can hold their replies until the test lets
//! them go.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use bytes::Bytes as Chunk;
use futures_util::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tokio::sync::watch;

use super::telemetry::{sample, scrape};
use super::{Answer, Gateway, LIMIT, MASTER_KEY, rpc, send};

/// The era a [`Counted`] server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Era {
    /// 2025-06-18: `server/discover` is unknown, lists carry no `ttlMs`.
    Legacy,
    /// 2026-07-28: lists carry `ttlMs` (see [`Counted::ttl_ms`]) and
    /// `cacheScope: private`.
    Modern,
}

/// What the server saw.
struct Seen {
    /// `tools/list` requests by their `Authorization` header.
    lists: Mutex<HashMap<String, usize>>,
    /// `tools/list` requests in all, as they arrive (before any hold).
    arrived: watch::Sender<usize>,
    /// Whether `tools/list` replies go out.
    gate: watch::Sender<Gate>,
    calls: AtomicUsize,
    ttl_ms: AtomicU64,
}

/// What becomes of a `tools/list` when it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// Answered.
    Open,
    /// Held until the gate changes.
    Held,
    /// The first one answered with a JSON-RPC error, the gate then open.
    FailOnce,
}

/// An MCP server with the tools `echo` and `change` (whose reply stream
/// carries `notifications/tools/list_changed`), and one tool named after the
/// caller's token, `only-for-{token}`: a list that differs per user. A GET
/// with an `Authorization` (a 2025 client's event stream through the gateway)
/// and a 2026-07-28 `subscriptions/listen` get a stream that says the tools
/// changed, then stays open.
struct Counted {
    url: String,
    seen: Arc<Seen>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Counted {
    fn lists(&self, authorization: &str) -> usize {
        self.seen
            .lists
            .lock()
            .unwrap()
            .get(authorization)
            .copied()
            .unwrap_or(0)
    }

    fn all_lists(&self) -> usize {
        self.seen.lists.lock().unwrap().values().sum()
    }

    fn calls(&self) -> usize {
        self.seen.calls.load(Ordering::SeqCst)
    }

    fn set_ttl_ms(&self, ttl: u64) {
        self.seen.ttl_ms.store(ttl, Ordering::SeqCst);
    }

    /// Hold every `tools/list` reply from now on, until [`release`](Self::release)
    /// or [`fail_once`](Self::fail_once).
    fn hold(&self) {
        self.seen.gate.send_replace(Gate::Held);
    }

    fn release(&self) {
        self.seen.gate.send_replace(Gate::Open);
    }

    /// Answer the first `tools/list` held (or to come) with an error, the
    /// others as usual.
    fn fail_once(&self) {
        self.seen.gate.send_replace(Gate::FailOnce);
    }

    /// Wait until `n` `tools/list` requests in all have arrived.
    async fn arrived(&self, n: usize) {
        let mut arrived = self.seen.arrived.subscribe();
        tokio::time::timeout(LIMIT, arrived.wait_for(|seen| *seen >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} tools/list never arrived"))
            .unwrap();
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// An event stream that says the tools changed, then stays open.
fn changed_stream() -> Response<Body> {
    let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    let event = Frame::data(Chunk::from(format!("data: {note}\n\n")));
    let events = futures_util::stream::once(async move { Ok::<_, Infallible>(event) })
        .chain(futures_util::stream::pending());
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("mcp-session-id", "counted-session")
        .body(BodyExt::boxed(StreamBody::new(events)))
        .unwrap()
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("mcp-session-id", "counted-session")
        .body(Full::new(Bytes::from(body)).boxed())
        .unwrap()
}

fn json_reply(body: &Value) -> Response<Body> {
    reply(StatusCode::OK, "application/json", body.to_string())
}

async fn serve(request: Request<Incoming>, era: Era, seen: Arc<Seen>) -> Response<Body> {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if request.method() != http::Method::POST {
        // The stdio proxy of `local` sends no Authorization: its GET gets no
        // stream, so that only the test's own GET hears of a change.
        if request.method() == http::Method::GET && !authorization.is_empty() {
            return changed_stream();
        }
        let status = if request.method() == http::Method::DELETE {
            StatusCode::OK
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        };
        return reply(status, "text/plain", String::new());
    }
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        return reply(StatusCode::ACCEPTED, "text/plain", String::new());
    };
    let method = message["method"].as_str().unwrap_or_default();
    let result = match (method, era) {
        ("server/discover", Era::Legacy) => {
            return json_reply(&json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found"}}));
        }
        ("server/discover", Era::Modern) => json!({"resultType": "complete",
            "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "counted", "version": "1"}, "ttlMs": 0, "cacheScope": "private"}),
        ("initialize", _) => json!({"protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "counted", "version": "1"}}),
        ("subscriptions/listen", Era::Modern) => return changed_stream(),
        ("tools/list", _) => {
            *seen
                .lists
                .lock()
                .unwrap()
                .entry(authorization.clone())
                .or_default() += 1;
            seen.arrived.send_modify(|n| *n += 1);
            let mut gate = seen.gate.subscribe();
            let _ = gate.wait_for(|gate| *gate != Gate::Held).await;
            let fails = seen.gate.send_if_modified(|gate| {
                let fails = *gate == Gate::FailOnce;
                if fails {
                    *gate = Gate::Open;
                }
                fails
            });
            if fails {
                return json_reply(&json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32603, "message": "the list failed"}}));
            }
            let user = authorization.rsplit(' ').next().unwrap_or_default();
            let schema = json!({"type": "object", "properties": {}});
            let mut result = json!({"tools": [
                {"name": "echo", "inputSchema": schema},
                {"name": "change", "inputSchema": schema},
                {"name": format!("only-for-{user}"), "inputSchema": schema},
            ]});
            if era == Era::Modern {
                result["resultType"] = json!("complete");
                result["ttlMs"] = json!(seen.ttl_ms.load(Ordering::SeqCst));
                result["cacheScope"] = json!("private");
            }
            result
        }
        ("tools/call", _) => {
            seen.calls.fetch_add(1, Ordering::SeqCst);
            let mut result =
                json!({"content": [{"type": "text", "text": "called"}], "isError": false});
            if era == Era::Modern {
                result["resultType"] = json!("complete");
            }
            if message.pointer("/params/name") == Some(&json!("change")) {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                let last = json!({"jsonrpc": "2.0", "id": id, "result": result});
                return reply(
                    StatusCode::OK,
                    "text/event-stream",
                    format!("data: {note}\n\ndata: {last}\n\n"),
                );
            }
            result
        }
        _ => json!({}),
    };
    json_reply(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

async fn counted(era: Era) -> Counted {
    let seen = Arc::new(Seen {
        lists: Mutex::default(),
        arrived: watch::Sender::new(0),
        gate: watch::Sender::new(Gate::Open),
        calls: AtomicUsize::new(0),
        ttl_ms: AtomicU64::new(60_000),
    });
    let shared = seen.clone();
    let (addr, task) =
        super::serve::answer(move |request| serve(request, era, shared.clone())).await;
    Counted {
        url: format!("http://{addr}/mcp"),
        seen,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

/// A config with the servers `counted` and `other` (the same upstream, with
/// another configured token), and `local`, a stdio server (`mcp-sigv4 proxy
/// --skip-auth`, which sends no `Authorization`) in front of it.
fn config(upstream: &Counted) -> std::path::PathBuf {
    write_config(&format!(
        r#"mcp_servers:
  counted:
    url: "{url}"
    auth_type: bearer_token
    auth_value: "configured"
  other:
    url: "{url}"
    auth_type: bearer_token
    auth_value: "other"
  local:
    command: "{bin}"
    args: ["proxy", "{url}", "--skip-auth", "--service", "counted", "--region", "us-east-1"]
general_settings:
  master_key: os.environ/MASTER
"#,
        url = upstream.url,
        bin = env!("CARGO_BIN_EXE_mcp-sigv4"),
    ))
}

/// `yaml` in a config file of its own.
fn write_config(yaml: &str) -> std::path::PathBuf {
    super::write_config("lists", yaml)
}

fn key() -> String {
    format!("Bearer {MASTER_KEY}")
}

/// A one-shot JSON-RPC request (no session, no `jsonrpc`, no `id`).
async fn one_shot(gateway: &Gateway, path: &str, body: Value, extra: &[(&str, &str)]) -> Value {
    let key = key();
    let mut headers = vec![("authorization", key.as_str())];
    headers.extend_from_slice(extra);
    let answer = send(
        "POST",
        &format!("{}{path}", gateway.base),
        &headers,
        Some(&body),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    answer.reply().clone()
}

async fn list(gateway: &Gateway, path: &str, extra: &[(&str, &str)]) -> Vec<String> {
    let reply = one_shot(gateway, path, json!({"method": "tools/list"}), extra).await;
    let mut names: Vec<String> = reply["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {reply}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn call(gateway: &Gateway, path: &str, tool: &str) -> Value {
    let reply = one_shot(
        gateway,
        path,
        json!({"method": "tools/call", "params": {"name": tool, "arguments": {}}}),
        &[],
    )
    .await;
    assert_eq!(reply["result"]["content"][0]["text"], "called", "{reply}");
    reply
}

async fn in_session(gateway: &Gateway, session: &str, message: &Value) -> Answer {
    let key = key();
    send(
        "POST",
        &format!("{}/mcp", gateway.base),
        &[("authorization", &key), ("mcp-session-id", session)],
        Some(message),
    )
    .await
}

#[tokio::test]
async fn a_2025_servers_lists_are_kept_for_the_configured_time_and_no_call_lists() {
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    let configured = "Bearer configured";

    // Two lists, on the server's route and by REST: one upstream tools/list.
    let tools = list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(tools, ["change", "echo", "only-for-configured"]);
    assert_eq!(list(&gateway, "/mcp/counted", &[]).await, tools);
    let key = key();
    let rest = send(
        "GET",
        &format!("{}/mcp-rest/tools/list?server_id=counted", gateway.base),
        &[("authorization", &key)],
        None,
    )
    .await;
    assert_eq!(rest.status, StatusCode::OK, "{rest:?}");
    assert_eq!(rest.messages[0]["tools"].as_array().unwrap().len(), 3);
    assert_eq!(upstream.lists(configured), 1);

    // The aggregated list in a session lists `other` once, `counted` from the cache.
    let session = super::open(&gateway, "/mcp", &[("authorization", &key)]).await;
    let aggregated = in_session(&gateway, &session, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(
        super::tool_names(&aggregated),
        [
            "counted-change",
            "counted-echo",
            "counted-only-for-configured",
            "local-change",
            "local-echo",
            "local-only-for-",
            "other-change",
            "other-echo",
            "other-only-for-other"
        ],
        "{}",
        gateway.stderr()
    );
    assert_eq!(upstream.lists(configured), 1);
    assert_eq!(upstream.lists("Bearer other"), 1);
    assert_eq!(upstream.lists(""), 1);

    // Calls on every route: by prefix in the session, by name on the server's
    // route, by REST with a server id and with a prefixed name, and to the
    // stdio server. None of them lists.
    for id in 2..5 {
        let called = in_session(
            &gateway,
            &session,
            &rpc(
                id,
                "tools/call",
                json!({"name": "counted-echo", "arguments": {}}),
            ),
        )
        .await;
        assert_eq!(super::text(&called), "called");
    }
    call(&gateway, "/mcp/counted", "echo").await;
    call(&gateway, "/mcp/counted", "counted-echo").await;
    call(&gateway, "/mcp/local", "echo").await;
    for body in [
        json!({"server_id": "counted", "name": "echo", "arguments": {}}),
        json!({"name": "counted-echo", "arguments": {}}),
    ] {
        let rest = send(
            "POST",
            &format!("{}/mcp-rest/tools/call", gateway.base),
            &[("authorization", &key)],
            Some(&body),
        )
        .await;
        assert_eq!(rest.status, StatusCode::OK, "{rest:?}");
    }
    assert_eq!(upstream.calls(), 8);
    assert_eq!(upstream.all_lists(), 3, "{:?}", upstream.seen.lists);

    // `change` tells of a new list on its reply stream: the next list is fetched.
    call(&gateway, "/mcp/counted", "change").await;
    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists(configured), 2);

    // The stdio server's notification arrives on its shared stdout.
    list(&gateway, "/mcp/local", &[]).await;
    assert_eq!(upstream.lists(""), 1);
    call(&gateway, "/mcp/local", "change").await;
    list(&gateway, "/mcp/local", &[]).await;
    assert_eq!(upstream.lists(""), 2);
}

#[tokio::test]
async fn a_list_fetched_with_a_users_own_credential_is_kept_for_that_user_only() {
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    let alice = [("x-mcp-counted-authorization", "Bearer alice")];
    let bob = [("x-mcp-counted-authorization", "Bearer bob")];

    let seen = list(&gateway, "/mcp/counted", &alice).await;
    assert!(seen.contains(&"only-for-alice".to_owned()), "{seen:?}");
    assert_eq!(list(&gateway, "/mcp/counted", &alice).await, seen);
    assert_eq!(upstream.lists("Bearer alice"), 1);

    // Bob and the configured credential each get their own list, never Alice's.
    let bobs = list(&gateway, "/mcp/counted", &bob).await;
    assert!(
        bobs.contains(&"only-for-bob".to_owned()) && !bobs.contains(&"only-for-alice".to_owned()),
        "{bobs:?}"
    );
    let configured = list(&gateway, "/mcp/counted", &[]).await;
    assert!(
        !configured
            .iter()
            .any(|t| t.contains("alice") || t.contains("bob")),
        "{configured:?}"
    );
    assert_eq!(upstream.lists("Bearer bob"), 1);
    assert_eq!(upstream.lists("Bearer configured"), 1);
    assert!(!gateway.stderr().contains("Bearer alice"));
}

#[tokio::test]
async fn a_2026_servers_lists_are_kept_for_its_ttl_ms_and_a_call_never_lists_again() {
    let upstream = counted(Era::Modern).await;
    // No configured time: only the server's ttlMs keeps anything.
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "0"]).await;
    let configured = "Bearer configured";

    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists(configured), 1);

    // The list taught the tools' x-mcp-header arguments: calls send none more,
    // not even of a tool the list did not name.
    call(&gateway, "/mcp/counted", "echo").await;
    call(&gateway, "/mcp/counted", "echo").await;
    let unknown = one_shot(
        &gateway,
        "/mcp/counted",
        json!({"method": "tools/call", "params": {"name": "not-listed", "arguments": {}}}),
        &[],
    )
    .await;
    assert!(unknown.get("result").is_some(), "{unknown}");
    assert_eq!(upstream.lists(configured), 1);

    // ttlMs 0: nothing is kept, every list reaches the server.
    upstream.set_ttl_ms(0);
    call(&gateway, "/mcp/counted", "change").await;
    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists(configured), 3);
}

#[tokio::test]
async fn list_cache_ttl_0_keeps_no_2025_list() {
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "0"]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists("Bearer configured"), 2);
}

/// The gateway's metrics, scraped with the master key.
async fn metrics(gateway: &Gateway) -> String {
    let key = key();
    let (status, metrics) = scrape(
        &format!("{}/metrics", gateway.base),
        &[("authorization", &key)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    metrics
}

/// How many list requests to `server` the cache answered with `outcome`.
fn list_cache(metrics: &str, server: &str, method: &str, outcome: &str) -> f64 {
    let series = format!(
        r#"mcp_sigv4_list_cache_total{{server="{server}",method="{method}",outcome="{outcome}"}}"#
    );
    sample(metrics, &series).unwrap_or(0.0)
}

/// Scrape until the gateway has `n` requests in flight besides the scrape
/// itself, at most `tries` times; what it last read.
async fn in_flight(gateway: &Gateway, n: usize, tries: usize) -> Option<f64> {
    let mut read = None;
    for _ in 0..tries {
        read = sample(&metrics(gateway).await, "mcp_sigv4_requests_in_flight");
        if read == Some((n + 1) as f64) {
            break;
        }
    }
    read
}

#[tokio::test]
async fn identical_lists_at_once_cost_the_server_one_request_and_all_get_its_result() {
    const N: usize = 8;
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    upstream.hold();
    let clients =
        futures_util::future::join_all((0..N).map(|_| list(&gateway, "/mcp/counted", &[])));
    // All N inside the gateway, and the first of them held at the server:
    // then the server answers.
    let release = async {
        let read = in_flight(&gateway, N, 5_000).await;
        upstream.release();
        read
    };
    let (lists, read) = tokio::join!(clients, release);
    assert_eq!(
        read,
        Some((N + 1) as f64),
        "the {N} lists were never in flight at once"
    );
    for tools in &lists {
        assert_eq!(tools, &["change", "echo", "only-for-configured"]);
    }
    assert_eq!(
        upstream.lists("Bearer configured"),
        1,
        "{:?}",
        upstream.seen.lists
    );

    // One fetched; the others joined it (or, arrived once it was kept, read the cache).
    let metrics = metrics(&gateway).await;
    let count = |outcome| list_cache(&metrics, "counted", "tools/list", outcome);
    assert_eq!(count("miss"), 1.0, "{metrics}");
    assert_eq!(count("shared") + count("hit"), (N - 1) as f64, "{metrics}");
    assert_eq!(count("bypass"), 0.0, "{metrics}");
}

#[tokio::test]
async fn followers_of_a_list_whose_client_left_fetch_it_themselves() {
    const N: usize = 4;
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    upstream.hold();
    let mut leader = Box::pin(list(&gateway, "/mcp/counted", &[]));
    tokio::select! {
        tools = &mut leader => panic!("a held list was answered: {tools:?}"),
        () = upstream.arrived(1) => {}
    }
    let followers =
        futures_util::future::join_all((0..N).map(|_| list(&gateway, "/mcp/counted", &[])));
    let leave = async {
        // The followers and the leader in the gateway, then the leader's client leaves.
        let read = in_flight(&gateway, N + 1, 5_000).await;
        drop(leader);
        // A follower fetches again; then the server answers.
        upstream.arrived(2).await;
        upstream.release();
        read
    };
    let (lists, read) = tokio::join!(followers, leave);
    assert_eq!(
        read,
        Some((N + 2) as f64),
        "the lists were never in flight at once"
    );
    for tools in &lists {
        assert_eq!(tools, &["change", "echo", "only-for-configured"]);
    }
    let fetched = upstream.lists("Bearer configured");
    assert!((2..=N + 1).contains(&fetched), "{fetched}");
}

#[tokio::test]
async fn followers_of_a_list_that_failed_fetch_it_themselves() {
    const N: usize = 4;
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    upstream.hold();
    let clients = futures_util::future::join_all((0..N).map(|_| {
        one_shot(
            &gateway,
            "/mcp/counted",
            json!({"method": "tools/list"}),
            &[],
        )
    }));
    let fail = async {
        let read = in_flight(&gateway, N, 5_000).await;
        upstream.fail_once();
        read
    };
    let (replies, read) = tokio::join!(clients, fail);
    assert_eq!(
        read,
        Some((N + 1) as f64),
        "the lists were never in flight at once"
    );
    // The leader's client gets the server's error; the others, a list.
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(failed.len(), 1, "{replies:?}");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the list failed")),
        "{failed:?}"
    );
    for reply in replies.iter().filter(|r| r.get("error").is_none()) {
        assert_eq!(
            reply["result"]["tools"].as_array().map(Vec::len),
            Some(3),
            "{reply}"
        );
    }
    let fetched = upstream.lists("Bearer configured");
    assert!((2..=N).contains(&fetched), "{fetched}");
}

#[tokio::test]
async fn the_list_cache_counts_hits_misses_and_bypasses_in_the_metrics() {
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    // A request with more than a cursor (a multi round-trip retry) is never kept.
    let retry = json!({"method": "tools/list", "params": {"requestState": "r"}});
    one_shot(&gateway, "/mcp/counted", retry, &[]).await;
    for _ in 0..3 {
        one_shot(
            &gateway,
            "/mcp/counted",
            json!({"method": "prompts/list"}),
            &[],
        )
        .await;
    }
    assert_eq!(upstream.lists("Bearer configured"), 2);

    let metrics = metrics(&gateway).await;
    for (method, outcome, expected) in [
        ("tools/list", "miss", 1.0),
        ("tools/list", "hit", 1.0),
        ("tools/list", "bypass", 1.0),
        ("tools/list", "shared", 0.0),
        ("prompts/list", "miss", 1.0),
        ("prompts/list", "hit", 2.0),
    ] {
        assert_eq!(
            list_cache(&metrics, "counted", method, outcome),
            expected,
            "{method} {outcome} in:\n{metrics}"
        );
    }
    assert!(
        metrics.contains("# TYPE mcp_sigv4_list_cache counter"),
        "{metrics}"
    );
}

/// A request with the master key whose answer is an event stream.
async fn open_stream(
    url: &str,
    method: http::Method,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Incoming {
    let key = key();
    let mut all = vec![("authorization", key.as_str())];
    all.extend_from_slice(headers);
    let response = super::respond(method.as_str(), url, &all, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body()
}

const CHANGED: &str = "notifications/tools/list_changed";

#[tokio::test]
async fn list_changed_on_an_sse_servers_shared_stream_drops_its_lists() {
    let sse = super::sse_server::start().await;
    let gateway = Gateway::start(
        &write_config(&format!(
            "mcp_servers:\n  legacy_sse:\n    url: \"{}\"\n    transport: sse\n    auth_type: api_key\n    auth_value: \"{}\"\ngeneral_settings:\n  master_key: os.environ/MASTER\n",
            sse.url,
            super::sse_server::KEY
        )),
        &["--list-cache-ttl", "600"],
    )
    .await;
    let lists = || sse.counts.lists.load(Ordering::SeqCst);
    assert_eq!(list(&gateway, "/mcp/legacy_sse", &[]).await, ["shout"]);
    list(&gateway, "/mcp/legacy_sse", &[]).await;
    assert_eq!(lists(), 1);
    // The notification comes on the shared stream ahead of the call's reply.
    let change = json!({"method": "tools/call", "params": {"name": "change", "arguments": {}}});
    let reply = one_shot(&gateway, "/mcp/legacy_sse", change, &[]).await;
    assert!(reply.get("result").is_some(), "{reply}");
    list(&gateway, "/mcp/legacy_sse", &[]).await;
    assert_eq!(lists(), 2);
}

#[tokio::test]
async fn list_changed_on_a_2025_get_stream_drops_the_servers_lists() {
    let upstream = counted(Era::Legacy).await;
    let gateway = Gateway::start(&config(&upstream), &["--list-cache-ttl", "600"]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists("Bearer configured"), 1);
    let key = key();
    let session = super::open(&gateway, "/mcp/counted", &[("authorization", &key)]).await;
    let url = format!("{}/mcp/counted", gateway.base);
    let mut events = open_stream(
        &url,
        http::Method::GET,
        &[("mcp-session-id", &session)],
        None,
    )
    .await;
    // The gateway takes the notification in before passing it on.
    super::read_events_until(&mut events, |text| text.contains(CHANGED)).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists("Bearer configured"), 2);
}

#[tokio::test]
async fn list_changed_on_a_subscriptions_listen_stream_drops_the_servers_lists() {
    let upstream = counted(Era::Modern).await;
    let gateway = Gateway::start(&config(&upstream), &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists("Bearer configured"), 1);
    let listen = super::eras::modern(1, "subscriptions/listen", json!({}));
    let url = format!("{}/mcp/counted", gateway.base);
    let mut events = open_stream(
        &url,
        http::Method::POST,
        &[
            ("mcp-protocol-version", super::eras::MODERN),
            ("mcp-method", "subscriptions/listen"),
        ],
        Some(&listen),
    )
    .await;
    super::read_events_until(&mut events, |text| text.contains(CHANGED)).await;
    list(&gateway, "/mcp/counted", &[]).await;
    assert_eq!(upstream.lists("Bearer configured"), 2);
}

#[tokio::test]
async fn a_whole_list_read_with_a_users_credential_leaves_other_users_calls_as_they_were() {
    let upstream = counted(Era::Modern).await;
    let gateway = Gateway::start(&config(&upstream), &[]).await;
    let alice = [("x-mcp-counted-authorization", "Bearer alice")];
    let bob = [("x-mcp-counted-authorization", "Bearer bob")];
    let call_of =
        |tool: &str| json!({"method": "tools/call", "params": {"name": tool, "arguments": {}}});
    list(&gateway, "/mcp/counted", &alice).await;
    assert_eq!(upstream.lists("Bearer alice"), 1);

    // Alice read her whole list: her call of a tool it did not name lists no more.
    one_shot(&gateway, "/mcp/counted", call_of("not-listed"), &alice).await;
    assert_eq!(upstream.lists("Bearer alice"), 1);

    // The configured credential and Bob never listed: their first call of a
    // tool they never saw listed lists first, to learn its x-mcp-header
    // arguments, as it would had Alice never come.
    one_shot(
        &gateway,
        "/mcp/counted",
        call_of("only-for-configured"),
        &[],
    )
    .await;
    assert_eq!(upstream.lists("Bearer configured"), 1);
    one_shot(&gateway, "/mcp/counted", call_of("only-for-bob"), &bob).await;
    assert_eq!(upstream.lists("Bearer bob"), 1);
    assert_eq!(upstream.lists("Bearer alice"), 1);
    assert_eq!(upstream.calls(), 3);
}

/// Issue 27 (1b): a page is kept in no era's shape. A 2025 client and a
/// 2026-07-28 client listing one after the other, in either order, on every
/// route, within one cache lifetime, cost the server one `tools/list`, and
/// each gets a result valid in its own era, whichever era the server speaks.
#[tokio::test]
async fn clients_of_both_eras_share_one_fetch_and_each_gets_its_eras_result() {
    use super::contract::{Caller, Era as Client};

    for server_era in [Era::Legacy, Era::Modern] {
        for path in ["/mcp/counted", "/counted/mcp", "/mcp"] {
            for (first, second) in [
                (Client::Legacy, Client::Modern),
                (Client::Modern, Client::Legacy),
            ] {
                let upstream = counted(server_era).await;
                let gateway = Gateway::start(
                    &write_config(&format!(
                        "mcp_servers:\n  counted:\n    url: \"{url}\"\n    auth_type: bearer_token\n    auth_value: \"configured\"\n  other:\n    url: \"{url}\"\n    auth_type: bearer_token\n    auth_value: \"other\"\ngeneral_settings:\n  master_key: os.environ/MASTER\n",
                        url = upstream.url
                    )),
                    &["--list-cache-ttl", "600"],
                )
                .await;
                let key = key();
                let auth = [("authorization", key.as_str())];
                for era in [first, second] {
                    let mut caller = Caller::new(&gateway, path, era, &auth).await;
                    let list = caller.ask("tools/list", json!({})).await;
                    let names = super::tool_names(&list);
                    let expected = if path == "/mcp" {
                        "counted-echo"
                    } else {
                        "echo"
                    };
                    assert!(
                        names.iter().any(|n| n == expected),
                        "{server_era:?} server, {path}, {era:?} client: {names:?}"
                    );
                    if era == Client::Modern && server_era == Era::Modern {
                        // The freshness left of the server's ttlMs, and its scope.
                        let result = &list.reply()["result"];
                        let ttl = result["ttlMs"].as_u64().unwrap();
                        assert!(ttl > 0 && ttl <= 60_000, "{result}");
                        assert_eq!(result["cacheScope"], "private");
                    }
                }
                let lists = (upstream.lists("Bearer configured"), upstream.all_lists());
                let expected = if path == "/mcp" { (1, 2) } else { (1, 1) };
                assert_eq!(
                    lists, expected,
                    "{server_era:?} server, {path}, {first:?} client first: the server was asked more than once per server"
                );
            }
        }
    }
}

/// Issue 27 (1b), at once: a client of one era follows the fetch a client of
/// the other era leads, and gets the shared page in its own era's shape.
#[tokio::test]
async fn a_follower_of_the_other_era_gets_the_shared_page_in_its_own_shape() {
    use super::contract::{Caller, Era as Client};

    for (leader, follower) in [
        (Client::Legacy, Client::Modern),
        (Client::Modern, Client::Legacy),
    ] {
        let upstream = counted(Era::Modern).await;
        let gateway = Gateway::start(&config(&upstream), &[]).await;
        let key = key();
        let auth = [("authorization", key.as_str())];
        let mut first = Caller::new(&gateway, "/mcp/counted", leader, &auth).await;
        let mut second = Caller::new(&gateway, "/mcp/counted", follower, &auth).await;
        upstream.hold();
        let lead = first.ask("tools/list", json!({}));
        let follow = async {
            upstream.arrived(1).await;
            let list = second.ask("tools/list", json!({}));
            let release = async {
                // The leader and the follower inside the gateway: then the
                // server answers the leader.
                let read = in_flight(&gateway, 2, 5_000).await;
                upstream.release();
                read
            };
            tokio::join!(list, release)
        };
        let (led, (followed, read)) = tokio::join!(lead, follow);
        assert_eq!(
            read,
            Some(3.0),
            "the two lists were never in flight at once"
        );
        for answer in [&led, &followed] {
            assert_eq!(
                super::tool_names(answer),
                ["change", "echo", "only-for-configured"]
            );
        }
        assert_eq!(upstream.lists("Bearer configured"), 1, "{leader:?} led");
        let metrics = metrics(&gateway).await;
        let count = |outcome| list_cache(&metrics, "counted", "tools/list", outcome);
        assert_eq!(count("shared") + count("hit"), 1.0, "{metrics}");
    }
}
