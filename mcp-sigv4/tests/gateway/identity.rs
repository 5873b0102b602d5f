//! Who may call what (issue #31 §2-4): named keys with their servers and tool
//! globs, filtered lists and refused calls on every route and era, sessions
//! bound to the identity that opened them, a list cache that never shows one
//! caller another's list, and rate limits per identity. Driven against the
//! real gateway process in front of two SigV4 stand-ins on 127.0.0.1 that log
//! every request, so a refused call is seen never to arrive.

use http::StatusCode;
use serde_json::{Value, json};

use super::era_server::{self, EraStandIn, Kind};
use super::eras::{modern, post_modern_with};
use super::telemetry::{sample, scrape};
use super::{Answer, Gateway, MASTER_KEY, initialize, post, rpc, send, tool_names};

const READER: &str = "reader-key-0123456789";
const BOTH: &str = "both-key-0123456789ab";
const TIGHT: &str = "tight-key-0123456789";
const QUICK: &str = "quick-key-0123456789";
const BATCH: &str = "batch-key-0123456789";
const EXPIRED: &str = "expired-key-012345678";

/// Two servers, `alpha` and `beta`, and a config with named keys:
/// `reader` (alpha's `echo` only), `both` (every tool of both), `tight`
/// (alpha, 2 a minute), `quick` (alpha, 120 a minute), `batch` (alpha, 3 a
/// minute) and `expired`.
struct Setup {
    alpha: EraStandIn,
    beta: EraStandIn,
    gateway: Gateway,
}

