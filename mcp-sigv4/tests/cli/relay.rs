//! The relay driven as a host drives it: the real `mcp-sigv4 proxy` as a child
//! process, against scripted endpoints on 127.0.0.1 built for each case. Where a
//! behaviour can be asserted by structure (N calls in flight at once, which reply
//! came first), it is, not by timing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::endpoint::{self, Behaviour};
use crate::server::{ACCESS_KEY, SECRET_KEY, SESSION_TOKEN};
use crate::{Cli, LIMIT, credentials_env, initialize};

fn request(id: i64, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

fn call(id: i64, tool: &str, arguments: Value) -> String {
    request(
        id,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
}

/// The stand-in endpoint, answering requests with event streams when `sse`.
async fn endpoint_with_sse(sse: bool) -> endpoint::Endpoint {
    endpoint::start(Behaviour {
        sse,
        ..Behaviour::default()
    })
    .await
}

/// A proxy to `endpoint`, initialized like a host does.
async fn session(endpoint: &endpoint::Endpoint, extra: &[&str]) -> Cli {
    session_at(endpoint, "2025-06-18", extra).await
}

/// A proxy whose host initialized at protocol `version`.
async fn session_at(endpoint: &endpoint::Endpoint, version: &str, extra: &[&str]) -> Cli {
    let mut cli = Cli::proxy(
        &endpoint.url(),
        "bedrock-agentcore",
        extra,
        &credentials_env(),
    );
    cli.send(&request(
        0,
        "initialize",
        json!({
            "protocolVersion": version,
            "capabilities": {"sampling": {}},
            "clientInfo": {"name": "relay-test", "version": "1"}
        }),
    ))
    .await;
    let (reply, _) = cli.recv_id(0).await;
    assert_eq!(reply["result"]["protocolVersion"], version, "{reply}");
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    cli
}

/// Wait (bounded) until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn json_replies_are_relayed_concurrently() {
    const N: usize = 6;
    let endpoint = endpoint::start(Behaviour {
        peers: N,
        ..Behaviour::default()
    })
    .await;
    let mut cli = session(&endpoint, &[]).await;
    for id in 1..=N as i64 {
        cli.send(&call(id, "wait_for_peers", json!({}))).await;
    }
    // The tool answers only once all N calls are in flight at the server together.
    let mut answered = Vec::new();
    for _ in 0..N {
        let reply = cli.recv().await;
        assert_eq!(
            reply["result"]["content"][0]["text"],
            format!("{N} calls were in flight together"),
            "{reply}"
        );
        answered.push(reply["id"].as_i64().unwrap());
    }
    answered.sort_unstable();
    assert_eq!(answered, (1..=N as i64).collect::<Vec<_>>());
    assert_eq!(endpoint.seen.most_calls_in_flight.load(Ordering::SeqCst), N);
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn a_ping_during_a_slow_call_is_answered_first() {
    for sse in [false, true] {
        let endpoint = endpoint_with_sse(sse).await;
        let mut cli = session(&endpoint, &[]).await;
        cli.send(&call(1, "slow", json!({"ms": 3000}))).await;
        cli.send(&request(2, "ping", json!({}))).await;
        let first = cli.recv().await;
        assert_eq!(
            first["id"], 2,
            "sse={sse}: the ping waited for the call: {first}"
        );
        assert_eq!(first["result"], json!({}));
        let second = cli.recv().await;
        assert_eq!(second["id"], 1, "{second}");
        assert_eq!(second["result"]["content"][0]["text"], "slow done");
        cli.finish().await;
    }
}

/// Call `tool`, whose reply stream the endpoint breaks once, through a proxy;
/// assert that its reply came on the one resumed stream. The messages before
/// the reply, and the proxy's stderr.
async fn call_through_a_broken_stream(tool: &str) -> (Vec<Value>, String) {
    let endpoint = endpoint_with_sse(true).await;
    let mut cli = session(&endpoint, &[]).await;
    cli.send(&call(7, tool, json!({}))).await;
    let (reply, before) = cli.recv_id(7).await;
    assert_eq!(
        reply["result"]["content"][0]["text"], "survived a broken stream",
        "{reply}"
    );
    assert_eq!(endpoint.seen.resumptions.load(Ordering::SeqCst), 1);
    let (_, stderr) = cli.finish().await;
    (before, stderr)
}

#[tokio::test]
async fn a_reply_stream_that_breaks_is_resumed_with_last_event_id() {
    let (before, _) = call_through_a_broken_stream("flaky").await;
    assert!(
        before
            .iter()
            .any(|m| m["method"] == "notifications/progress"),
        "the progress sent before the break reached the host: {before:?}"
    );
}

#[tokio::test]
async fn a_broken_reply_stream_is_resumed_after_the_servers_retry() {
    let (_, stderr) = call_through_a_broken_stream("flaky_retry").await;
    // The wait chosen is the server's, as parsed from its `retry:` field.
    assert!(
        stderr.contains(&format!("retry_ms={}", endpoint::RETRY_MS)),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_reply_stream_that_breaks_unresumably_gets_an_error_reply() {
    let endpoint = endpoint_with_sse(true).await;
    let mut cli = session(&endpoint, &[]).await;
    cli.send(&call(8, "flaky_unnumbered", json!({}))).await;
    let (reply, _) = cli.recv_id(8).await;
    let message = reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    assert!(message.contains("ended before the reply"), "{message}");
    assert!(message.contains("may or may not have run"), "{message}");
    // The relay keeps working.
    cli.send(&request(9, "ping", json!({}))).await;
    let (pong, _) = cli.recv_id(9).await;
    assert_eq!(pong["result"], json!({}));
    cli.finish().await;
}

#[tokio::test]
async fn a_restarted_server_gets_a_new_session_and_the_host_its_answer() {
    for sse in [false, true] {
        let endpoint = endpoint_with_sse(sse).await;
        let mut cli = session(&endpoint, &["--log-level", "info"]).await;
        cli.send(&request(1, "tools/list", json!({}))).await;
        let (listed, _) = cli.recv_id(1).await;
        assert!(listed["result"]["tools"].is_array(), "{listed}");
        endpoint.restart();
        // Several requests meet the 404 at once: one new session serves them all.
        for id in 2..=4 {
            cli.send(&request(id, "tools/list", json!({}))).await;
        }
        for _ in 2..=4 {
            let reply = cli.recv().await;
            assert!(reply["result"]["tools"].is_array(), "sse={sse}: {reply}");
        }
        assert_eq!(
            endpoint.seen.initializes.load(Ordering::SeqCst),
            2,
            "sse={sse}"
        );
        let (code, stderr) = cli.finish().await;
        assert_eq!(code, 0);
        assert!(stderr.contains("started a new one"), "{stderr}");
    }
}

#[tokio::test]
async fn a_405_get_stream_is_skipped_quietly() {
    let endpoint = endpoint::start(Behaviour {
        no_get_stream: true,
        ..Behaviour::default()
    })
    .await;
    let mut cli = session(&endpoint, &[]).await;
    eventually("the GET", || {
        endpoint.seen.get_405s.load(Ordering::SeqCst) == 1
    })
    .await;
    cli.send(&request(1, "ping", json!({}))).await;
    let (pong, _) = cli.recv_id(1).await;
    assert_eq!(pong["result"], json!({}));
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0);
    assert!(
        !stderr.contains("WARN"),
        "a 405 is not worth a warning: {stderr}"
    );
    assert_eq!(
        endpoint.seen.gets.load(Ordering::SeqCst),
        1,
        "no reconnection after 405"
    );
}

#[tokio::test]
async fn server_messages_on_the_get_stream_reach_the_host_and_its_replies_the_server() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let mut cli = session(&endpoint, &[]).await;
    eventually("the GET stream", || {
        endpoint.seen.gets.load(Ordering::SeqCst) >= 1
    })
    .await;
    let mut pushed = 0;
    for _ in 0..400 {
        pushed = endpoint
            .push(
                json!({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage",
                "params":{"messages":[],"maxTokens":10}}),
            )
            .await;
        if pushed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pushed, 1);
    let request = cli.recv().await;
    assert_eq!(request["method"], "sampling/createMessage", "{request}");
    cli.send(r#"{"jsonrpc":"2.0","id":"s1","result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}}"#).await;
    eventually("the host's reply at the server", || {
        endpoint.seen.client_responses.load(Ordering::SeqCst) == 1
    })
    .await;
    cli.finish().await;
}

#[tokio::test]
async fn every_request_after_initialize_carries_the_protocol_version_and_one_runtime_session() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let mut cli = session(&endpoint, &[]).await;
    for id in 1..=3 {
        cli.send(&request(id, "tools/list", json!({}))).await;
        cli.recv_id(id).await;
    }
    cli.finish().await;
    let versions = endpoint.seen.protocol_versions.lock().unwrap().clone();
    assert!(versions.len() >= 4, "{versions:?}");
    assert!(
        versions.iter().all(|v| v.as_deref() == Some("2025-06-18")),
        "{versions:?}"
    );
    let sessions = endpoint.seen.runtime_sessions.lock().unwrap().clone();
    assert_eq!(
        sessions.len(),
        1,
        "one stable runtime session id: {sessions:?}"
    );
    assert!(sessions.iter().all(|s| s.len() >= 33), "{sessions:?}");
}

#[tokio::test]
async fn a_batch_gets_one_array_with_a_reply_per_request() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    // Batches are a 2025-03-26 feature; 2025-06-18 removed them.
    let mut cli = session_at(&endpoint, "2025-03-26", &[]).await;
    cli.send(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"x","progress":1}},{"jsonrpc":"2.0","id":2,"method":"tools/list"},{"jsonrpc":"2.0","id":3}]"#).await;
    let reply = cli.recv().await;
    let replies = reply
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {reply}"));
    assert_eq!(replies.len(), 3, "{reply}");
    let by_id = |id: i64| replies.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(by_id(1)["result"], json!({}));
    assert!(by_id(2)["result"]["tools"].is_array());
    assert_eq!(by_id(3)["error"]["code"], -32600);
    // A message with the 2026-07-28 envelope shows a revision without batches.
    cli.send(r#"[{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}]"#).await;
    let modern = cli.recv().await;
    assert_eq!(modern["error"]["code"], -32600, "{modern}");
    assert!(
        modern["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2026-07-28"),
        "{modern}"
    );
    cli.send("[]").await;
    let empty = cli.recv().await;
    assert_eq!(empty["error"]["code"], -32600, "{empty}");
    cli.send("{not json").await;
    let parse = cli.recv().await;
    assert_eq!(parse["error"]["code"], -32700, "{parse}");
    cli.finish().await;
}

