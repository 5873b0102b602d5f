//! The gateway's security checks (issue #18), each driven against the real
//! gateway process and counted at the upstreams.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use super::{Gateway, SESSION_SECRET, Upstreams, client, initialize, post, send, upstreams};

fn secret() -> String {
    format!("  session_secret: {SESSION_SECRET}")
}

/// Requests that reached either upstream, refused or not.
pub(super) fn upstream_requests(up: &Upstreams) -> usize {
    up.agent.stats.accepted() + up.agent.stats.refused() + up.tools.seen.load(Ordering::SeqCst)
}

#[tokio::test]
async fn foreign_host_or_origin_and_text_plain_posts_are_refused_before_any_upstream_request() {
    let up = upstreams().await;
    let gateway = Gateway::start(
        &up.config(&secret()),
        &["--allowed-host", "mcp.internal.example"],
    )
    .await;
    let url = format!("{}/mcp", gateway.base);
    // DNS rebinding: a page's own name, resolved to 127.0.0.1.
    let rebound = post(
        &url,
        &[
            ("host", "attacker.example:4000"),
            ("origin", "http://attacker.example:4000"),
        ],
        &initialize(),
    )
    .await;
    assert_eq!(rebound.status, StatusCode::FORBIDDEN, "{rebound:?}");
    for origin in [
        "https://attacker.example",
        "null",
        "http://localhost.attacker.example",
    ] {
        let cross_site = post(&url, &[("origin", origin)], &initialize()).await;
        assert_eq!(
            cross_site.status,
            StatusCode::FORBIDDEN,
            "{origin}: {cross_site:?}"
        );
    }
    // A cross-site "simple" POST needs no preflight: text/plain.
    let simple = Request::post(&url)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(initialize().to_string())))
        .unwrap();
    let simple = client().request(simple).await.unwrap();
    assert_eq!(simple.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        upstream_requests(&up),
        0,
        "a refused request reached an upstream"
    );

    // The loopback names, and the configured name behind a load balancer, pass.
    let port = gateway.base.rsplit(':').next().unwrap().to_owned();
    let local = format!("http://localhost:{port}");
    let same_host = post(&url, &[("origin", &local)], &initialize()).await;
    assert_eq!(same_host.status, StatusCode::OK, "{same_host:?}");
    let balanced = post(
        &url,
        &[
            ("host", "mcp.internal.example"),
            ("origin", "https://mcp.internal.example"),
        ],
        &initialize(),
    )
    .await;
    assert_eq!(balanced.status, StatusCode::OK, "{balanced:?}");
}

#[tokio::test]
async fn repeated_or_oversized_routing_names_cause_no_fan_out() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let url = format!("{}/mcp", gateway.base);
    let thousand = vec!["agent"; 1000].join(",");
    let header = post(&url, &[("x-litellm-mcp-server", &thousand)], &initialize()).await;
    assert_eq!(
        header.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{header:?}"
    );
    let query = post(&format!("{url}?server={thousand}"), &[], &initialize()).await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST, "{query:?}");
    let three = post(
        &url,
        &[("x-litellm-mcp-server", "agent,agent,tools")],
        &initialize(),
    )
    .await;
    assert_eq!(three.status, StatusCode::BAD_REQUEST, "{three:?}");
    assert_eq!(upstream_requests(&up), 0);
    // A name given twice is one server: one upstream initialize.
    let twice = post(
        &url,
        &[("x-litellm-mcp-server", "agent, agent")],
        &initialize(),
    )
    .await;
    assert_eq!(twice.status, StatusCode::OK, "{twice:?}");
    assert_eq!(up.agent.stats.accepted(), 1);
    assert_eq!(upstream_requests(&up), 1);
}

