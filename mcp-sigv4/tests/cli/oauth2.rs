//! `mcp-sigv4 proxy --oauth2-*` (issue #19): an AgentCore runtime whose inbound
//! auth is a JWT gets `Authorization: Bearer` with a client-credentials token
//! instead of SigV4. A token endpoint on 127.0.0.1 counts the tokens it issues;
//! an MCP server on 127.0.0.1 takes only the tokens it issued, and refuses the
//! first one (revoked early) with 401.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::{Cli, initialize};

const SECRET: &str = "proxy-client-secret-EXAMPLE";

/// What the token endpoint and the server saw.
#[derive(Default)]
struct Seen {
    /// The form of every token request the client authenticated.
    forms: Mutex<Vec<String>>,
    /// `expires_in` of the tokens issued from now on.
    lifetime: AtomicU64,
    /// The `Authorization` of every MCP request.
    authorizations: Mutex<Vec<String>>,
}

impl Seen {
    fn tokens_issued(&self) -> usize {
        self.forms.lock().unwrap().len()
    }
}

struct Servers {
    token_url: String,
    mcp_url: String,
    seen: Arc<Seen>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(request: Request<Incoming>, seen: Arc<Seen>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let method = request.method().clone();
    let client = crate::client_secret_basic::credentials(request.headers());
    let body = request.into_body().collect().await.unwrap().to_bytes();
    if path == "/oauth2/token" {
        let form = String::from_utf8_lossy(&body).into_owned();
        if client != Some(("agent-client".to_owned(), SECRET.to_owned())) {
            return respond(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "invalid_client"}),
            );
        }
        let issued = {
            let mut forms = seen.forms.lock().unwrap();
            forms.push(form);
            forms.len()
        };
        let token = if issued == 1 {
            "revoked-early".to_owned()
        } else {
            format!("jwt-{issued}")
        };
        return respond(
            StatusCode::OK,
            &json!({"access_token": token, "token_type": "Bearer",
                "expires_in": seen.lifetime.load(Ordering::SeqCst)}),
        );
    }
    seen.authorizations
        .lock()
        .unwrap()
        .push(authorization.clone());
    if !authorization.starts_with("Bearer jwt-") {
        return respond(StatusCode::UNAUTHORIZED, &json!({"message": "bad token"}));
    }
    if method != http::Method::POST {
        return respond(StatusCode::METHOD_NOT_ALLOWED, &json!({}));
    }
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        return Response::builder()
            .status(StatusCode::ACCEPTED)
            .body(Full::new(Bytes::new()))
            .unwrap();
    };
    let result = match message["method"].as_str().unwrap_or_default() {
        "initialize" => json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "jwt-runtime", "version": "1"}}),
        "tools/list" => json!({"tools": [{"name": "whoami",
            "inputSchema": {"type": "object", "properties": {}}}]}),
        "tools/call" => json!({"content": [{"type": "text", "text": authorization}]}),
        _ => json!({}),
    };
    respond(
        StatusCode::OK,
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

async fn servers() -> Servers {
    let seen = Arc::new(Seen::default());
    seen.lifetime.store(3600, Ordering::SeqCst);
    let shared = seen.clone();
    let (addr, task) = crate::serve::answer(move |request| answer(request, shared.clone())).await;
    let base = format!("http://{addr}");
    Servers {
        token_url: format!("{base}/oauth2/token"),
        mcp_url: format!("{base}/runtimes/jwt/invocations"),
        seen,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

fn proxy(servers: &Servers, secret_flag: &[&str]) -> Cli {
    let mut args = vec![
        "proxy",
        &servers.mcp_url,
        "--oauth2-token-url",
        &servers.token_url,
        "--oauth2-client-id",
        "agent-client",
        "--oauth2-scope",
        "mcp/invoke,mcp/read",
        "--log-level",
        "trace",
    ];
    args.extend_from_slice(secret_flag);
    Cli::spawn(&args, &[("PROXY_CLIENT_SECRET", SECRET)])
}

async fn call(cli: &mut Cli, id: i64) -> String {
    cli.send(
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "whoami", "arguments": {}}})
        .to_string(),
    )
    .await;
    let (reply, _) = cli.recv_id(id).await;
    reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

#[tokio::test]
async fn oauth2_flags_send_a_cached_bearer_token_renewed_after_a_401_and_never_log_the_secret() {
    let servers = servers().await;
    let mut cli = proxy(
        &servers,
        &["--oauth2-client-secret-env", "PROXY_CLIENT_SECRET"],
    );
    cli.send(&initialize(0)).await;
    let (reply, _) = cli.recv_id(0).await;
    assert_eq!(
        reply["result"]["serverInfo"]["name"], "jwt-runtime",
        "{reply}"
    );
    // The first token was refused (401): one more fetch, and the request again.
    assert_eq!(servers.seen.tokens_issued(), 2);
    let form = servers.seen.forms.lock().unwrap()[0].clone();
    // The client authenticated with Basic (checked by the endpoint), the
    // secret nowhere else.
    assert_eq!(
        form, "grant_type=client_credentials&scope=mcp%2Finvoke%20mcp%2Fread",
        "{form}"
    );
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    // Reused while fresh: no fetch per request, and no SigV4.
    for id in 1..=4 {
        assert_eq!(call(&mut cli, id).await, "Bearer jwt-2");
    }
    assert_eq!(servers.seen.tokens_issued(), 2);
    assert!(
        servers
            .seen
            .authorizations
            .lock()
            .unwrap()
            .iter()
            .all(|a| a.starts_with("Bearer ")),
        "a request went without the token"
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("OAuth2"), "{stderr}");
    assert!(
        !stderr.contains(SECRET),
        "the secret is in the log:\n{stderr}"
    );
    assert!(
        !stderr.contains("jwt-2"),
        "a token is in the log:\n{stderr}"
    );
}

#[tokio::test]
async fn a_due_token_is_fetched_again_once_for_requests_in_flight_together() {
    let servers = servers().await;
    // From a file, with its trailing newline.
    let dir = std::env::temp_dir().join(format!("mcp-sigv4-oauth2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    // Tokens of one second: each falls due 750 ms after it is fetched.
    servers.seen.lifetime.store(1, Ordering::SeqCst);
    let mut cli = proxy(
        &servers,
        &["--oauth2-client-secret-file", file.to_str().unwrap()],
    );
    cli.send(&initialize(0)).await;
    cli.recv_id(0).await;
    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    let issued = servers.seen.tokens_issued();
    // Past the refresh point (a lower bound: waiting longer changes nothing).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for id in 1..=5 {
        cli.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "whoami", "arguments": {}}})
            .to_string(),
        )
        .await;
    }
    // The replies come in any order.
    let mut answered = Vec::new();
    while answered.len() < 5 {
        let reply = cli.recv().await;
        if reply.get("method").is_none() {
            assert!(reply.get("result").is_some(), "{reply}");
            answered.push(reply["id"].as_i64().unwrap());
        }
    }
    answered.sort_unstable();
    assert_eq!(answered, [1, 2, 3, 4, 5]);
    // Five requests at once after the token fell due: one fetch between them.
    assert_eq!(servers.seen.tokens_issued(), issued + 1);
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains(SECRET),
        "the secret is in the log:\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_secret_on_the_command_line_or_a_missing_one_is_refused_with_what_to_do() {
    let servers = servers().await;
    let cli = proxy(&servers, &["--oauth2-client-secret", SECRET]);
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--oauth2-client-secret is refused")
            && stderr.contains("--oauth2-client-secret-env"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");

    let cli = proxy(&servers, &[]);
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--oauth2-client-secret-file FILE"),
        "{stderr}"
    );

    let cli = proxy(
        &servers,
        &["--oauth2-client-secret-env", "NO_SUCH_VARIABLE_X"],
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("NO_SUCH_VARIABLE_X is not set"), "{stderr}");
    assert_eq!(servers.seen.tokens_issued(), 0);
}