#[tokio::test]
async fn a_batch_from_a_host_whose_revision_has_none_is_refused_unsent() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let mut cli = session(&endpoint, &[]).await;
    // Once a request is answered, what the server saw so far is settled.
    cli.send(&request(9, "tools/list", json!({}))).await;
    cli.recv_id(9).await;
    let before = endpoint.seen.protocol_versions.lock().unwrap().len();
    cli.send(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#).await;
    let refusal = cli.recv().await;
    assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
    assert_eq!(refusal["id"], Value::Null, "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2025-06-18") && message.contains("on its own"),
        "{message}"
    );
    // The host's next single request is answered, and nothing of the batch went out.
    cli.send(&request(3, "tools/list", json!({}))).await;
    let (reply, _) = cli.recv_id(3).await;
    assert!(reply["result"]["tools"].is_array(), "{reply}");
    assert_eq!(
        endpoint.seen.protocol_versions.lock().unwrap().len(),
        before + 1,
        "part of a refused batch reached the server"
    );
    cli.finish().await;
}

#[tokio::test]
async fn a_batch_that_holds_initialize_is_refused_unsent() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let url = endpoint.url();
    let args = [
        "proxy",
        url.as_str(),
        "--service",
        "bedrock-agentcore",
        "--region",
        "us-east-1",
    ];
    let mut cli = Cli::spawn(&args, &credentials_env());
    // 2025-03-26 allows batches, but "the initialize request MUST NOT be part
    // of a JSON-RPC batch".
    let init = request(
        0,
        "initialize",
        json!({"protocolVersion": "2025-03-26", "capabilities": {},
            "clientInfo": {"name": "relay-test", "version": "1"}}),
    );
    let list = request(1, "tools/list", json!({}));
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    cli.send(&format!("[{init},{initialized},{list}]")).await;
    let refusal = cli.recv().await;
    assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
    assert_eq!(refusal["id"], Value::Null, "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(message.contains("initialize"), "{message}");
    // initialize on its own opens the session; a later batch with it is refused too.
    cli.send(&init).await;
    let (reply, _) = cli.recv_id(0).await;
    assert_eq!(reply["result"]["protocolVersion"], "2025-03-26", "{reply}");
    cli.send(initialized).await;
    cli.send(&list).await;
    cli.recv_id(1).await;
    let before = endpoint.seen.protocol_versions.lock().unwrap().len();
    cli.send(&format!("[{list},{init}]")).await;
    let refusal = cli.recv().await;
    assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
    cli.send(&request(3, "tools/list", json!({}))).await;
    cli.recv_id(3).await;
    assert_eq!(endpoint.seen.initializes.load(Ordering::SeqCst), 1);
    assert_eq!(
        endpoint.seen.protocol_versions.lock().unwrap().len(),
        before + 1,
        "part of a refused batch reached the server"
    );
    cli.finish().await;
}