/// Start the gateway with `general` as general_settings and `env`; its exit code
/// and stderr when it refuses to start.
async fn refused_start(
    up: &Upstreams,
    general: &str,
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"));
    command
        .args([
            "gateway",
            "--config",
            up.config(general).to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("AGENT_AKID", "a")
        .env("AGENT_SECRET", "b")
        .env("AGENT_TOKEN", "c")
        .env("TOOLS_TOKEN", "d")
        .env_remove("MCP_SIGV4_SESSION_SECRET")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(super::LIMIT, command.output())
        .await
        .expect("the gateway refused to start in time instead of listening")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn empty_or_short_master_key_and_session_secret_stop_the_start() {
    let up = upstreams().await;
    // Set but empty, as compose files leave it.
    let (code, stderr) = refused_start(
        &up,
        &format!("  master_key: os.environ/GATEWAY_MASTER_KEY\n{}", secret()),
        &[("GATEWAY_MASTER_KEY", "")],
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("general_settings.master_key is empty")
            && stderr.contains("at least 16")
            && stderr.contains("openssl rand -hex 32"),
        "{stderr}"
    );
    let (code, stderr) = refused_start(&up, "  session_secret: short-secret", &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("session_secret")
            && stderr.contains("has 12 characters")
            && stderr.contains("at least 32"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("short-secret"),
        "the secret reached stderr: {stderr}"
    );
    let (code, stderr) = refused_start(&up, "  {}", &[("MCP_SIGV4_SESSION_SECRET", "")]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("MCP_SIGV4_SESSION_SECRET") && stderr.contains("is empty"),
        "{stderr}"
    );
}

/// Read from `stream` until the gateway closes it; what it sent. Panics when it
/// stays open past the test's limit.
pub(crate) async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    tokio::time::timeout(super::LIMIT, stream.read_to_end(&mut received))
        .await
        .expect("the gateway kept the connection open")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn half_sent_requests_silent_connections_and_slow_bodies_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let up = upstreams().await;
    let gateway = Gateway::start(
        &up.config(&secret()),
        &[
            "--header-read-timeout",
            "1",
            "--idle-timeout",
            "1",
            "--body-read-timeout",
            "1",
        ],
    )
    .await;
    let addr = gateway.base.trim_start_matches("http://").to_owned();
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: appl")
        .await
        .unwrap();
    read_until_closed(&mut half).await;
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert_eq!(read_until_closed(&mut silent).await, "");
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        b"POST /mcp/agent HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"jsonrpc\"",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--body-read-timeout"), "{answer}");
    assert_eq!(upstream_requests(&up), 0);
}

#[tokio::test]
async fn past_the_connection_cap_only_health_is_answered() {
    let up = upstreams().await;
    let gateway = Gateway::start(
        &up.config(&secret()),
        &[
            "--max-connections",
            "2",
            "--idle-timeout",
            "60",
            "--header-read-timeout",
            "60",
        ],
    )
    .await;
    let addr = gateway.base.trim_start_matches("http://").to_owned();
    // Two connections that send nothing hold both places.
    let idle: Vec<_> = [
        tokio::net::TcpStream::connect(&addr).await.unwrap(),
        tokio::net::TcpStream::connect(&addr).await.unwrap(),
    ]
    .into();
    let health = send("GET", &format!("{}/health", gateway.base), &[], None).await;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    let busy = post(&format!("{}/mcp/agent", gateway.base), &[], &initialize()).await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE, "{busy:?}");
    assert_eq!(upstream_requests(&up), 0);
    drop(idle);
    // The places come back once the idle connections go.
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = post(&format!("{}/mcp/agent", gateway.base), &[], &initialize())
            .await
            .status;
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_aggregated_lists_on_one_session_each_get_every_tool() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &["--tool-timeout", "10"]).await;
    let session = super::open(&gateway, "/mcp", &[]).await;
    let url = format!("{}/mcp", gateway.base);
    let lists = (0..6).map(|i| {
        let (url, session) = (url.clone(), session.clone());
        tokio::spawn(async move {
            post(
                &url,
                &[("mcp-session-id", &session)],
                &super::rpc(i, "tools/list", serde_json::json!({})),
            )
            .await
        })
    });
    for list in futures_util::future::join_all(lists).await {
        let list = list.unwrap();
        assert_eq!(super::tool_names(&list).len(), 6, "{list:?}");
        assert!(list.reply()["result"].get("_meta").is_none(), "{list:?}");
    }
}

#[tokio::test]
async fn a_partial_aggregated_list_names_the_failed_server_in_meta() {
    let up = upstreams().await;
    let yaml = format!(
        "mcp_servers:\n  agent:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: us-east-1\n    aws_service_name: bedrock-agentcore\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\n  gone:\n    url: http://127.0.0.1:9/mcp\ngeneral_settings:\n{}\n",
        up.agent.url(),
        secret()
    );
    let path = up.dir.join("partial.yaml");
    std::fs::write(&path, yaml).unwrap();
    let gateway = Gateway::start(&path, &[]).await;
    let session = super::open(&gateway, "/mcp", &[]).await;
    let list = post(
        &format!("{}/mcp", gateway.base),
        &[("mcp-session-id", &session)],
        &super::rpc(1, "tools/list", serde_json::json!({})),
    )
    .await;
    assert_eq!(
        super::tool_names(&list),
        ["agent-add", "agent-count", "agent-echo"]
    );
    let failed = &list.reply()["result"]["_meta"]["mcp-sigv4/failures"];
    assert_eq!(failed[0]["server"], "gone", "{list:?}");
    assert!(
        failed[0]["cause"].as_str().is_some_and(|c| !c.is_empty()),
        "{list:?}"
    );
    assert!(gateway.stderr().contains("the list is partial"));
}

#[tokio::test]
async fn an_oversized_batch_is_refused_and_a_batch_is_answered_whole() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &["--max-batch", "3"]).await;
    let session = super::open(&gateway, "/mcp/agent", &[]).await;
    let before = upstream_requests(&up);
    let url = format!("{}/mcp/agent", gateway.base);
    let call = |id| {
        super::rpc(
            id,
            "tools/call",
            serde_json::json!({"name":"add","arguments":{"a":id,"b":1}}),
        )
    };
    let four = serde_json::json!([call(1), call(2), call(3), call(4)]);
    let refused = post(&url, &[("mcp-session-id", &session)], &four).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.messages[0]["error"]["code"], -32600);
    assert!(
        refused.messages[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-batch")
    );
    assert_eq!(
        upstream_requests(&up),
        before,
        "part of a refused batch reached the upstream"
    );
    let three = serde_json::json!([call(1), call(2), call(3)]);
    let answered = post(&url, &[("mcp-session-id", &session)], &three).await;
    assert_eq!(answered.status, StatusCode::OK, "{answered:?}");
    let replies = answered.messages[0].as_array().unwrap();
    assert_eq!(replies.len(), 3, "{answered:?}");
    assert_eq!(upstream_requests(&up), before + 3);
}

