//! The audit trail (issue #31 §5): one JSON line per `tools/call` on every
//! route and era, and per refused request; refusals without a valid key
//! folded per client address; argument values only with `--audit-arguments`;
//! no key, token or secret anywhere in the output. Driven against the real
//! gateway process in front of a small MCP server on 127.0.0.1 with a tool
//! that answers, one that fails (`isError`), one whose server breaks (HTTP
//! 500) and one the config filters.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::eras::{modern, post_modern_with};
use super::{Gateway, LIMIT, MASTER_KEY, NEXT, open, rpc, send};

/// The upstream's own bearer token, from the config (`auth_value`).
const UPSTREAM_TOKEN: &str = "upstream-configured-token-EXAMPLE";
/// A client's per-request credential for server `alpha`, sent as
/// `x-mcp-alpha-authorization`.
const CLIENT_SECRET: &str = "client-x-mcp-secret-EXAMPLE";
/// A key that is not the master key, presented by a scanner.
const WRONG_KEY: &str = "wrong-bearer-key-EXAMPLE";
/// An argument value, written only with `--audit-arguments`.
const ARGUMENT: &str = "argument-value-EXAMPLE";

/// Every field a line has, whatever its outcome.
const FIELDS: [&str; 11] = [
    "time",
    "identity",
    "rule",
    "route",
    "server",
    "tool",
    "outcome",
    "duration_ms",
    "trace_id",
    "client",
    "reason",
];

type Body = BoxBody<Bytes, Infallible>;
/// `(tool, Authorization)` of each `tools/call` that reached the server.
type Calls = Arc<Mutex<Vec<(String, String)>>>;

fn json_reply(body: &Value) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/json")
        .header("mcp-session-id", "audited-session")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
}

fn plain(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

/// A 2025-06-18 MCP server: `echo` answers, `fail` reports `isError`,
/// `broken` gets HTTP 500. It keeps the tool name and `Authorization` of
/// every call.
async fn serve(request: Request<Incoming>, calls: Calls) -> Response<Body> {
    if request.method() != http::Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED);
    }
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(id) = message.get("id").cloned() else {
        return plain(StatusCode::ACCEPTED);
    };
    let result = match message["method"].as_str().unwrap_or_default() {
        "server/discover" => {
            return json_reply(&json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found"}}));
        }
        "initialize" => json!({"protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}}, "serverInfo": {"name": "audited", "version": "1"}}),
        "tools/list" => {
            let tools: Vec<Value> = ["echo", "fail", "broken", "hidden"]
                .iter()
                .map(|name| json!({"name": name, "inputSchema": {"type": "object"}}))
                .collect();
            json!({ "tools": tools })
        }
        "tools/call" => {
            let name = message.pointer("/params/name").and_then(Value::as_str);
            let name = name.unwrap_or_default().to_owned();
            calls.lock().unwrap().push((name, authorization));
            match message.pointer("/params/name").and_then(Value::as_str) {
                Some("broken") => return plain(StatusCode::INTERNAL_SERVER_ERROR),
                Some("fail") => json!({"content": [{"type": "text", "text": "it failed"}],
                    "isError": true}),
                _ => json!({"content": [{"type": "text", "text": "done"}], "isError": false}),
            }
        }
        _ => json!({}),
    };
    json_reply(&json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// The server, and a config naming it twice (`alpha`, which filters the tool
/// `hidden`, and `beta`), with the master key.
pub(super) struct Audited {
    config: std::path::PathBuf,
    /// Where the trail goes with `--audit-log`.
    pub(super) audit_log: std::path::PathBuf,
    calls: Calls,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Audited {
    fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap().clone()
    }

    /// Every line of the audit file, each parsed as JSON.
    pub(super) fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.audit_log).unwrap_or_default();
        parse_lines(&text)
    }
}

/// Each line of `text` parsed as JSON (a line that is not fails the test).
pub(super) fn parse_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("an audit line is not JSON ({e}): {line}"))
        })
        .collect()
}

