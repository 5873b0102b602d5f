//! Streams through the gateway (issue #27): the client's order of its GET and
//! its POSTs is kept upstream, so a server that sends its sampling request on
//! the GET stream finds the stream the client opened before its `tools/call`;
//! a reply stream is resumed after the server's `retry:`.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::security::read_until_closed;
use super::{Gateway, LIMIT, SESSION_SECRET, rpc, send};
use crate::ordered_server;

/// Sessions driven in one run.
const SESSIONS: usize = 200;

/// One HTTP/1.0 request (so that the response, SSE included, is not chunked
/// and ends with the connection), written whole on a connection of its own.
fn raw(method: &str, host: &str, path: &str, session: &str, body: Option<&Value>) -> Vec<u8> {
    let body = body.map(Value::to_string).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.0\r\nhost: {host}\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\nmcp-session-id: {session}\r\nmcp-protocol-version: 2025-06-18\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The first `data:` message on `stream` that is a request.
async fn next_request(stream: &mut BufReader<TcpStream>) -> Value {
    let mut line = String::new();
    tokio::time::timeout(LIMIT, async {
        loop {
            line.clear();
            if stream.read_line(&mut line).await.unwrap() == 0 {
                panic!("the GET stream ended without a request");
            }
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                let message: Value = serde_json::from_str(data).unwrap();
                if message.get("method").is_some() && message.get("id").is_some() {
                    return message;
                }
            }
        }
    })
    .await
    .expect("the server's request on the GET stream in time")
}

/// A config with the one server `order` at `url`, and `general` as
/// general_settings.
fn config(url: &str, general: &str) -> std::path::PathBuf {
    let yaml = format!(
        "mcp_servers:\n  order:\n    url: \"{url}\"\n    transport: http\ngeneral_settings:\n{general}\n"
    );
    super::write_config("order", &yaml)
}

/// How many times the gateway has logged holding a request for a GET.
fn holds(gateway: &Gateway) -> usize {
    gateway
        .stderr()
        .matches("holding a request until the session's event streams open")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_sent_after_the_get_waits_for_the_servers_stream_to_open() {
    let (server, mut gets) = ordered_server::start_gated().await;
    // With a shared session secret (replicas), no stream is parked at
    // notifications/initialized: the hold alone keeps the order.
    let config = config(
        &server.url(),
        &format!("  session_secret: {SESSION_SECRET}"),
    );
    let gateway = Gateway::start_with_env(
        &config,
        &["--tool-timeout", "30"],
        &[("MCP_SIGV4_LOG", "info,mcp_sigv4::gateway::dispatch=debug")],
    )
    .await;
    let host = gateway.base.trim_start_matches("http://").to_owned();
    let url = format!("{}/mcp/order", gateway.base);
    for round in 0..SESSIONS {
        let session = super::open(&gateway, "/mcp/order", &[]).await;
        let mut get = TcpStream::connect(&host).await.unwrap();
        let mut post = TcpStream::connect(&host).await.unwrap();
        get.write_all(&raw("GET", &host, "/mcp/order", &session, None))
            .await
            .unwrap();
        // The GET has reached the server, which has not answered it yet: the
        // call is sent now, without waiting for the GET's answer.
        let held = tokio::time::timeout(LIMIT, gets.recv())
            .await
            .expect("the GET reached the server in time")
            .unwrap();
        let call = rpc(1, "tools/call", json!({"name": "sample", "arguments": {}}));
        post.write_all(&raw("POST", &host, "/mcp/order", &session, Some(&call)))
            .await
            .unwrap();
        // Either the call reaches the server before its stream is open (and is
        // refused), or the gateway holds it.
        tokio::select! {
            answered = read_until_closed(&mut post) => {
                panic!("round {round}: the call reached the server before its GET stream was open: {answered}")
            }
            () = async {
                while holds(&gateway) <= round {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            } => {}
            () = tokio::time::sleep(LIMIT) => panic!("round {round}: the call was neither held nor answered"),
        }
        held.send(()).unwrap();
        let mut get = BufReader::new(get);
        let ask = next_request(&mut get).await;
        assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
        let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "role": "assistant", "model": "stand-in",
            "content": {"type": "text", "text": format!("round {round}")}}});
        let accepted = send("POST", &url, &[("mcp-session-id", &session)], Some(&answer)).await;
        assert_eq!(accepted.status, http::StatusCode::ACCEPTED, "{accepted:?}");
        let answered = read_until_closed(&mut post).await;
        assert!(
            answered.contains(&format!("sampled: round {round}")),
            "round {round}: {answered}"
        );
        let ended = send("DELETE", &url, &[("mcp-session-id", &session)], None).await;
        assert_eq!(ended.status, http::StatusCode::OK, "{ended:?}");
    }
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), SESSIONS);
    for (session, arrived) in arrivals {
        assert_eq!(arrived, ["open", "call"], "{session}");
    }
}