#[tokio::test]
async fn a_batch_that_holds_initialize_is_refused_whole_before_any_upstream_request() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let url = format!("{}/mcp/agent", gateway.base);
    // A 2025-03-26 client (no MCP-Protocol-Version): batches are allowed, but
    // "the initialize request MUST NOT be part of a JSON-RPC batch".
    let mut init = initialize();
    init["params"]["protocolVersion"] = serde_json::json!("2025-03-26");
    let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let list = super::rpc(1, "tools/list", serde_json::json!({}));
    let before = upstream_requests(&up);
    let opening = serde_json::json!([init, initialized, list]);
    let refused = send("POST", &url, &[], Some(&opening)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.messages.len(), 1, "{refused:?}");
    assert_eq!(refused.messages[0]["error"]["code"], -32600, "{refused:?}");
    assert_eq!(refused.messages[0]["id"], serde_json::Value::Null);
    assert!(
        refused.messages[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("initialize")),
        "{refused:?}"
    );
    assert!(
        refused.session.is_none(),
        "a refused batch opened a session"
    );
    assert_eq!(
        upstream_requests(&up),
        before,
        "part of a refused batch reached the upstream"
    );
    // In a session too, and wherever initialize stands in the batch.
    let session = super::open(&gateway, "/mcp/agent", &[]).await;
    let before_late = upstream_requests(&up);
    let late = serde_json::json!([list, init]);
    let refused = send("POST", &url, &[("mcp-session-id", &session)], Some(&late)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.messages[0]["error"]["code"], -32600, "{refused:?}");
    assert_eq!(
        upstream_requests(&up),
        before_late,
        "part of a refused batch reached the upstream"
    );
    assert!(before_late > before, "the session was opened upstream");
    // The same batch without initialize is answered.
    let answered = send(
        "POST",
        &url,
        &[("mcp-session-id", &session)],
        Some(&serde_json::json!([list])),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{answered:?}");
    assert_eq!(upstream_requests(&up), before_late + 1);
}

/// A tools/list at `path` with `session`.
async fn list(gateway: &Gateway, path: &str, session: &str) -> super::Answer {
    post(
        &format!("{}{path}", gateway.base),
        &[("mcp-session-id", session)],
        &super::rpc(7, "tools/list", serde_json::json!({})),
    )
    .await
}