#[tokio::test]
async fn a_request_past_the_tool_timeout_gets_an_error_and_the_server_a_cancellation() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let mut cli = session(&endpoint, &["--tool-timeout", "0.5"]).await;
    cli.send(&call(1, "slow", json!({"ms": 10_000}))).await;
    let (reply, _) = cli.recv_id(1).await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("--tool-timeout"), "{message}");
    cli.finish().await;
}

#[tokio::test]
async fn read_only_and_tool_patterns_filter_lists_and_refuse_calls() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let mut cli = session(&endpoint, &["--read-only"]).await;
    // A call before any list: the relay learns the annotations itself.
    cli.send(&call(1, "slow", json!({"ms": 1}))).await;
    let (refused, _) = cli.recv_id(1).await;
    assert_eq!(refused["error"]["code"], -32003, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--read-only")
    );
    cli.send(&request(2, "tools/list", json!({}))).await;
    let (listed, _) = cli.recv_id(2).await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read_docs"]);
    cli.finish().await;

    let mut cli = session(&endpoint, &["--deny-tools", "sl*,flaky"]).await;
    cli.send(&call(3, "slow", json!({"ms": 1}))).await;
    let (refused, _) = cli.recv_id(3).await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--deny-tools"),
        "{refused}"
    );
    cli.finish().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_and_sigint_end_the_session_like_eof() {
    for signal in ["-TERM", "-INT"] {
        let endpoint = endpoint::start(Behaviour::default()).await;
        let mut cli = session(&endpoint, &[]).await;
        cli.send(&request(1, "ping", json!({}))).await;
        cli.recv_id(1).await;
        let pid = cli.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(LIMIT, cli.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status.code(), Some(0), "{signal}");
        assert_eq!(
            endpoint.seen.deletes.load(Ordering::SeqCst),
            1,
            "{signal}: DELETE"
        );
    }
}