/// The server of [`serve`], and its config.
pub(super) async fn audited() -> Audited {
    let calls = Calls::default();
    let shared = calls.clone();
    let (addr, task) = super::serve::answer(move |request| serve(request, shared.clone())).await;
    let dir = std::env::temp_dir().join(format!(
        "mcp-sigv4-audit-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        r#"mcp_servers:
  alpha:
    url: "http://{addr}/mcp"
    auth_type: bearer_token
    auth_value: os.environ/UPSTREAM_TOKEN
    disallowed_tools: [hidden]
  beta:
    url: "http://{addr}/mcp"
    auth_type: bearer_token
    auth_value: os.environ/UPSTREAM_TOKEN
general_settings:
  master_key: os.environ/MASTER
"#
    );
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    Audited {
        config,
        audit_log: dir.join("audit.jsonl"),
        calls,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

/// A gateway in front of `up`'s server, with `extra` arguments.
pub(super) async fn start(up: &Audited, extra: &[&str]) -> Gateway {
    Gateway::start_with_env(&up.config, extra, &[("UPSTREAM_TOKEN", UPSTREAM_TOKEN)]).await
}

/// SIGTERM, and wait until the gateway has exited (and written what it held).
#[cfg(unix)]
pub(super) async fn stop(gateway: &mut Gateway) {
    gateway.signal("-TERM");
    let status = tokio::time::timeout(LIMIT, gateway.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", gateway.stderr());
    // The log as the process left it, read to its end.
    eventually(|| gateway.stderr().contains("draining in-flight requests")).await;
}

/// Wait until `done` holds (at most [`LIMIT`]).
pub(super) async fn eventually(done: impl Fn() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("not done within {LIMIT:?}");
}

/// The lines of `tools/call`s and tool refusals for `tool`, in order.
fn of_tool<'a>(lines: &'a [Value], tool: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["tool"] == tool).collect()
}

/// `(route, server, outcome)` of each line.
fn summary(lines: &[&Value]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .map(|l| {
            let text = |field: &str| l[field].as_str().unwrap_or("null").to_owned();
            (text("route"), text("server"), text("outcome"))
        })
        .collect()
}

fn triple(route: &str, server: &str, outcome: &str) -> (String, String, String) {
    (route.to_owned(), server.to_owned(), outcome.to_owned())
}

fn assert_no_secret(output: &str) {
    for secret in [MASTER_KEY, WRONG_KEY, CLIENT_SECRET, UPSTREAM_TOKEN] {
        assert!(
            !output.contains(secret),
            "`{secret}` appears in the output:\n{output}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn every_tools_call_and_refusal_is_one_line_on_every_route_and_era() {
    let up = audited().await;
    let log = up.audit_log.to_str().unwrap().to_owned();
    let mut gateway = start(&up, &["--audit-log", &log]).await;
    let bearer = format!("Bearer {MASTER_KEY}");
    let key = [("authorization", bearer.as_str())];
    let call = |id, name: &str| rpc(id, "tools/call", json!({"name": name, "arguments": {}}));

    // /mcp, all servers aggregated, in a 2025 session.
    let session = open(&gateway, "/mcp", &key).await;
    let in_session = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", &session),
    ];
    let url = format!("{}/mcp", gateway.base);
    for (id, name) in [
        (1, "alpha-echo"),
        (2, "alpha-fail"),
        (3, "alpha-broken"),
        (4, "alpha-hidden"),
    ] {
        send("POST", &url, &in_session, Some(&call(id, name))).await;
    }
    // /mcp/{server}, a batch of two calls.
    let session = open(&gateway, "/mcp/beta", &key).await;
    let in_session = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", &session),
    ];
    let batch = json!([call(5, "echo"), call(6, "fail")]);
    let answer = send(
        "POST",
        &format!("{}/mcp/beta", gateway.base),
        &in_session,
        Some(&batch),
    )
    .await;
    assert_eq!(
        answer.messages[0].as_array().map(Vec::len),
        Some(2),
        "{answer:?}"
    );
    // /{server}/mcp, one-shot JSON-RPC without a session, with the client's
    // own credential for the server.
    let own = format!("Bearer {CLIENT_SECRET}");
    let one_shot = json!({"method": "tools/call", "params": {"name": "echo", "arguments": {}}});
    let answer = send(
        "POST",
        &format!("{}/alpha/mcp", gateway.base),
        &[
            ("authorization", bearer.as_str()),
            ("x-mcp-alpha-authorization", &own),
        ],
        Some(&one_shot),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // The REST API.
    let rest = json!({"server_id": "alpha", "name": "fail", "arguments": {}});
    send(
        "POST",
        &format!("{}/mcp-rest/tools/call", gateway.base),
        &key,
        Some(&rest),
    )
    .await;
    // A 2026-07-28 client on /mcp.
    let answer = post_modern_with(
        &gateway,
        "/mcp",
        &modern(
            7,
            "tools/call",
            json!({"name": "beta-echo", "arguments": {}}),
        ),
        &key,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    // Refused: no key, a wrong key.
    for auth in [
        vec![],
        vec![("authorization", "Bearer wrong-bearer-key-EXAMPLE")],
    ] {
        let answer = send(
            "POST",
            &format!("{}/mcp/alpha", gateway.base),
            &auth,
            Some(&call(8, "echo")),
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    stop(&mut gateway).await;

    let lines = up.lines();
    for line in &lines {
        for field in FIELDS {
            assert!(line.get(field).is_some(), "no `{field}` in {line}");
        }
        assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(line.get("arguments").is_none(), "{line}");
    }
    let calls: Vec<&Value> = lines.iter().filter(|l| !l["identity"].is_null()).collect();
    assert!(
        calls
            .iter()
            .all(|l| l["identity"] == "master" && l["rule"].is_null()),
        "{calls:?}"
    );
    assert!(
        calls.iter().all(|l| l["client"] == "127.0.0.1"),
        "{calls:?}"
    );
    assert_eq!(
        summary(&of_tool(&lines, "echo")),
        [
            triple("/mcp", "alpha", "ok"),
            triple("/mcp/{server}", "beta", "ok"),
            triple("/{server}/mcp", "alpha", "ok"),
            triple("/mcp", "beta", "ok"),
        ],
        "{lines:#?}"
    );
    assert_eq!(
        summary(&of_tool(&lines, "fail")),
        [
            triple("/mcp", "alpha", "tool_error"),
            triple("/mcp/{server}", "beta", "tool_error"),
            triple("/mcp-rest/tools/call", "alpha", "tool_error"),
        ],
        "{lines:#?}"
    );
    let broken = of_tool(&lines, "broken");
    assert_eq!(
        summary(&broken),
        [triple("/mcp", "alpha", "upstream_error")]
    );
    assert_eq!(broken[0]["reason"], "exchange_failed");
    let hidden = of_tool(&lines, "hidden");
    assert_eq!(summary(&hidden), [triple("/mcp", "alpha", "refused")]);
    for line in of_tool(&lines, "echo")
        .iter()
        .chain(&of_tool(&lines, "fail"))
    {
        assert!(
            line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
    }
    // The filtered tool and the refused requests reached no server; the
    // others did (`broken` perhaps more than once: a 500 is retried).
    let reached: Vec<String> = up.calls().into_iter().map(|(tool, _)| tool).collect();
    let count = |tool: &str| reached.iter().filter(|t| *t == tool).count();
    assert_eq!(
        (count("echo"), count("fail"), count("hidden")),
        (4, 3, 0),
        "{reached:?}"
    );
    assert!(
        up.calls()
            .iter()
            .any(|(_, authorization)| *authorization == own),
        "the client's own credential was used"
    );
    // The first refusal is written at once; the second, within the second,
    // is folded and written at shutdown.
    let unidentified: Vec<&Value> = lines.iter().filter(|l| l["identity"].is_null()).collect();
    assert_eq!(
        summary(&unidentified),
        [
            triple("/mcp/{server}", "null", "refused"),
            triple("/mcp/{server}", "null", "refused")
        ]
    );
    assert!(
        unidentified.iter().all(|l| l["count"] == 1),
        "{unidentified:?}"
    );
    assert_eq!(lines.len(), 4 + 3 + 1 + 1 + 2, "{lines:#?}");
    let file = std::fs::read_to_string(&up.audit_log).unwrap();
    assert_no_secret(&file);
    assert_no_secret(&gateway.stderr());
}

#[cfg(unix)]
#[tokio::test]
async fn refusals_without_a_valid_key_are_folded_per_client_address() {
    let up = audited().await;
    let log = up.audit_log.to_str().unwrap().to_owned();
    let mut gateway = start(&up, &["--audit-log", &log]).await;
    let url = format!("{}/mcp/alpha", gateway.base);
    let wrong = format!("Bearer {WRONG_KEY}");
    const SCAN: u64 = 200;
    let started = std::time::Instant::now();
    for id in 0..SCAN {
        let message = rpc(id as i64, "tools/call", json!({"name": "echo"}));
        let answer = send("POST", &url, &[("authorization", &wrong)], Some(&message)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let seconds = started.elapsed().as_secs();
    stop(&mut gateway).await;
    let lines = up.lines();
    // One line when the scan began, at most one a second after, and the rest
    // at shutdown: every refusal counted.
    assert!(
        !lines.is_empty() && lines.len() as u64 <= seconds + 2,
        "{} lines for {SCAN} refusals in {seconds} s: {lines:#?}",
        lines.len()
    );
    let counted: u64 = lines.iter().map(|l| l["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, SCAN, "{lines:#?}");
    for line in &lines {
        assert_eq!(line["outcome"], "refused", "{line}");
        assert_eq!(line["client"], "127.0.0.1", "{line}");
        assert!(
            line["identity"].is_null() && line["tool"].is_null(),
            "{line}"
        );
    }
    assert!(
        up.calls().is_empty(),
        "a refused request reached the server"
    );
    assert!(
        lines.iter().all(|l| l["reason"] == "missing or wrong key"),
        "{lines:#?}"
    );
    let file = std::fs::read_to_string(&up.audit_log).unwrap();
    assert_no_secret(&file);
    assert_no_secret(&gateway.stderr());
}

#[tokio::test]
async fn argument_values_are_written_only_with_audit_arguments() {
    let up = audited().await;
    let bearer = format!("Bearer {MASTER_KEY}");
    let own = format!("Bearer {CLIENT_SECRET}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-mcp-alpha-authorization", own.as_str()),
    ];
    let message = json!({"method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": ARGUMENT}}});

    // Without the flag, to the JSON log on stderr: no argument value (and
    // with metrics off: the trail does not depend on them).
    let gateway = start(&up, &["--log-format", "json", "--metrics", "off"]).await;
    let answer = send(
        "POST",
        &format!("{}/mcp/alpha", gateway.base),
        &headers,
        Some(&message),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let audit_lines = |log: &str| -> Vec<Value> {
        log.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["target"] == "mcp_sigv4::audit")
            .collect()
    };
    eventually(|| !audit_lines(&gateway.stderr()).is_empty()).await;
    let log = gateway.stderr();
    let audit = audit_lines(&log);
    assert_eq!(audit.len(), 1, "{log}");
    assert_eq!(audit[0]["tool"], "echo");
    assert_eq!(audit[0]["outcome"], "ok");
    assert_eq!(audit[0]["route"], "/mcp/{server}");
    assert!(audit[0].get("arguments").is_none(), "{}", audit[0]);
    assert!(!log.contains(ARGUMENT), "{log}");
    assert_no_secret(&log);
    drop(gateway);

    // With it, to the file: the arguments as the client sent them.
    let path = up.audit_log.to_str().unwrap().to_owned();
    let gateway = start(&up, &["--audit-log", &path, "--audit-arguments"]).await;
    let answer = send(
        "POST",
        &format!("{}/mcp/alpha", gateway.base),
        &headers,
        Some(&message),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let lines = up.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["arguments"], json!({"text": ARGUMENT}));
    assert!(
        !gateway.stderr().contains("mcp_sigv4::audit"),
        "with --audit-log the trail stays out of the log"
    );
    let file = std::fs::read_to_string(&up.audit_log).unwrap();
    assert_no_secret(&file);
    assert_no_secret(&gateway.stderr());
}

#[tokio::test]
async fn a_line_names_the_trace_of_its_request() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (endpoint, _received) = super::otlp::receiver().await;
    let up = audited().await;
    let path = up.audit_log.to_str().unwrap().to_owned();
    let gateway = Gateway::start_with_env(
        &up.config,
        &["--audit-log", &path],
        &[
            ("UPSTREAM_TOKEN", UPSTREAM_TOKEN),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ],
    )
    .await;
    let bearer = format!("Bearer {MASTER_KEY}");
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let message = json!({"method": "tools/call", "params": {"name": "echo", "arguments": {}}});
    let url = format!("{}/mcp/beta", gateway.base);
    let headers = [
        ("authorization", bearer.as_str()),
        ("traceparent", &traceparent),
    ];
    let answer = send("POST", &url, &headers, Some(&message)).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let wrong = format!("Bearer {WRONG_KEY}");
    let refused = [
        ("authorization", wrong.as_str()),
        ("traceparent", &traceparent),
    ];
    let answer = send("POST", &url, &refused, Some(&message)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let lines = up.lines();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l["trace_id"] == TRACE_ID),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn an_audit_log_that_cannot_be_opened_stops_the_start_and_names_the_flag() {
    let up = audited().await;
    let missing = up
        .audit_log
        .with_file_name("no-such-dir")
        .join("audit.jsonl");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .args([
            "gateway",
            "--config",
            up.config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--audit-log", missing.to_str().unwrap()])
        .env("UPSTREAM_TOKEN", UPSTREAM_TOKEN)
        .env("MASTER", MASTER_KEY)
        .env("MCP_SIGV4_PROBE_INTERVAL", "0")
        .stdin(std::process::Stdio::null())
        .output();
    let output = tokio::time::timeout(LIMIT, output).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open the audit log") && stderr.contains("--audit-log"),
        "{stderr}"
    );
}