#[tokio::test]
async fn session_ids_are_unreadable_and_deleted_forged_expired_or_moved_ones_are_refused() {
    use base64::Engine;
    let up = upstreams().await;
    let config = up.config(&secret());
    let gateway = Gateway::start(&config, &[]).await;
    let session = super::open(&gateway, "/mcp/tools", &[]).await;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(session.strip_prefix("v2.").expect("a v2 id"))
        .unwrap();
    let sealed = String::from_utf8_lossy(&sealed);
    assert!(
        !sealed.contains("gateway-test") && !sealed.contains("initialize"),
        "{sealed}"
    );

    // Forged with a guessed key.
    let guessed = mcp_sigv4::gateway::session::Sealer::new(&[b'x'; 32]).unwrap();
    let forged = guessed.seal(&mcp_sigv4::gateway::Session::new(
        super::initialize(),
        std::time::Duration::from_secs(600),
    ));
    assert_eq!(
        list(&gateway, "/mcp/tools", &forged).await.status,
        StatusCode::NOT_FOUND
    );

    // Bound to the upstream URLs: a replica whose `tools` is elsewhere refuses it.
    let elsewhere = upstreams().await;
    let moved = Gateway::start(&elsewhere.config(&secret()), &[]).await;
    let answer = list(&moved, "/mcp/tools", &session).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    assert_eq!(elsewhere.tools.seen.load(Ordering::SeqCst), 0);

    // DELETE: the id is refused after, and no upstream session is started for it.
    assert_eq!(
        list(&gateway, "/mcp/tools", &session).await.status,
        StatusCode::OK
    );
    let deleted = send(
        "DELETE",
        &format!("{}/mcp/tools", gateway.base),
        &[("mcp-session-id", &session)],
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let (seen, started) = (up.tools.seen.load(Ordering::SeqCst), up.tools.started());
    let after = list(&gateway, "/mcp/tools", &session).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND, "{after:?}");
    assert!(
        after.messages[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DELETE")
    );
    assert_eq!(up.tools.seen.load(Ordering::SeqCst), seen);
    assert_eq!(up.tools.started(), started);

    // Expired.
    let short = Gateway::start(&config, &["--session-ttl", "1"]).await;
    let session = super::open(&short, "/mcp/tools", &[]).await;
    let mut answer = list(&short, "/mcp/tools", &session).await;
    for _ in 0..100 {
        if answer.status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = list(&short, "/mcp/tools", &session).await;
    }
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    assert!(
        answer.messages[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}
#[tokio::test]
async fn a_batch_is_refused_from_a_client_whose_revision_has_none() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let session = super::open(&gateway, "/mcp/agent", &[]).await;
    let url = format!("{}/mcp/agent", gateway.base);
    let batch = serde_json::json!([
        super::rpc(1, "tools/list", serde_json::json!({})),
        super::rpc(2, "tools/list", serde_json::json!({})),
    ]);
    let before = upstream_requests(&up);
    for version in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", version),
        ];
        let refused = post(&url, &headers, &batch).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
        let error = &refused.messages[0];
        assert_eq!(error["error"]["code"], -32600, "{refused:?}");
        assert_eq!(error["id"], serde_json::Value::Null, "{refused:?}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(version),
            "{refused:?}"
        );
    }
    // A 2026-07-28 client's envelope shows its revision without the header.
    let modern = serde_json::json!([super::eras::modern(3, "tools/list", serde_json::json!({}))]);
    let refused = post(&url, &[], &modern).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.messages[0]["error"]["code"], -32600, "{refused:?}");
    assert_eq!(
        upstream_requests(&up),
        before,
        "part of a refused batch reached the upstream"
    );
    // 2025-03-26, stated or not (the 2025 transports read no header as 2025-03-26), keeps batches.
    for headers in [
        vec![
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-03-26"),
        ],
        vec![("mcp-session-id", session.as_str())],
    ] {
        let answered = post(&url, &headers, &batch).await;
        assert_eq!(answered.status, StatusCode::OK, "{answered:?}");
        assert_eq!(
            answered.messages[0].as_array().unwrap().len(),
            2,
            "{answered:?}"
        );
    }
}