#[tokio::test]
async fn no_secret_reaches_stdout_or_stderr_even_at_trace_level() {
    let endpoint = endpoint_with_sse(true).await;
    let mut cli = session(&endpoint, &["--log-level", "trace"]).await;
    cli.send(&request(1, "tools/list", json!({}))).await;
    let (listed, _) = cli.recv_id(1).await;
    cli.send(&call(2, "flaky_unnumbered", json!({}))).await;
    let (failed, _) = cli.recv_id(2).await;
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0);
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        for (what, text) in [
            ("stderr", &stderr),
            ("stdout", &listed.to_string()),
            ("error", &failed.to_string()),
        ] {
            assert!(!text.contains(secret), "{what} shows a secret");
        }
    }
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging was on"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_hold_no_secret_at_trace_level() {
    let endpoint = endpoint_with_sse(true).await;
    let mut cli = session(&endpoint, &["--log-level", "trace", "--log-format", "json"]).await;
    cli.send(&request(1, "tools/list", json!({}))).await;
    cli.recv_id(1).await;
    cli.send(&call(2, "flaky_unnumbered", json!({}))).await;
    cli.recv_id(2).await;
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    for line in &lines {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["target"].is_string(),
            "{line}"
        );
    }
    let levels: Vec<&str> = lines.iter().filter_map(|l| l["level"].as_str()).collect();
    assert!(
        levels.contains(&"TRACE") || levels.contains(&"DEBUG"),
        "trace logging was on: {levels:?}"
    );
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(!stderr.contains(secret), "a JSON log line shows a secret");
    }
}

#[tokio::test]
async fn a_secret_on_the_command_line_is_refused_with_a_pointer() {
    let cli = Cli::spawn(
        &[
            "proxy",
            "https://aws-mcp.us-east-1.api.aws/mcp",
            "--secret-key",
            "x",
        ],
        &[],
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2);
    assert!(stderr.contains("AWS_SECRET_ACCESS_KEY"), "{stderr}");
    assert!(stderr.contains("--profile"), "{stderr}");
    assert_eq!(
        stderr.matches("refused").count(),
        1,
        "printed once: {stderr}"
    );
}