async fn setup(extra: &[&str]) -> Setup {
    let alpha = era_server::start(Kind::Dual).await;
    let beta = era_server::start(Kind::Dual).await;
    let mut yaml = String::from("mcp_servers:\n");
    for (name, server) in [("alpha", &alpha), ("beta", &beta)] {
        yaml.push_str(&crate::signed_entry(name, &server.url()));
    }
    yaml.push_str(&format!(
        r#"general_settings:
  master_key: os.environ/MASTER
  keys:
    reader:
      key: os.environ/READER_KEY
      servers: [alpha]
      allowed_tools: [alpha-echo]
    both:
      key_sha256: {both}
      servers: [alpha, beta]
    tight:
      key: {TIGHT}
      servers: [alpha]
      requests_per_minute: 2
    quick:
      key: {QUICK}
      servers: [alpha]
      requests_per_minute: 120
    batch:
      key: {BATCH}
      servers: [alpha]
      requests_per_minute: 3
    expired:
      key: {EXPIRED}
      servers: [alpha]
      expires: 2001-01-01
"#,
        both = sha256_hex(BOTH),
    ));
    let config = super::write_config("identity", &yaml);
    let gateway = Gateway::start_with_env(&config, extra, &[("READER_KEY", READER)]).await;
    Setup {
        alpha,
        beta,
        gateway,
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// `tools/call` requests that reached `server`, by tool name.
fn calls(server: &EraStandIn) -> Vec<String> {
    server
        .seen_method("tools/call")
        .iter()
        .map(|seen| {
            seen.body["params"]["name"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn is_filtered_refusal(answer: &Answer) -> bool {
    let reply = answer.reply();
    reply["error"]["code"] == -32602 && reply["error"]["data"]["source"] == "gateway"
}

/// Open a 2025-era session at `path` as `key`.
async fn open(gateway: &Gateway, path: &str, key: &str) -> String {
    let auth = bearer(key);
    super::open(gateway, path, &[("authorization", &auth)]).await
}

async fn in_session(
    gateway: &Gateway,
    path: &str,
    key: &str,
    session: &str,
    message: &Value,
) -> Answer {
    let auth = bearer(key);
    let url = format!("{}{path}", gateway.base);
    send(
        "POST",
        &url,
        &[("authorization", &auth), ("mcp-session-id", session)],
        Some(message),
    )
    .await
}

fn echo(id: i64, name: &str) -> Value {
    rpc(
        id,
        "tools/call",
        json!({"name": name, "arguments": {"text": "hi"}}),
    )
}

#[tokio::test]
async fn lists_and_calls_follow_the_caller_on_every_route_and_era() {
    let s = setup(&[]).await;
    let g = &s.gateway;

    // The aggregated /mcp in a 2025 session: names stay prefixed, only what
    // the caller may call is listed, and the rest is refused before any upstream.
    let session = open(g, "/mcp", READER).await;
    let list = in_session(
        g,
        "/mcp",
        READER,
        &session,
        &rpc(1, "tools/list", json!({})),
    )
    .await;
    assert_eq!(tool_names(&list), ["alpha-echo"]);
    let ok = in_session(g, "/mcp", READER, &session, &echo(2, "alpha-echo")).await;
    assert_eq!(ok.reply()["result"]["content"][0]["text"], "hi", "{ok:?}");
    let refused = in_session(g, "/mcp", READER, &session, &echo(3, "alpha-lookup")).await;
    assert!(is_filtered_refusal(&refused), "{refused:?}");
    let other = in_session(g, "/mcp", READER, &session, &echo(4, "beta-echo")).await;
    assert_eq!(other.reply()["error"]["code"], -32602, "{other:?}");

    // A batch: the refused message is answered as a filtered tool, the other runs.
    let batch = in_session(
        g,
        "/mcp",
        READER,
        &session,
        &json!([echo(5, "alpha-count"), echo(6, "alpha-echo")]),
    )
    .await;
    let replies = batch.messages[0]
        .as_array()
        .unwrap_or_else(|| panic!("{batch:?}"));
    assert_eq!(replies.len(), 2, "{batch:?}");
    assert_eq!(
        replies[0]["error"]["data"]["source"], "gateway",
        "{batch:?}"
    );
    assert_eq!(
        replies[1]["result"]["content"][0]["text"], "hi",
        "{batch:?}"
    );

    // The aggregate of a caller that may use one server never touches the other.
    assert!(s.beta.seen().is_empty(), "{:?}", s.beta.seen());

    // A caller with both servers sees both, under the same names.
    let wide = open(g, "/mcp", BOTH).await;
    let list = in_session(g, "/mcp", BOTH, &wide, &rpc(1, "tools/list", json!({}))).await;
    let names = tool_names(&list);
    assert!(
        names.contains(&"alpha-lookup".to_owned()) && names.contains(&"beta-echo".to_owned()),
        "{names:?}"
    );

    // One server's routes: its own names, filtered; another server is 403.
    let own = open(g, "/mcp/alpha", READER).await;
    let list = in_session(
        g,
        "/mcp/alpha",
        READER,
        &own,
        &rpc(1, "tools/list", json!({})),
    )
    .await;
    assert_eq!(tool_names(&list), ["echo"]);
    let refused = in_session(g, "/mcp/alpha", READER, &own, &echo(2, "lookup")).await;
    assert!(is_filtered_refusal(&refused), "{refused:?}");
    let auth = bearer(READER);
    let key = [("authorization", auth.as_str())];
    for (path, extra) in [
        ("/mcp/beta", None),
        ("/beta/mcp", None),
        ("/mcp", Some(("x-mcp-servers", "beta"))),
        ("/mcp", Some(("x-litellm-mcp-server", "alpha,beta"))),
        ("/mcp?server=beta", None),
    ] {
        let mut headers = key.to_vec();
        headers.extend(extra);
        let url = format!("{}{path}", g.base);
        let answer = post(&url, &headers, &initialize()).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{path} {extra:?}: {answer:?}"
        );
    }

    // A 2026-07-28 client, aggregated and routed.
    let list = post_modern_with(g, "/mcp", &modern(1, "tools/list", json!({})), &key).await;
    assert_eq!(tool_names(&list), ["alpha-echo"]);
    let refused = post_modern_with(
        g,
        "/mcp/alpha",
        &modern(
            2,
            "tools/call",
            json!({"name": "lookup", "arguments": {"region": "x", "key": "y"}}),
        ),
        &key,
    )
    .await;
    assert!(is_filtered_refusal(&refused), "{refused:?}");
    let beta = post_modern_with(g, "/mcp/beta", &modern(3, "tools/list", json!({})), &key).await;
    assert_eq!(beta.status, StatusCode::FORBIDDEN, "{beta:?}");

    // One-shot JSON-RPC for curl users.
    let url = format!("{}/mcp", g.base);
    let one_shot = post(&url, &key, &json!({"method": "tools/list"})).await;
    assert_eq!(tool_names(&one_shot), ["alpha-echo"]);

    // The REST API.
    let rest = |path: &str| format!("{}{path}", g.base);
    let list = send("GET", &rest("/mcp-rest/tools/list"), &key, None).await;
    let names: Vec<&str> = list.messages[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["echo"], "{list:?}");
    let other = send(
        "GET",
        &rest("/mcp-rest/tools/list?server_id=beta"),
        &key,
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN, "{other:?}");
    let servers = send("GET", &rest("/v1/mcp/server"), &key, None).await;
    assert_eq!(
        servers.messages[0].as_array().unwrap().len(),
        1,
        "{servers:?}"
    );
    assert_eq!(servers.messages[0][0]["server_id"], "alpha");
    for body in [
        json!({"server_id": "beta", "name": "echo", "arguments": {"text": "x"}}),
        json!({"name": "beta-echo", "arguments": {"text": "x"}}),
    ] {
        let answer = post(&rest("/mcp-rest/tools/call"), &key, &body).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{body}: {answer:?}");
    }
    let answer = post(
        &rest("/mcp-rest/tools/call"),
        &key,
        &json!({"name": "alpha-lookup", "arguments": {"region": "x", "key": "y"}}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");

    // What reached the servers: the allowed calls only.
    assert!(
        calls(&s.alpha).iter().all(|name| name == "echo"),
        "{:?}",
        calls(&s.alpha)
    );
    assert_eq!(calls(&s.alpha).len(), 2);
    assert!(calls(&s.beta).is_empty(), "{:?}", calls(&s.beta));
    assert!(
        !s.gateway.stderr().contains(READER) && !s.gateway.stderr().contains(BOTH),
        "a key in the log"
    );
}

#[tokio::test]
async fn keys_deny_by_default() {
    let s = setup(&[]).await;
    let url = format!("{}/mcp/alpha", s.gateway.base);
    let wrong = bearer("not-a-key-of-this-gateway");
    let expired = bearer(EXPIRED);
    for headers in [
        vec![],
        vec![("authorization", wrong.as_str())],
        vec![("x-litellm-api-key", "not-a-key-of-this-gateway")],
        vec![("authorization", expired.as_str())],
    ] {
        let answer = post(&url, &headers, &initialize()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{headers:?}: {answer:?}"
        );
    }
    // LiteLLM's own header carries a named key too; the master key opens all.
    let answer = post(&url, &[("x-litellm-api-key", READER)], &initialize()).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let master = bearer(MASTER_KEY);
    let beta = format!("{}/mcp/beta", s.gateway.base);
    let answer = post(&beta, &[("authorization", &master)], &initialize()).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(s.alpha.seen_method("tools/call").is_empty());
    assert!(
        s.gateway
            .stderr()
            .contains("general_settings.keys.expired.expires: the key has expired"),
        "{}",
        s.gateway.stderr()
    );
}

#[tokio::test]
async fn a_session_is_bound_to_the_identity_that_opened_it() {
    let s = setup(&[]).await;
    let g = &s.gateway;
    let session = open(g, "/mcp", BOTH).await;
    let list = rpc(1, "tools/list", json!({}));
    for other in [READER, MASTER_KEY] {
        let answer = in_session(g, "/mcp", other, &session, &list).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
        let answer = in_session(g, "/mcp", other, &session, &echo(2, "alpha-echo")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    }
    let answer = in_session(g, "/mcp", BOTH, &session, &list).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(calls(&s.alpha).is_empty(), "{:?}", calls(&s.alpha));
}

#[tokio::test]
async fn the_list_cache_never_shows_one_caller_anothers_list() {
    let s = setup(&["--list-cache-ttl", "300"]).await;
    let g = &s.gateway;
    let list = rpc(1, "tools/list", json!({}));
    // Each order: the wide list first, then the narrow one, and back.
    let wide = open(g, "/mcp/alpha", BOTH).await;
    let narrow = open(g, "/mcp/alpha", READER).await;
    let first = in_session(g, "/mcp/alpha", BOTH, &wide, &list).await;
    let all = tool_names(&first);
    assert!(all.len() > 1, "{all:?}");
    assert_eq!(
        tool_names(&in_session(g, "/mcp/alpha", READER, &narrow, &list).await),
        ["echo"]
    );
    assert_eq!(
        tool_names(&in_session(g, "/mcp/alpha", BOTH, &wide, &list).await),
        all
    );
    let key = bearer(READER);
    let modern_list = post_modern_with(
        g,
        "/mcp/alpha",
        &modern(2, "tools/list", json!({})),
        &[("authorization", &key)],
    )
    .await;
    assert_eq!(tool_names(&modern_list), ["echo"]);
    // The cache did its work: one tools/list reached the server for all of them.
    assert_eq!(s.alpha.seen_method("tools/list").len(), 1);
}

#[tokio::test]
async fn rate_limits_per_identity_refuse_and_recover() {
    let s = setup(&[]).await;
    let g = &s.gateway;
    let tight = bearer(TIGHT);
    let key = [("authorization", tight.as_str())];
    let call = |n: i64| json!({"server_id": "alpha", "name": "echo", "arguments": {"text": format!("{n}")}});
    let url = format!("{}/mcp-rest/tools/call", g.base);
    // Neither /health, /health/readiness nor /metrics counts (the last two are
    // the master key's).
    for _ in 0..3 {
        let health = send("GET", &format!("{}/health", g.base), &key, None).await;
        assert_eq!(health.status, StatusCode::OK);
    }
    let (status, _) = scrape(&format!("{}/metrics", g.base), &key).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the master key's");
    let ready = send("GET", &format!("{}/health/readiness", g.base), &key, None).await;
    assert_eq!(ready.status, StatusCode::FORBIDDEN, "the master key's");
    for n in 0..2 {
        let answer = post(&url, &key, &call(n)).await;
        assert_eq!(answer.status, StatusCode::OK, "call {n}: {answer:?}");
    }
    let response = super::respond("POST", &url, &key, Some(&call(2))).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(calls(&s.alpha).len(), 2, "the refused call never arrived");
    // Another identity is not slowed by it.
    let reader = bearer(READER);
    let answer = post(&url, &[("authorization", &reader)], &call(3)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // In a batch, the message past the limit gets a JSON-RPC error.
    let session = open(g, "/mcp/alpha", BATCH).await; // initialize, initialized: 2 of 3
    let batch = json!([rpc(1, "ping", json!({})), echo(2, "echo")]);
    let answer = in_session(g, "/mcp/alpha", BATCH, &session, &batch).await;
    let replies = answer.messages[0]
        .as_array()
        .unwrap_or_else(|| panic!("{answer:?}"));
    assert_eq!(replies.len(), 2, "{answer:?}");
    assert!(replies[0].get("result").is_some(), "{answer:?}");
    assert_eq!(replies[1]["error"]["code"], -32029, "{answer:?}");
    assert!(replies[1]["error"]["data"]["retryAfter"].as_u64().unwrap() >= 1);
    assert_eq!(
        calls(&s.alpha).len(),
        3,
        "the call past the limit never arrived"
    );

    // Recovery: 120 a minute is one every half second.
    let quick = bearer(QUICK);
    let quick = [("authorization", quick.as_str())];
    let servers = format!("{}/v1/mcp/server", g.base);
    let mut allowed = 0;
    let retry = loop {
        let response = super::respond("GET", &servers, &quick, None).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap();
        }
        assert_eq!(response.status(), StatusCode::OK);
        allowed += 1;
        assert!(allowed <= 1000, "never limited");
    };
    assert!(allowed >= 120, "the bucket held {allowed}");
    assert_eq!(retry, 1);
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let again = send("GET", &servers, &quick, None).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");

    let master = bearer(MASTER_KEY);
    let (_, metrics) = scrape(
        &format!("{}/metrics", g.base),
        &[("authorization", &master)],
    )
    .await;
    let limited = |id: &str| {
        sample(
            &metrics,
            &format!(
                r#"mcp_sigv4_identity_requests_total{{identity="{id}",outcome="rate_limited"}}"#
            ),
        )
    };
    assert_eq!(limited("tight"), Some(1.0), "{metrics}");
    assert_eq!(limited("batch"), Some(1.0), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            r#"mcp_sigv4_identity_requests_total{identity="tight",outcome="allowed"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
}

/// The audit trail names who called: a named key's name as `identity` and
/// `rule`, its calls `ok`, the call past its rate limit `rate_limited`, and a
/// call outside its grants `refused`; never the key itself.
#[tokio::test]
async fn the_audit_trail_names_the_caller_and_its_refusals() {
    let trail = super::scratch_dir("identity-audit").join("audit.jsonl");
    let s = setup(&["--audit-log", trail.to_str().unwrap()]).await;
    let g = &s.gateway;
    let url = format!("{}/mcp-rest/tools/call", g.base);
    let call =
        |name: &str| json!({"server_id": "alpha", "name": name, "arguments": {"text": "hi"}});
    let tight = bearer(TIGHT);
    for _ in 0..3 {
        post(&url, &[("authorization", &tight)], &call("echo")).await;
    }
    let session = open(g, "/mcp", READER).await;
    let refused = in_session(g, "/mcp", READER, &session, &echo(3, "alpha-lookup")).await;
    assert!(is_filtered_refusal(&refused), "{refused:?}");
    let text = std::fs::read_to_string(&trail).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of = |identity: &str| -> Vec<(String, String)> {
        lines
            .iter()
            .filter(|l| l["identity"] == identity)
            .map(|l| {
                assert_eq!(l["rule"], identity, "{l}");
                (
                    l["outcome"].as_str().unwrap().to_owned(),
                    l["tool"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let pair = |outcome: &str, tool: &str| (outcome.to_owned(), tool.to_owned());
    assert_eq!(
        of("tight"),
        [
            pair("ok", "echo"),
            pair("ok", "echo"),
            pair("rate_limited", "")
        ],
        "{text}"
    );
    assert_eq!(of("reader"), [pair("refused", "lookup")], "{text}");
    assert_eq!(calls(&s.alpha).len(), 2, "only the allowed calls arrived");
    for secret in [TIGHT, READER, MASTER_KEY] {
        assert!(!text.contains(secret), "a key in the trail: {text}");
    }
}

/// A `tools/call` or `prompts/get` whose `params.name` is not a string is
/// refused as invalid params on every route, and never reaches a server: the
/// gateway cannot check a name it cannot read against the caller's grants.
#[tokio::test]
async fn a_name_that_is_not_a_string_is_refused_on_every_route() {
    let s = setup(&[]).await;
    let g = &s.gateway;
    let unnamed = |answer: &Answer| {
        let error = &answer.reply()["error"];
        error["code"] == -32602
            && error["message"]
                .as_str()
                .is_some_and(|m| m.contains("params.name"))
    };
    let own = open(g, "/mcp/alpha", READER).await;
    let aggregated = open(g, "/mcp", READER).await;
    for (path, session) in [("/mcp/alpha", &own), ("/mcp", &aggregated)] {
        for (id, method, name) in [
            (1, "tools/call", json!(123)),
            (2, "tools/call", json!(["echo"])),
            (3, "tools/call", Value::Null),
            (4, "prompts/get", json!({"name": "greet"})),
        ] {
            let message = rpc(id, method, json!({"name": name, "arguments": {}}));
            let answer = in_session(g, path, READER, session, &message).await;
            assert!(unnamed(&answer), "{path} {message}: {answer:?}");
        }
        let batch = json!([rpc(5, "tools/call", json!({"name": 7})), echo(6, "echo")]);
        let answer = in_session(g, path, READER, session, &batch).await;
        let replies = answer.messages[0]
            .as_array()
            .unwrap_or_else(|| panic!("{answer:?}"));
        assert_eq!(replies[0]["error"]["code"], -32602, "{path} {answer:?}");
    }
    // One-shot, without a session or `jsonrpc`, and a 2026-07-28 client.
    let auth = bearer(READER);
    let key = [("authorization", auth.as_str())];
    for path in ["/mcp/alpha", "/mcp"] {
        let url = format!("{}{path}", g.base);
        let body = json!({"method": "tools/call", "params": {"name": ["lookup"], "arguments": {}}});
        let answer = post(&url, &key, &body).await;
        assert!(unnamed(&answer), "{path}: {answer:?}");
        let message = modern(9, "tools/call", json!({"name": 123, "arguments": {}}));
        let answer = post_modern_with(g, path, &message, &key).await;
        assert!(unnamed(&answer), "{path}: {answer:?}");
    }
    // REST needs a string name.
    let rest = format!("{}/mcp-rest/tools/call", g.base);
    let body = json!({"server_id": "alpha", "name": 123, "arguments": {}});
    let answer = post(&rest, &key, &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    // Only the batch's `echo` on alpha's own route arrived.
    assert_eq!(calls(&s.alpha), ["echo"]);
    for method in ["prompts/get", "tools/call"] {
        assert!(s.beta.seen_method(method).is_empty());
    }
    assert!(s.alpha.seen_method("prompts/get").is_empty());
}

/// The 404 for a server that does not exist names only the servers the
/// caller may use.
#[tokio::test]
async fn an_unknown_server_is_answered_with_the_callers_servers_only() {
    let s = setup(&[]).await;
    let g = &s.gateway;
    let url = format!("{}/mcp/nosuch", g.base);
    let reader = bearer(READER);
    let answer = post(&url, &[("authorization", &reader)], &initialize()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    let text = format!("{:?}", answer.messages);
    assert!(text.contains("alpha") && !text.contains("beta"), "{text}");
    let master = bearer(MASTER_KEY);
    let answer = post(&url, &[("authorization", &master)], &initialize()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    let text = format!("{:?}", answer.messages);
    assert!(text.contains("alpha") && text.contains("beta"), "{text}");
}

/// What the gateway refuses itself is written `refused` or `rate_limited`,
/// never `upstream_error`: a REST call or list for a server outside the
/// caller's grants, each message of a batch past the rate limit, a
/// 2026-07-28 call whose `Mcp-Param-*` headers do not match its arguments,
/// and a call whose name is not a string.
#[tokio::test]
async fn the_gateways_own_refusals_are_written_as_such() {
    let trail = super::scratch_dir("identity-audit").join("audit.jsonl");
    let s = setup(&["--audit-log", trail.to_str().unwrap()]).await;
    let g = &s.gateway;
    let lines = || -> Vec<Value> {
        std::fs::read_to_string(&trail)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let of = |identity: &str| -> Vec<(String, String, String)> {
        lines()
            .iter()
            .filter(|l| l["identity"] == identity)
            .map(|l| {
                let field = |name: &str| l[name].as_str().unwrap_or("").to_owned();
                (field("outcome"), field("server"), field("tool"))
            })
            .collect()
    };
    let line = |outcome: &str, server: &str, tool: &str| {
        (outcome.to_owned(), server.to_owned(), tool.to_owned())
    };

    // REST, a server outside the grants.
    let reader = bearer(READER);
    let key = [("authorization", reader.as_str())];
    let call = post(
        &format!("{}/mcp-rest/tools/call", g.base),
        &key,
        &json!({"server_id": "beta", "name": "echo", "arguments": {}}),
    )
    .await;
    assert_eq!(call.status, StatusCode::FORBIDDEN, "{call:?}");
    let list = send(
        "GET",
        &format!("{}/mcp-rest/tools/list?server_id=beta", g.base),
        &key,
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::FORBIDDEN, "{list:?}");
    // A name that is not a string.
    let one_shot = post(
        &format!("{}/mcp/alpha", g.base),
        &key,
        &json!({"method": "tools/call", "params": {"name": 123}}),
    )
    .await;
    assert_eq!(one_shot.reply()["error"]["code"], -32602, "{one_shot:?}");
    assert_eq!(
        of("reader"),
        [
            line("refused", "beta", "echo"),
            line("refused", "beta", ""),
            line("refused", "", ""),
        ]
    );

    // A batch of three at 3 a minute after initialize and initialized: the
    // first message takes the request's turn, the other two are refused.
    let session = open(g, "/mcp/alpha", BATCH).await;
    let batch = json!([echo(1, "echo"), echo(2, "echo"), echo(3, "echo")]);
    let answer = in_session(g, "/mcp/alpha", BATCH, &session, &batch).await;
    let codes: Vec<&Value> = answer.messages[0]
        .as_array()
        .unwrap_or_else(|| panic!("{answer:?}"))
        .iter()
        .map(|reply| &reply["error"]["code"])
        .collect();
    assert_eq!(codes, [&Value::Null, &json!(-32029), &json!(-32029)]);
    assert_eq!(
        of("batch"),
        [
            line("ok", "alpha", "echo"),
            line("rate_limited", "", ""),
            line("rate_limited", "", ""),
        ]
    );

    // A 2026-07-28 call without the Mcp-Param-Region header its tool asks for.
    let both = bearer(BOTH);
    let key = [("authorization", both.as_str())];
    let listed = post_modern_with(g, "/mcp/alpha", &modern(1, "tools/list", json!({})), &key).await;
    assert!(
        tool_names(&listed).contains(&"lookup".to_owned()),
        "{listed:?}"
    );
    let lookup = modern(
        2,
        "tools/call",
        json!({"name": "lookup", "arguments": {"region": "eu-west-1", "key": "k"}}),
    );
    let answer = post_modern_with(g, "/mcp/alpha", &lookup, &key).await;
    assert_eq!(answer.reply()["error"]["code"], -32020, "{answer:?}");
    assert_eq!(of("both"), [line("refused", "alpha", "lookup")]);
    assert!(calls(&s.alpha).iter().all(|name| name == "echo"));
}