#[tokio::test]
async fn after_upstream_session_loss_aggregated_calls_and_batches_return_one_resealed_id() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let mut session = super::open(&gateway, "/mcp", &[]).await;
    let started = up.tools.started();
    up.tools.forget_sessions();
    let answer = list(&gateway, "/mcp", &session).await;
    assert_eq!(super::tool_names(&answer).len(), 6, "{answer:?}");
    session = answer
        .session
        .clone()
        .expect("a resealed id after the upstream's new session");
    assert_eq!(up.tools.started(), started + 1);
    for _ in 0..3 {
        let answer = list(&gateway, "/mcp", &session).await;
        assert_eq!(super::tool_names(&answer).len(), 6, "{answer:?}");
        assert!(answer.session.is_none(), "{answer:?}");
    }
    assert_eq!(
        up.tools.started(),
        started + 1,
        "the resealed id carried the new session"
    );

    up.tools.forget_sessions();
    let batch = serde_json::json!([
        super::rpc(1, "tools/list", serde_json::json!({})),
        super::rpc(2, "tools/call", serde_json::json!({"name": "tools-whoami"})),
    ]);
    let url = format!("{}/mcp", gateway.base);
    let answer = post(&url, &[("mcp-session-id", &session)], &batch).await;
    assert_eq!(
        answer.messages[0].as_array().unwrap().len(),
        2,
        "{answer:?}"
    );
    session = answer
        .session
        .clone()
        .expect("a batch returns the resealed id");
    assert_eq!(up.tools.started(), started + 2);
    let call = post(
        &url,
        &[("mcp-session-id", &session)],
        &super::rpc(3, "tools/call", serde_json::json!({"name": "tools-whoami"})),
    )
    .await;
    assert_eq!(super::text(&call), "the bearer-protected server");
    assert_eq!(up.tools.started(), started + 2);
}

#[tokio::test]
async fn liveness_names_nothing_and_readiness_needs_the_key_and_gives_each_cause() {
    let up = upstreams().await;
    let yaml = format!(
        "mcp_servers:\n  agent:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: us-east-1\n    aws_service_name: bedrock-agentcore\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\n  gone:\n    url: http://127.0.0.1:9/mcp\ngeneral_settings:\n  master_key: os.environ/MASTER\n{}\n",
        up.agent.url(),
        secret()
    );
    let path = up.dir.join("health.yaml");
    std::fs::write(&path, yaml).unwrap();
    let gateway = Gateway::start(&path, &[]).await;
    let live = send("GET", &format!("{}/health", gateway.base), &[], None).await;
    assert_eq!(live.status, StatusCode::OK);
    let body = live.messages[0].to_string();
    assert!(!body.contains("agent") && !body.contains("gone"), "{body}");
    let url = format!("{}/health/readiness", gateway.base);
    let anonymous = send("GET", &url, &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(up.agent.stats.accepted(), 0);
    let bearer = format!("Bearer {}", super::MASTER_KEY);
    let ready = send("GET", &url, &[("authorization", &bearer)], None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    let servers = &ready.messages[0]["servers"];
    assert_eq!(servers["agent"]["ready"], true, "{ready:?}");
    assert_eq!(servers["gone"]["ready"], false, "{ready:?}");
    assert!(
        servers["gone"]["cause"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{ready:?}"
    );
    // The stand-in answers server/discover: probed without a session, so
    // there is none to end (a 2025 server's is: see `probe.rs`).
    assert_eq!(servers["agent"]["era"], "2026-07-28", "{ready:?}");
    assert_eq!(up.agent.stats.deletes(), 0);
}

#[tokio::test]
async fn malformed_json_rpc_is_a_400_about_the_clients_input() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let session = super::open(&gateway, "/mcp/agent", &[]).await;
    let before = upstream_requests(&up);
    let url = format!("{}/mcp/agent", gateway.base);
    for (message, code) in [
        (serde_json::json!({"id": 1, "method": "tools/list"}), -32600),
        (
            serde_json::json!({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}),
            -32600,
        ),
        (
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "add"}),
            -32600,
        ),
        (serde_json::json!("tools/list"), -32600),
    ] {
        let answer = post(&url, &[("mcp-session-id", &session)], &message).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{message}: {answer:?}"
        );
        let error = &answer.messages[0]["error"];
        assert_eq!(error["code"], code, "{message}: {answer:?}");
        let text = error["message"].as_str().unwrap();
        assert!(
            !text.contains("server") && !text.contains("upstream"),
            "{text}"
        );
    }
    let not_json = Request::post(&url)
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(Full::new(Bytes::from_static(b"{\"jsonrpc\":")))
        .unwrap();
    let not_json = client().request(not_json).await.unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        upstream_requests(&up),
        before,
        "malformed input reached the upstream"
    );
}