#[tokio::test]
async fn a_url_without_a_scheme_says_to_add_https() {
    let cli = Cli::spawn(
        &["proxy", "aws-mcp.us-east-1.api.aws/mcp"],
        &credentials_env(),
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2);
    assert!(stderr.contains("add https://"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "printed once: {stderr}");
}

#[tokio::test]
async fn missing_credentials_and_oversized_bodies_say_what_to_do_at_the_cli() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let home = std::env::temp_dir().join(format!("mcp-sigv4-no-creds-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap().to_owned();
    let missing = format!("{home}/missing");
    let url = endpoint.url();
    let mut cli = Cli::proxy(
        &url,
        "bedrock-agentcore",
        &[],
        &[
            ("HOME", &home),
            ("AWS_CONFIG_FILE", &missing),
            ("AWS_SHARED_CREDENTIALS_FILE", &missing),
        ],
    );
    let message = cli.initialize_error().await;
    assert!(message.contains("no AWS credentials"), "{message}");
    assert!(message.contains("--profile"), "{message}");
    assert!(
        !message.contains("builder"),
        "library wording at the CLI: {message}"
    );
    cli.finish().await;

    let mut cli = session(&endpoint, &["--max-body-size", "300"]).await;
    cli.send(&call(
        1,
        "slow",
        json!({"ms": 1, "padding": "x".repeat(400)}),
    ))
    .await;
    let (reply, _) = cli.recv_id(1).await;
    let message = reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    assert!(message.contains("--max-body-size"), "{message}");
    assert!(!message.contains("max_body_size"), "{message}");
    cli.finish().await;
}

#[tokio::test]
async fn a_corporate_proxy_and_ca_bundle_from_the_environment_carry_the_session() {
    let ca = crate::network::test_ca("relay-corporate");
    let endpoint = endpoint::start_tls(Behaviour::default(), ca.server.clone()).await;
    let proxy = crate::network::connect_proxy().await;
    let url = endpoint.url();
    let bundle = ca.bundle.to_str().unwrap().to_owned();
    let mut env = credentials_env();
    env.extend([
        ("HTTPS_PROXY", proxy.url.as_str()),
        ("AWS_CA_BUNDLE", bundle.as_str()),
        ("NO_PROXY", ""),
    ]);
    let mut cli = Cli::proxy(&url, "bedrock-agentcore", &[], &env);
    cli.send(&initialize(0)).await;
    let (reply, _) = cli.recv_id(0).await;
    assert_eq!(reply["result"]["protocolVersion"], "2025-06-18", "{reply}");
    cli.send(&request(1, "tools/list", json!({}))).await;
    let (listed, _) = cli.recv_id(1).await;
    assert!(listed["result"]["tools"].is_array(), "{listed}");
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(proxy.tunnels() >= 1, "the proxy saw no CONNECT");

    // Without the bundle the private CA is not trusted: a clear error, not a hang.
    let mut env = credentials_env();
    env.extend([("HTTPS_PROXY", proxy.url.as_str()), ("NO_PROXY", "")]);
    let mut cli = Cli::proxy(&url, "bedrock-agentcore", &["--retries", "0"], &env);
    let message = cli.initialize_error().await;
    assert!(message.contains("cannot reach"), "{message}");
    cli.finish().await;
}

#[tokio::test]
async fn rust_log_is_honoured_when_mcp_sigv4_log_is_absent() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let url = endpoint.url();
    let mut env = credentials_env();
    env.push(("RUST_LOG", "debug"));
    let mut cli = Cli::proxy(&url, "bedrock-agentcore", &[], &env);
    cli.send(&request(1, "ping", json!({}))).await;
    cli.recv_id(1).await;
    let (_, stderr) = cli.finish().await;
    assert!(
        stderr.contains("DEBUG"),
        "RUST_LOG=debug was ignored: {stderr}"
    );
}

#[tokio::test]
async fn explain_never_prints_the_session_token_or_the_secret() {
    let output = tokio::process::Command::new(crate::binary())
        .args([
            "explain",
            "--url",
            "https://aws-mcp.us-east-1.api.aws/mcp",
            "--body",
            "{}",
            "--timestamp",
            "20250101T000000Z",
            "--access-key",
            ACCESS_KEY,
        ])
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("x-amz-security-token:<redacted>"),
        "{stdout}"
    );
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "explain printed a secret"
        );
    }
}

#[tokio::test]
async fn a_dropped_get_stream_is_reopened_and_server_messages_flow_again() {
    let endpoint = endpoint::start(Behaviour::default()).await;
    let mut cli = session(&endpoint, &[]).await;
    eventually("the GET stream", || {
        endpoint.seen.gets.load(Ordering::SeqCst) == 1
    })
    .await;
    endpoint.close_streams();
    eventually("a second GET", || {
        endpoint.seen.gets.load(Ordering::SeqCst) == 2
    })
    .await;
    let note = json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"});
    let mut pushed = 0;
    for _ in 0..400 {
        pushed = endpoint.push(note.clone()).await;
        if pushed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pushed, 1, "one reopened stream");
    let message = cli.recv().await;
    assert_eq!(
        message["method"], "notifications/tools/list_changed",
        "{message}"
    );
    cli.finish().await;
}
