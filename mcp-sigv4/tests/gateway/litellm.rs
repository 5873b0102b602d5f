//! LiteLLM parity (issue #19): a config written from LiteLLM's documentation
//! starts, its REST API answers in LiteLLM's shapes, tool filters hold on every
//! route, per-request credentials reach only their server, and seed 002's curl
//! line works as printed. Each driven against the real gateway process, with the
//! requests counted at the upstreams.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use super::{Gateway, server, sse_server};
use super::{LIMIT, MASTER_KEY, NEXT, Upstreams, client, names, send, upstream, upstreams};

const BEARER: &str = "Authorization";

fn key() -> String {
    format!("Bearer {MASTER_KEY}")
}

/// One server of each kind LiteLLM's pages show: SigV4, a bearer token with
/// tool filters, one whose users bring their own token, `token`, and the
/// stdio, SSE and OAuth2 servers the gateway reads but does not serve yet.
fn config(up: &Upstreams) -> std::path::PathBuf {
    config_with(
        up,
        "http://127.0.0.1:9/no-token-endpoint",
        "http://127.0.0.1:9/no-sse-server",
    )
}

fn config_with(up: &Upstreams, token_url: &str, sse_url: &str) -> std::path::PathBuf {
    let yaml = format!(
        r#"mcp_servers:
  agent:
    url: "{agent}"
    auth_type: aws_sigv4
    aws_region_name: us-east-1
    aws_service_name: bedrock-agentcore
    aws_access_key_id: os.environ/AGENT_AKID
    aws_secret_access_key: os.environ/AGENT_SECRET
    aws_session_token: os.environ/AGENT_TOKEN
  tools:
    url: "{tools}"
    description: "the bearer-protected server"
    auth_type: bearer_token
    auth_value: os.environ/TOOLS_TOKEN
    allowed_tools: ["whoami", "wait"]
    disallowed_tools: ["wait"]
  byuser:
    url: "{tools}"
    auth_type: bearer_token
    auth_value: "configured-but-wrong"
  classic:
    url: "{tools}"
    auth_type: token
    auth_value: "classic-token-EXAMPLE"
  local:
    transport: "stdio"
    command: "{bin}"
    args: ["proxy", "{agent}", "--service", "bedrock-agentcore", "--region", "us-east-1", "--log-level", "debug"]
    env:
      AWS_ACCESS_KEY_ID: os.environ/AGENT_AKID
      AWS_SECRET_ACCESS_KEY: os.environ/AGENT_SECRET
      AWS_SESSION_TOKEN: os.environ/AGENT_TOKEN
      AWS_EC2_METADATA_DISABLED: "true"
  broken:
    command: "/nonexistent/mcp-server-EXAMPLE"
  legacy_sse:
    url: "{sse_url}"
    transport: sse
    auth_type: api_key
    auth_value: "{sse_key}"
  m2m:
    url: "{tools}"
    auth_type: oauth2
    oauth2_flow: client_credentials
    token_url: "{token_url}"
    client_id: "gateway"
    client_secret: "oauth-secret-EXAMPLE"
    scopes: ["mcp:read"]
general_settings:
  master_key: os.environ/MASTER
"#,
        agent = up.agent.url(),
        tools = up.tools.url(),
        bin = env!("CARGO_BIN_EXE_mcp-sigv4"),
        sse_key = sse_server::KEY,
    );
    let path = up.dir.join(format!(
        "litellm-{}.yaml",
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A GET with the master key, and its JSON body.
async fn get(gateway: &Gateway, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Value) {
    let answer = send("GET", &format!("{}{path}", gateway.base), headers, None).await;
    let body = answer.messages.first().cloned().unwrap_or(Value::Null);
    (answer.status, body)
}

async fn post(
    gateway: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (StatusCode, Value) {
    let answer = send(
        "POST",
        &format!("{}{path}", gateway.base),
        headers,
        Some(body),
    )
    .await;
    let body = answer.messages.last().cloned().unwrap_or(Value::Null);
    (answer.status, body)
}

fn seen(up: &Upstreams) -> usize {
    up.tools.seen.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_litellm_config_of_every_kind_starts_and_lists_its_servers_without_secrets() {
    let up = upstreams().await;
    let gateway = Gateway::start(&config(&up), &[]).await;
    let log = gateway.stderr();
    assert!(!log.contains("skipped"), "{log}");
    // The REST server list: LiteLLM's shape, and no secret in it.
    let (status, _) = get(&gateway, "/v1/mcp/server", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, servers) = get(&gateway, "/v1/mcp/server", &[(BEARER, &key())]).await;
    assert_eq!(status, StatusCode::OK, "{servers}");
    let text = servers.to_string();
    for secret in [
        upstream::TOKEN,
        "configured-but-wrong",
        "classic-token-EXAMPLE",
        "oauth-secret-EXAMPLE",
        sse_server::KEY,
        server::SECRET_KEY,
        MASTER_KEY,
    ] {
        assert!(!text.contains(secret), "a secret in {text}");
    }
    let tools = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server_name"] == "tools")
        .unwrap();
    assert_eq!(tools["server_id"], "tools");
    assert_eq!(tools["auth_type"], "bearer_token");
    assert_eq!(tools["mcp_info"]["server_name"], "tools");
    assert_eq!(
        tools["mcp_info"]["description"],
        "the bearer-protected server"
    );
    assert_eq!(tools["allowed_tools"], json!(["whoami", "wait"]));
    let local = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server_name"] == "local")
        .unwrap();
    assert_eq!(local["transport"], "stdio");
}

#[tokio::test]
async fn rest_lists_and_calls_in_litellm_shapes_behind_the_key() {
    let up = upstreams().await;
    let gateway = Gateway::start(&config(&up), &[]).await;
    let key = key();
    for (method, path) in [
        ("GET", "/mcp-rest/tools/list"),
        ("POST", "/mcp-rest/tools/call"),
    ] {
        let answer = send(
            method,
            &format!("{}{path}", gateway.base),
            &[("x-litellm-api-key", "sk-wrong-key-0000000")],
            Some(&json!({})),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
    }

    let (status, list) = get(
        &gateway,
        "/mcp-rest/tools/list?server_id=tools",
        &[("x-litellm-api-key", &key)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["error"], Value::Null, "{list}");
    assert_eq!(list["message"], "Successfully retrieved tools");
    // allowed_tools lets whoami and wait through; disallowed_tools takes wait.
    assert_eq!(names(&list["tools"]), ["whoami"]);
    assert_eq!(list["tools"][0]["mcp_info"]["server_name"], "tools");
    assert!(list["tools"][0]["inputSchema"].is_object(), "{list}");

    // Every server (the per-user and `token` ones fail: their credential is refused).
    let (_, all) = get(
        &gateway,
        "/mcp-rest/tools/list",
        &[("x-litellm-api-key", MASTER_KEY)],
    )
    .await;
    let all_names = names(&all["tools"]);
    for name in ["add", "count", "echo", "whoami"] {
        assert!(all_names.contains(&name.to_owned()), "{all}");
    }
    assert!(!all_names.contains(&"ask_client".to_owned()), "{all}");

    let (status, missing) = get(
        &gateway,
        "/mcp-rest/tools/list?server_id=nope",
        &[(BEARER, &key)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(missing["error"], "server_not_found");

    let (status, called) = post(
        &gateway,
        "/mcp-rest/tools/call",
        &[(BEARER, &key)],
        &json!({"server_id": "agent", "name": "add", "arguments": {"a": 40, "b": 2}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["content"][0]["text"], "42", "{called}");
    // Seed 000's form: a prefixed name and no server_id.
    let (status, called) = post(
        &gateway,
        "/mcp-rest/tools/call",
        &[(BEARER, &key)],
        &json!({"name": "tools-whoami", "arguments": {}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["content"][0]["text"], "the bearer-protected server");

    // A filtered tool is refused by the gateway: nothing reaches the upstream.
    let before = seen(&up);
    for name in ["ask_client", "wait"] {
        let (status, refused) = post(
            &gateway,
            "/mcp-rest/tools/call",
            &[(BEARER, &key)],
            &json!({"server_id": "tools", "name": name, "arguments": {}}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert_eq!(refused["detail"]["error"], "tool_not_allowed");
    }
    assert_eq!(seen(&up), before, "a filtered call reached the upstream");
}

/// Seed 002's line, exactly: curl's default form content type, no `jsonrpc`,
/// no `id`, no session.
async fn curl(
    gateway: &Gateway,
    path: &str,
    data: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = Request::post(format!("{}{path}", gateway.base))
        .header("authorization", key())
        .header("content-type", "application/x-www-form-urlencoded");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(
        LIMIT,
        client().request(
            request
                .body(Full::new(Bytes::from(data.to_owned())))
                .unwrap(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn seed_002_curl_lines_work_as_printed_without_a_handshake_per_call() {
    let up = upstreams().await;
    let gateway = Gateway::start(&config(&up), &[]).await;
    let (status, list) = curl(&gateway, "/mcp/tools", r#"{"method":"tools/list"}"#, &[]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(names(&list["result"]["tools"]), ["whoami"]);
    let handshakes = up.tools.initializes.load(Ordering::SeqCst);
    assert!(handshakes <= 1, "{handshakes} handshakes for one call");
    for _ in 0..3 {
        let (status, list) = curl(&gateway, "/mcp/tools", r#"{"method":"tools/list"}"#, &[]).await;
        assert_eq!(status, StatusCode::OK, "{list}");
    }
    assert_eq!(
        up.tools.initializes.load(Ordering::SeqCst),
        handshakes,
        "a handshake per one-shot call"
    );

    // `/{server}/mcp`, and the prefixed name on the server's own route.
    for name in ["whoami", "tools-whoami"] {
        let (status, call) = curl(
            &gateway,
            "/tools/mcp",
            &json!({"method": "tools/call", "params": {"name": name, "arguments": {}}}).to_string(),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{call}");
        assert_eq!(
            call["result"]["content"][0]["text"], "the bearer-protected server",
            "{name}: {call}"
        );
    }

    // A filtered call on the MCP route never reaches the upstream either.
    let before = seen(&up);
    let (_, refused) = curl(
        &gateway,
        "/mcp/tools",
        r#"{"method":"tools/call","params":{"name":"ask_client","arguments":{}}}"#,
        &[],
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert_eq!(seen(&up), before, "a filtered call reached the upstream");

    // A malformed message is the client's fault: -32600, never a 502.
    let (status, bad) = curl(&gateway, "/mcp/tools", r#"{"params":{}}"#, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["code"], -32600, "{bad}");
}

#[tokio::test]
async fn x_mcp_servers_narrows_the_aggregate_and_refuses_calls_outside_it() {
    let up = upstreams().await;
    let gateway = Gateway::start(&config(&up), &[]).await;
    let narrow = [("x-mcp-servers", "tools,agent")];
    let (status, list) = curl(&gateway, "/mcp", r#"{"method":"tools/list"}"#, &narrow).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        names(&list["result"]["tools"]),
        ["agent-add", "agent-count", "agent-echo", "tools-whoami"]
    );
    let before = seen(&up);
    let (_, outside) = curl(
        &gateway,
        "/mcp",
        r#"{"method":"tools/call","params":{"name":"classic-whoami","arguments":{}}}"#,
        &narrow,
    )
    .await;
    assert_eq!(outside["error"]["code"], -32602, "{outside}");
    assert_eq!(seen(&up), before);
}

#[tokio::test]
async fn per_request_credentials_reach_only_their_server_and_hints_match_the_auth_type() {
    let up = upstreams().await;
    let gateway = Gateway::start(&config(&up), &[]).await;
    let call = r#"{"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;
    // The configured token is wrong: the hint names the auth type and the header.
    let (_, refused) = curl(&gateway, "/mcp/byuser", call, &[]).await;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("bearer_token") && message.contains("x-mcp-byuser-authorization"),
        "{refused}"
    );
    assert!(
        !message.contains("SigV4") && !message.contains("signature"),
        "{refused}"
    );
    let (_, refused) = curl(&gateway, "/mcp/classic", call, &[]).await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("token credential"),
        "{refused}"
    );

    // The user's own token, for this request and this server only.
    let own = format!("Bearer {}", upstream::TOKEN);
    let (status, answered) = curl(
        &gateway,
        "/mcp/byuser",
        call,
        &[("x-mcp-byuser-authorization", &own)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(
        answered["result"]["content"][0]["text"], "the bearer-protected server",
        "{answered}"
    );
    // The next request without it is refused again: nothing was kept.
    let (_, again) = curl(&gateway, "/mcp/byuser", call, &[]).await;
    assert!(again.get("error").is_some(), "{again}");
    // Another server's header does not reach byuser.
    let (_, other) = curl(
        &gateway,
        "/mcp/byuser",
        call,
        &[("x-mcp-classic-authorization", &own)],
    )
    .await;
    assert!(other.get("error").is_some(), "{other}");

    // Under aws_sigv4 the forwarded header is signed with the rest: the
    // SigV4 stand-in still accepts every request.
    let (status, added) = curl(
        &gateway,
        "/mcp/agent",
        r#"{"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#,
        &[("x-mcp-agent-x-trace-id", "trace-1")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["result"]["content"][0]["text"], "3", "{added}");
    assert_eq!(up.agent.stats.refused(), 0);
}

/// An OAuth2 token endpoint on 127.0.0.1: the first token it issues is one the
/// upstream refuses (revoked early), then tokens the upstream takes, each
/// valid for 2 s. It keeps every request: its `client_secret_basic` client
/// (`id:secret`, or `none`), a space, its body.
struct TokenEndpoint {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl TokenEndpoint {
    fn requests(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

async fn token_endpoint() -> TokenEndpoint {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
    let kept = bodies.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let kept = kept.clone();
                    async move {
                        let client = crate::client_secret_basic::credentials(request.headers())
                            .map_or("none".to_owned(), |(id, secret)| format!("{id}:{secret}"));
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let issued = {
                            let mut kept = kept.lock().unwrap();
                            kept.push(format!("{client} {}", String::from_utf8_lossy(&body)));
                            kept.len()
                        };
                        let token = if issued == 1 {
                            "revoked-early"
                        } else {
                            upstream::TOKEN
                        };
                        let reply =
                            json!({"access_token": token, "token_type": "Bearer", "expires_in": 2});
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(reply.to_string())))
                                .unwrap(),
                        )
                    }
                });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    TokenEndpoint {
        url,
        bodies,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

#[tokio::test]
async fn oauth2_client_credentials_tokens_are_reused_refreshed_and_renewed_after_a_401() {
    let up = upstreams().await;
    let tokens = token_endpoint().await;
    let gateway = Gateway::start(
        &config_with(&up, &tokens.url, "http://127.0.0.1:9/no-sse-server"),
        &[],
    )
    .await;
    let call = json!({"server_id": "m2m", "name": "whoami", "arguments": {}});
    let (status, called) = post(&gateway, "/mcp-rest/tools/call", &[(BEARER, &key())], &call).await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(called["content"][0]["text"], "the bearer-protected server");
    // The first token was refused (401): one more fetch, one retry.
    assert_eq!(tokens.requests(), 2, "{:?}", tokens.bodies.lock().unwrap());
    // The client authenticates with Basic, the secret nowhere else.
    assert_eq!(
        tokens.bodies.lock().unwrap()[0],
        "gateway:oauth-secret-EXAMPLE grant_type=client_credentials&scope=mcp%3Aread"
    );
    // Reused while fresh.
    for _ in 0..3 {
        let (status, called) =
            post(&gateway, "/mcp-rest/tools/call", &[(BEARER, &key())], &call).await;
        assert_eq!(status, StatusCode::OK, "{called}");
    }
    assert_eq!(tokens.requests(), 2, "a token fetched per call");
    // Fetched again ahead of its expiry (2 s, refreshed a quarter before).
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let (status, called) = post(&gateway, "/mcp-rest/tools/call", &[(BEARER, &key())], &call).await;
    assert_eq!(status, StatusCode::OK, "{called}");
    assert_eq!(tokens.requests(), 3);
}

#[tokio::test]
async fn a_stdio_server_is_served_logged_restarted_after_a_kill_and_stopped_with_the_gateway() {
    let up = upstreams().await;
    let mut gateway = Gateway::start(&config(&up), &[]).await;
    let add = r#"{"method":"tools/call","params":{"name":"add","arguments":{"a":40,"b":2}}}"#;
    let (status, added) = curl(&gateway, "/mcp/local", add, &[]).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["result"]["content"][0]["text"], "42", "{added}");
    let (_, list) = curl(&gateway, "/local/mcp", r#"{"method":"tools/list"}"#, &[]).await;
    assert_eq!(names(&list["result"]["tools"]), ["add", "count", "echo"]);
    // One shared process, and a slow call blocks no other client's.
    let slow = curl(
        &gateway,
        "/mcp/local",
        r#"{"method":"tools/call","params":{"name":"count","arguments":{"steps":10,"pause_ms":200}}}"#,
        &[],
    );
    let quick = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let (_, added) = curl(&gateway, "/mcp/local", add, &[]).await;
        (added, started.elapsed())
    };
    let ((status, counted), (added, took)) = tokio::join!(slow, quick);
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert!(counted.get("result").is_some(), "{counted}");
    assert_eq!(added["result"]["content"][0]["text"], "42", "{added}");
    assert!(
        took < std::time::Duration::from_millis(1200),
        "a quick call waited {took:?} behind a 2 s one"
    );
    // Its stderr is in the gateway's log, with its name.
    let log = gateway.stderr();
    let pid: u32 = log
        .lines()
        .find(|l| l.contains("started the stdio server"))
        .and_then(|l| l.split("pid=").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {log}"));
    assert!(
        log.lines()
            .any(|l| l.contains("stderr:") && l.contains("local")),
        "{log}"
    );

    // Killed, it is started again and answers.
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut answered = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, added) = curl(&gateway, "/mcp/local", add, &[]).await;
        if added["result"]["content"][0]["text"] == "42" {
            answered = Some(added);
            break;
        }
    }
    assert!(answered.is_some(), "{}", gateway.stderr());
    assert!(gateway.stderr().contains("starting it again"));

    // Stopped with the gateway.
    let log = gateway.stderr();
    let restarted: u32 = log
        .lines()
        .filter(|l| l.contains("started the stdio server"))
        .filter_map(|l| l.split("pid=").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|pid| pid.parse().ok())
        .next_back()
        .unwrap();
    assert_ne!(restarted, pid);
    gateway.signal("-TERM");
    tokio::time::timeout(LIMIT, gateway.child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut gone = false;
    for _ in 0..50 {
        let alive = std::process::Command::new("kill")
            .args(["-0", &restarted.to_string()])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        if !alive {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the stdio server outlived the gateway");
}

#[tokio::test]
async fn a_stdio_server_that_cannot_start_is_named_and_does_not_stop_the_gateway() {
    let up = upstreams().await;
    let gateway = Gateway::start(&config(&up), &[]).await;
    // Late enough that the retries have backed off past a second.
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let started = std::time::Instant::now();
    let (status, answer) = curl(&gateway, "/mcp/broken", r#"{"method":"tools/list"}"#, &[]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cannot start the stdio server `/nonexistent/mcp-server-EXAMPLE`"),
        "{answer}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "waited {:?} for the next attempt",
        started.elapsed()
    );
    // The other servers answer all the while.
    let (status, list) = curl(&gateway, "/mcp/tools", r#"{"method":"tools/list"}"#, &[]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(names(&list["result"]["tools"]), ["whoami"]);
}

#[tokio::test]
async fn a_2024_11_05_sse_server_is_served_with_its_auth_on_one_shared_stream() {
    let up = upstreams().await;
    let sse = sse_server::start().await;
    let gateway = Gateway::start(
        &config_with(&up, "http://127.0.0.1:9/no-token-endpoint", &sse.url),
        &[],
    )
    .await;
    let (status, list) = curl(
        &gateway,
        "/mcp/legacy_sse",
        r#"{"method":"tools/list"}"#,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(names(&list["result"]["tools"]), ["shout"]);
    let (status, shouted) = post(
        &gateway,
        "/mcp-rest/tools/call",
        &[(BEARER, &key())],
        &json!({"name": "legacy_sse-shout", "arguments": {"text": "hello"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shouted}");
    assert_eq!(shouted["content"][0]["text"], "HELLO");
    // A legacy client's own session reaches it too.
    let session = super::open(&gateway, "/mcp/legacy_sse", &[(BEARER, &key())]).await;
    let answer = send(
        "POST",
        &format!("{}/mcp/legacy_sse", gateway.base),
        &[(BEARER, &key()), ("mcp-session-id", &session)],
        Some(&super::rpc(
            7,
            "tools/call",
            json!({"name": "shout", "arguments": {"text": "hi"}}),
        )),
    )
    .await;
    assert_eq!(super::text(&answer), "HI", "{answer:?}");
    // Every request carried the key, and they shared one event stream.
    assert_eq!(sse.counts.refused.load(Ordering::SeqCst), 0);
    assert_eq!(sse.counts.streams.load(Ordering::SeqCst), 1);
    assert!(sse.counts.posts.load(Ordering::SeqCst) >= 3);
}