/// Wait (bounded) until `count()` is `expected`; its last value.
async fn settle(count: impl Fn() -> usize, expected: usize) -> usize {
    for _ in 0..200 {
        if count() == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    count()
}

#[tokio::test]
async fn a_client_that_leaves_cancels_its_upstream_call_and_closes_its_upstream_streams() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let url = format!("{}/mcp/tools", gateway.base);
    let session = super::open(&gateway, "/mcp/tools", &[]).await;
    let call = Request::post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(Full::new(Bytes::from(
            super::rpc(
                1,
                "tools/call",
                serde_json::json!({"name": "wait", "_meta": {"progressToken": "w"}}),
            )
            .to_string(),
        )))
        .unwrap();
    let response = client().request(call).await.unwrap();
    let mut body = response.into_body();
    let first = super::first_frame(&mut body).await;
    assert!(first.contains("notifications/progress"));
    drop(body);
    let cancel_notes = || up.tools.cancel_notes.load(Ordering::SeqCst);
    assert_eq!(
        settle(cancel_notes, 1).await,
        1,
        "no notifications/cancelled upstream"
    );
    let cancelled = || up.tools.cancelled.load(Ordering::SeqCst);
    assert_eq!(settle(cancelled, 1).await, 1, "the upstream call ran on");

    // Event streams (GET): three clients open one each, then leave.
    let mut streams = Vec::new();
    for _ in 0..3 {
        let session = super::open(&gateway, "/mcp/tools", &[]).await;
        let get = Request::get(&url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &session)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = client().request(get).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        streams.push(response);
    }
    let open = || up.tools.open_streams.load(Ordering::SeqCst);
    assert_eq!(settle(open, 3).await, 3);
    drop(streams);
    assert_eq!(
        settle(open, 0).await,
        0,
        "upstream streams stayed open after their clients left"
    );
}

#[tokio::test]
async fn the_tool_timeout_cancels_upstream_and_says_timeout() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &["--tool-timeout", "1"]).await;
    let session = super::open(&gateway, "/mcp/tools", &[]).await;
    let answer = post(
        &format!("{}/mcp/tools", gateway.base),
        &[("mcp-session-id", &session)],
        &super::rpc(1, "tools/call", serde_json::json!({"name": "wait"})),
    )
    .await;
    let error = &answer.reply()["error"];
    assert_eq!(error["code"], -32001, "{answer:?}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("timeout") && !message.contains("HTTPS_PROXY"),
        "{message}"
    );
    let cancel_notes = || up.tools.cancel_notes.load(Ordering::SeqCst);
    assert_eq!(settle(cancel_notes, 1).await, 1);
    let cancelled = || up.tools.cancelled.load(Ordering::SeqCst);
    assert_eq!(settle(cancelled, 1).await, 1);
}

#[tokio::test]
async fn a_reply_stream_longer_than_the_header_timeout_is_not_cut() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &["--header-read-timeout", "1"]).await;
    let session = super::open(&gateway, "/mcp/agent", &[]).await;
    let call = post(&format!("{}/mcp/agent", gateway.base), &[("mcp-session-id", &session)], &super::rpc(
            1,
            "tools/call",
            serde_json::json!({"name": "count", "arguments": {"steps": 4, "pause_ms": 500}, "_meta": {"progressToken": "t"}}),
        ))
    .await;
    assert_eq!(super::text(&call), "counted to 4", "{call:?}");
}

#[tokio::test]
async fn http2_requests_pass_the_host_check_by_their_authority() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(&secret()), &[]).await;
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = |authority: &str| {
        Request::post(format!("http://{authority}/mcp/agent"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Full::new(Bytes::from(initialize().to_string())))
            .unwrap()
    };
    let addr = gateway.base.trim_start_matches("http://").to_owned();
    let local = h2.request(request(&addr)).await.unwrap();
    assert_eq!(local.version(), http::Version::HTTP_2);
    assert_eq!(local.status(), StatusCode::OK);
    // The same connection target under a foreign name.
    let port = addr.rsplit(':').next().unwrap();
    let mut foreign = request(&addr);
    *foreign.uri_mut() = format!("http://attacker.example:{port}/mcp/agent")
        .parse()
        .unwrap();
    let connector = tower::service_fn(move |_: http::Uri| {
        let addr = addr.clone();
        Box::pin(async move {
            tokio::net::TcpStream::connect(addr)
                .await
                .map(hyper_util::rt::TokioIo::new)
        })
    });
    let rebinding =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build::<_, Full<Bytes>>(connector);
    let refused = rebinding.request(foreign).await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