#[tokio::test]
async fn a_broken_reply_stream_is_resumed_after_the_servers_retry() {
    let server = ordered_server::start().await;
    let config = config(&server.url(), "  {}");
    let gateway = Gateway::start(&config, &[]).await;
    let session = super::open(&gateway, "/mcp/order", &[]).await;
    let call = rpc(
        1,
        "tools/call",
        json!({"name": "resume_after_retry", "arguments": {}}),
    );
    let url = format!("{}/mcp/order", gateway.base);
    let answer = send("POST", &url, &[("mcp-session-id", &session)], Some(&call)).await;
    assert_eq!(
        answer.reply()["result"]["content"][0]["text"],
        "resumed",
        "{answer:?}"
    );
    // The wait chosen is the server's, as parsed from its `retry:` field (the
    // line is logged before the reply is sent; its reader may lag behind).
    let chosen = format!("retry_ms={}", ordered_server::RETRY_MS);
    let logged = tokio::time::timeout(LIMIT, async {
        while !gateway.stderr().contains(&chosen) {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(logged.is_ok(), "{}", gateway.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_sent_before_the_get_finds_the_stream_opened_at_initialized() {
    let server = ordered_server::start().await;
    // No session secret: every request of a session reaches this process.
    let gateway = Gateway::start(&config(&server.url(), "  {}"), &["--tool-timeout", "30"]).await;
    let host = gateway.base.trim_start_matches("http://").to_owned();
    let url = format!("{}/mcp/order", gateway.base);
    for round in 0..SESSIONS {
        let session = super::open(&gateway, "/mcp/order", &[]).await;
        // The call goes first, the GET only after it, in the worst order.
        let mut post = TcpStream::connect(&host).await.unwrap();
        let call = rpc(1, "tools/call", json!({"name": "sample", "arguments": {}}));
        post.write_all(&raw("POST", &host, "/mcp/order", &session, Some(&call)))
            .await
            .unwrap();
        let mut get = TcpStream::connect(&host).await.unwrap();
        get.write_all(&raw("GET", &host, "/mcp/order", &session, None))
            .await
            .unwrap();
        let mut get = BufReader::new(get);
        let ask = tokio::select! {
            ask = next_request(&mut get) => ask,
            answered = read_until_closed(&mut post) => {
                panic!("round {round}: the call reached the server before its stream was open: {answered}")
            }
        };
        assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
        let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "role": "assistant", "model": "stand-in",
            "content": {"type": "text", "text": format!("round {round}")}}});
        let accepted = send("POST", &url, &[("mcp-session-id", &session)], Some(&answer)).await;
        assert_eq!(accepted.status, http::StatusCode::ACCEPTED, "{accepted:?}");
        let answered = read_until_closed(&mut post).await;
        assert!(
            answered.contains(&format!("sampled: round {round}")),
            "round {round}: {answered}"
        );
    }
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), SESSIONS);
    for (session, arrived) in arrivals {
        assert_eq!(arrived, ["open", "call"], "{session}");
    }
}
