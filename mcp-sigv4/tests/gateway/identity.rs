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
use super::{Answer, Gateway, MASTER_KEY, NEXT, initialize, rpc, send, server, tool_names};

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
        yaml.push_str(&format!(
            "  {name}:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: {}\n    aws_service_name: {}\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\n",
            server.url(),
            server::REGION,
            server::SERVICE,
        ));
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
    let dir = std::env::temp_dir().join(format!(
        "mcp-sigv4-identity-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
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
        let answer = send("POST", &url, &headers, Some(&initialize())).await;
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
    let one_shot = send("POST", &url, &key, Some(&json!({"method": "tools/list"}))).await;
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
        let answer = send("POST", &rest("/mcp-rest/tools/call"), &key, Some(&body)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{body}: {answer:?}");
    }
    let answer = send(
        "POST",
        &rest("/mcp-rest/tools/call"),
        &key,
        Some(&json!({"name": "alpha-lookup", "arguments": {"region": "x", "key": "y"}})),
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
        let answer = send("POST", &url, &headers, Some(&initialize())).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{headers:?}: {answer:?}"
        );
    }
    // LiteLLM's own header carries a named key too; the master key opens all.
    let answer = send(
        "POST",
        &url,
        &[("x-litellm-api-key", READER)],
        Some(&initialize()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let master = bearer(MASTER_KEY);
    let beta = format!("{}/mcp/beta", s.gateway.base);
    let answer = send(
        "POST",
        &beta,
        &[("authorization", &master)],
        Some(&initialize()),
    )
    .await;
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
        let answer = send("POST", &url, &key, Some(&call(n))).await;
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
    let answer = send("POST", &url, &[("authorization", &reader)], Some(&call(3))).await;
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
    let dir = std::env::temp_dir().join(format!(
        "mcp-sigv4-identity-audit-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let trail = dir.join("audit.jsonl");
    let s = setup(&["--audit-log", trail.to_str().unwrap()]).await;
    let g = &s.gateway;
    let url = format!("{}/mcp-rest/tools/call", g.base);
    let call =
        |name: &str| json!({"server_id": "alpha", "name": name, "arguments": {"text": "hi"}});
    let tight = bearer(TIGHT);
    for _ in 0..3 {
        send(
            "POST",
            &url,
            &[("authorization", &tight)],
            Some(&call("echo")),
        )
        .await;
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
