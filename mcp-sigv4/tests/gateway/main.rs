//! `mcp-sigv4 gateway` as a process, in front of two MCP servers on 127.0.0.1:
//! the demo's AgentCore stand-in (SigV4 with temporary credentials, an
//! AgentCore-shaped runtime URL) and an rmcp server behind a bearer check.

mod audit;
#[path = "../support/client_secret_basic.rs"]
mod client_secret_basic;
mod contract;
#[path = "../support/era_server.rs"]
mod era_server;
mod eras;
mod fuzz;
mod header_mismatch;
#[path = "../support/header_server.rs"]
mod header_server;
mod identity;
mod lists;
mod litellm;
mod oauth;
mod oauth_attacks;
mod order;
#[path = "../support/ordered_server.rs"]
mod ordered_server;
#[path = "../support/otlp.rs"]
mod otlp;
mod probe;
#[path = "../../../tests/support/pseudo_random.rs"]
mod pseudo_random;
mod rotation;
mod scale_out;
#[path = "../support/schema.rs"]
mod schema;
mod security;
#[path = "../../../tests/support/serve.rs"]
mod serve;
#[path = "../../../examples/demo/server.rs"]
mod server;
mod sse_server;
mod stateless;
mod tasks;
mod telemetry;
mod traces;
mod upstream;
mod verbatim;
#[path = "../support/without_proxies.rs"]
mod without_proxies;

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use without_proxies::WithoutProxies;

const LIMIT: Duration = Duration::from_secs(30);
const MASTER_KEY: &str = "sk-gateway-master-EXAMPLE";
const SESSION_SECRET: &str = "shared-replica-secret-0123456789abcdef";

/// The two upstreams and a config file naming them.
struct Upstreams {
    agent: server::StandIn,
    tools: upstream::Running,
    dir: std::path::PathBuf,
}

async fn upstreams() -> Upstreams {
    Upstreams {
        agent: server::start(false).await,
        tools: upstream::start().await,
        dir: scratch_dir("gateway"),
    }
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A new, empty directory of this test process, `mcp-sigv4-{what}-…` in the
/// system's temporary directory.
fn scratch_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-sigv4-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `mcp_servers` entry of a server `name` at `url` that the gateway signs
/// for the stand-ins' region and service, with the agent's credentials from the
/// environment (`AGENT_AKID`, `AGENT_SECRET`, `AGENT_TOKEN`).
fn signed_entry(name: &str, url: &str) -> String {
    format!(
        "  {name}:\n    url: \"{url}\"\n    auth_type: aws_sigv4\n    aws_region_name: {}\n    aws_service_name: {}\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\n",
        server::REGION,
        server::SERVICE,
    )
}

/// `yaml` as `config.yaml` in a [`scratch_dir`] of its own.
fn write_config(what: &str, yaml: &str) -> std::path::PathBuf {
    let path = scratch_dir(what).join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// A port nobody listens on at 127.0.0.1 now, for a server that must know its
/// own address before it starts. It is taken below the kernel's ephemeral range
/// (`ip_local_port_range`), where neither the other tests' outgoing connections
/// nor their `:0` listeners can take it before the server binds it; a port of
/// that range is not reused within one test run.
fn free_port() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    // A start that differs between test processes run at once.
    let base = 20_000 + (std::process::id() % 64) as u16 * 128;
    for _ in 0..1000 {
        let port = base + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 8000;
        if port < ephemeral_start && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Upstreams {
    /// A LiteLLM-style config for both servers, with `general` as general_settings.
    fn config(&self, general: &str) -> std::path::PathBuf {
        let yaml = format!(
            r#"model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/anthropic.claude-3-5-sonnet
litellm_settings:
  drop_params: true
mcp_servers:
  agent:
    url: "{agent}"
    transport: http
    auth_type: aws_sigv4
    aws_region_name: us-east-1
    aws_service_name: bedrock-agentcore
    aws_access_key_id: os.environ/AGENT_AKID
    aws_secret_access_key: os.environ/AGENT_SECRET
    aws_session_token: os.environ/AGENT_TOKEN
  tools:
    url: "{tools}"
    transport: http
    auth_type: bearer_token
    auth_value: os.environ/TOOLS_TOKEN
general_settings:
{general}
"#,
            agent = self.agent.url(),
            tools = self.tools.url(),
        );
        let path = self.dir.join(format!(
            "config-{}.yaml",
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// [`Upstreams::config`] with the replicas' shared session secret alone.
    fn config_with_secret(&self) -> std::path::PathBuf {
        self.config(&format!("  session_secret: {SESSION_SECRET}"))
    }

    /// A config, `{name}.yaml`, with `agent` signed for the wrong service (the
    /// stand-in refuses each request with 403), and `more` servers after it.
    fn config_signed_for_the_wrong_service(&self, name: &str, more: &str) -> std::path::PathBuf {
        let yaml = format!(
            "mcp_servers:\n  agent:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: us-east-1\n    aws_service_name: aws-mcp\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\n{more}",
            self.agent.url()
        );
        let path = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }
}

/// A running gateway process.
struct Gateway {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
}

impl Gateway {
    async fn start(config: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_with_env(config, extra, &[]).await
    }

    async fn start_with_env(
        config: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_listening(config, "127.0.0.1:0", extra, env).await
    }

    /// [`Gateway::start_with_env`] on `listen` (a fixed port, for a replica
    /// restarted behind a load balancer).
    async fn start_listening(
        config: &std::path::Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"));
        // Hermetic: traces only when a test asks for them.
        command
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(env.iter().copied());
        command
            .args([
                "gateway",
                "--config",
                config.to_str().unwrap(),
                "--listen",
                listen,
            ])
            .args(extra)
            .env("AGENT_AKID", server::ACCESS_KEY)
            .env("AGENT_SECRET", server::SECRET_KEY)
            .env("AGENT_TOKEN", server::SESSION_TOKEN)
            .env("TOOLS_TOKEN", upstream::TOKEN)
            .env("MASTER", MASTER_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .without_proxies()
            .env_remove("MCP_SIGV4_SESSION_SECRET")
            // No probes but where a test asks for them: the others count
            // what reaches their upstreams.
            .env("MCP_SIGV4_PROBE_INTERVAL", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let base = tokio::time::timeout(LIMIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                stderr.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    return Some(format!("http://{}", rest.split('/').next().unwrap()));
                }
            }
            None
        })
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the gateway did not start:\n{}", stderr.lock().unwrap()));
        let log = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Self {
            child,
            base,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Send the process `signal` (`-TERM`, `-HUP`) with kill(1).
    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the gateway is running").to_string();
        let sent = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill {signal} {pid}: {sent}");
    }
}

/// What came back from one HTTP request.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    session: Option<String>,
    /// The JSON body, or the SSE events' messages in order.
    messages: Vec<Value>,
}

impl Answer {
    fn reply(&self) -> &Value {
        self.messages
            .iter()
            .rfind(|m| m.get("method").is_none())
            .unwrap_or_else(|| panic!("no reply in {self:?}"))
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Send a request; its response with the body unread.
async fn respond(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response<Incoming> {
    try_respond(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`respond`], with a failed connection or a timeout as an error.
async fn try_respond(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Response<Incoming>, String> {
    let mut request = Request::builder()
        .method(method)
        .uri(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    tokio::time::timeout(
        LIMIT,
        client().request(request.body(Full::new(body)).unwrap()),
    )
    .await
    .map_err(|_| "no answer in time".to_owned())?
    .map_err(|e| e.to_string())
}

async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
    try_send(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// [`send`] of a POST with `message` as its body.
async fn post(url: &str, headers: &[(&str, &str)], message: &Value) -> Answer {
    send("POST", url, headers, Some(message)).await
}

/// [`send`], with a failed connection, a timeout or a broken body as an error.
async fn try_send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, String> {
    let response = try_respond(method, url, headers, body).await?;
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let is_sse = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let bytes = tokio::time::timeout(LIMIT, response.into_body().collect())
        .await
        .map_err(|_| "no body in time".to_owned())?
        .map_err(|e| format!("the body broke: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let messages = if is_sse {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{status}: {e}: {text}"))?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![serde_json::from_str(&text).map_err(|e| format!("{status}: {e}: {text}"))?]
    };
    Ok(Answer {
        status,
        session,
        messages,
    })
}

fn initialize() -> Value {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{"sampling":{}},
        "clientInfo":{"name":"gateway-test","version":"1"}}})
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

/// Initialize at `path` and return the session id.
async fn open(gateway: &Gateway, path: &str, auth: &[(&str, &str)]) -> String {
    let url = format!("{}{path}", gateway.base);
    let answer = post(&url, auth, &initialize()).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(
        answer.reply()["result"]["protocolVersion"].is_string(),
        "{answer:?}"
    );
    let session = answer.session.clone().expect("a session id");
    let mut headers = auth.to_vec();
    headers.push(("mcp-session-id", &session));
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let answer = post(&url, &headers, &initialized).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    session
}

fn tool_names(answer: &Answer) -> Vec<String> {
    let tools = &answer.reply()["result"]["tools"];
    assert!(tools.is_array(), "{answer:?}");
    names(tools)
}

/// The names in `tools`, a JSON array of tools, sorted.
fn names(tools: &Value) -> Vec<String> {
    let mut names: Vec<String> = tools
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {tools}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn text(answer: &Answer) -> String {
    answer.reply()["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer:?}"))
        .to_owned()
}

/// The first frame of `body`, an event stream still open, as text.
async fn first_frame(body: &mut Incoming) -> String {
    let frame = tokio::time::timeout(LIMIT, body.frame())
        .await
        .expect("a frame in time")
        .expect("the stream is open")
        .expect("a frame");
    String::from_utf8_lossy(frame.data_ref().expect("a data frame")).into_owned()
}

/// Read `body`, an event stream still open, frame by frame until what it sent
/// satisfies `done`; what it sent.
async fn read_events_until(body: &mut Incoming, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..1000 {
        if done(&text) {
            return text;
        }
        let frame = tokio::time::timeout(LIMIT, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no awaited event in time, only: {text}"))
            .expect("the stream is open")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    panic!("no awaited event in 1000 frames: {text}")
}

/// The first message of an event stream still open.
async fn first_event(body: &mut Incoming) -> Value {
    let text = read_events_until(body, |text| text.lines().any(|l| l.starts_with("data: "))).await;
    let data = text.lines().find_map(|l| l.strip_prefix("data: "));
    serde_json::from_str(data.unwrap_or_default()).unwrap()
}

#[tokio::test]
async fn each_server_at_its_own_path_signed_or_with_its_bearer_token() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config_with_secret(), &[]).await;
    let session = open(&gateway, "/mcp/agent", &[]).await;
    let url = format!("{}/mcp/agent", gateway.base);
    let headers = [("mcp-session-id", session.as_str())];
    let list = post(&url, &headers, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(tool_names(&list), ["add", "count", "echo"]);
    let call = post(
        &url,
        &headers,
        &rpc(
            2,
            "tools/call",
            json!({"name":"add","arguments":{"a":40,"b":2}}),
        ),
    )
    .await;
    assert_eq!(text(&call), "42");
    assert!(
        up.agent.stats.accepted() >= 3,
        "signed requests reached the SigV4 server"
    );
    assert_eq!(up.agent.stats.refused(), 0);

    let session = open(&gateway, "/mcp/tools", &[]).await;
    let url = format!("{}/mcp/tools", gateway.base);
    let headers = [("mcp-session-id", session.as_str())];
    let list = post(&url, &headers, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(tool_names(&list), ["ask_client", "wait", "whoami"]);
    let call = post(
        &url,
        &headers,
        &rpc(2, "tools/call", json!({"name":"whoami"})),
    )
    .await;
    assert_eq!(text(&call), "the bearer-protected server");
    assert_eq!(up.tools.refused.load(Ordering::SeqCst), 0);

    // The header and ?server= choose a server at /mcp too.
    let base = format!("{}/mcp", gateway.base);
    let answer = post(&base, &[("x-litellm-mcp-server", "tools")], &initialize()).await;
    assert_eq!(
        answer.reply()["result"]["serverInfo"]["name"],
        "rmcp",
        "{answer:?}"
    );
    let answer = post(&format!("{base}?server=agent"), &[], &initialize()).await;
    assert!(answer.reply()["result"].is_object(), "{answer:?}");
}

#[tokio::test]
async fn all_servers_at_mcp_with_prefixed_names_and_routed_calls() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config_with_secret(), &[]).await;
    let session = open(&gateway, "/mcp", &[]).await;
    let url = format!("{}/mcp", gateway.base);
    let headers = [("mcp-session-id", session.as_str())];
    let list = post(&url, &headers, &rpc(1, "tools/list", json!({}))).await;
    assert_eq!(
        tool_names(&list),
        [
            "agent-add",
            "agent-count",
            "agent-echo",
            "tools-ask_client",
            "tools-wait",
            "tools-whoami"
        ]
    );
    let call = post(
        &url,
        &headers,
        &rpc(
            2,
            "tools/call",
            json!({"name":"agent-echo","arguments":{"text":"hé"}}),
        ),
    )
    .await;
    assert_eq!(text(&call), "hé");
    let call = post(
        &url,
        &headers,
        &rpc(3, "tools/call", json!({"name":"tools-whoami"})),
    )
    .await;
    assert_eq!(text(&call), "the bearer-protected server");
    let unknown = post(
        &url,
        &headers,
        &rpc(4, "tools/call", json!({"name":"nobody-echo"})),
    )
    .await;
    assert_eq!(unknown.reply()["error"]["code"], -32602, "{unknown:?}");
    let ping = post(&url, &headers, &rpc(5, "ping", json!({}))).await;
    assert_eq!(ping.reply()["result"], json!({}));
}

#[tokio::test]
async fn progress_streams_through_as_it_arrives() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config_with_secret(), &[]).await;
    let session = open(&gateway, "/mcp", &[]).await;
    let request = Request::post(format!("{}/mcp", gateway.base))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(Full::new(Bytes::from(
            rpc(1, "tools/call", json!({"name":"agent-count","arguments":{"steps":3,"pause_ms":300},"_meta":{"progressToken":"p1"}})).to_string(),
        )))
        .unwrap();
    let response = client().request(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    // The first frame is a progress event, delivered before the result exists:
    // the gateway did not buffer the response.
    let first = first_frame(&mut body).await;
    assert!(first.contains("notifications/progress"), "{first}");
    assert!(!first.contains("counted to"), "{first}");
    let rest = tokio::time::timeout(LIMIT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    let rest = String::from_utf8_lossy(&rest);
    assert_eq!(rest.matches("notifications/progress").count(), 2, "{rest}");
    assert!(rest.contains("counted to 3"), "{rest}");
}

#[tokio::test]
async fn a_server_request_reaches_the_client_and_its_reply_the_server() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config_with_secret(), &[]).await;
    let session = open(&gateway, "/mcp", &[]).await;
    let url = format!("{}/mcp", gateway.base);
    let request = Request::post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(Full::new(Bytes::from(
            rpc(1, "tools/call", json!({"name":"tools-ask_client"})).to_string(),
        )))
        .unwrap();
    let response = client().request(request).await.unwrap();
    let mut body = response.into_body();
    let sampling = first_event(&mut body).await;
    assert_eq!(sampling["method"], "sampling/createMessage", "{sampling}");
    let id = sampling["id"]
        .as_str()
        .expect("a tagged string id")
        .to_owned();
    assert!(id.starts_with("tools-"), "{id}");
    let reply = json!({"jsonrpc":"2.0","id":id,"result":{"role":"assistant","content":{"type":"text","text":"forty-two"},"model":"test"}});
    let answer = post(&url, &[("mcp-session-id", &session)], &reply).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    let rest = tokio::time::timeout(LIMIT, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert!(String::from_utf8_lossy(&rest).contains("the client said: forty-two"));
}

#[tokio::test]
async fn the_master_key_is_required_and_nothing_reaches_an_upstream_without_it() {
    let up = upstreams().await;
    let gateway = Gateway::start(
        &up.config(&format!(
            "  master_key: os.environ/MASTER\n  session_secret: {SESSION_SECRET}"
        )),
        &[],
    )
    .await;
    let url = format!("{}/mcp/agent", gateway.base);
    for auth in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", "Basic x")],
    ] {
        let answer = post(&url, &auth, &initialize()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            answer.messages[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("master key")
        );
    }
    assert_eq!(
        up.agent.stats.accepted() + up.agent.stats.refused(),
        0,
        "nothing reached the upstream"
    );
    let bearer = format!("Bearer {MASTER_KEY}");
    open(&gateway, "/mcp/agent", &[("authorization", &bearer)]).await;
    let health = send("GET", &format!("{}/health", gateway.base), &[], None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(
        !gateway.stderr().contains(MASTER_KEY),
        "the master key reached the log"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config_with_secret(), &["--max-body-size", "2048"]).await;
    let unknown = post(&format!("{}/mcp/nope", gateway.base), &[], &initialize()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let message = unknown.messages[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("agent") && message.contains("tools"),
        "{message}"
    );

    let url = format!("{}/mcp/agent", gateway.base);
    let session = open(&gateway, "/mcp/agent", &[]).await;
    let headers = [("mcp-session-id", session.as_str())];
    let request = Request::post(&url)
        .header("content-type", "application/json")
        .header("mcp-session-id", &session)
        .body(Full::new(Bytes::from_static(b"{not json")))
        .unwrap();
    let response = client().request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"]["code"], -32700);
    let invalid = post(&url, &headers, &json!({"jsonrpc":"2.0","id":{}})).await;
    assert_eq!(invalid.messages[0]["error"]["code"], -32600, "{invalid:?}");
    let big = rpc(
        1,
        "tools/call",
        json!({"name":"echo","arguments":{"text":"x".repeat(4096)}}),
    );
    let too_large = post(&url, &headers, &big).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    let forged = post(
        &url,
        &[("mcp-session-id", "v1.e30.AAAA")],
        &rpc(2, "ping", json!({})),
    )
    .await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND, "{forged:?}");
}

#[tokio::test]
async fn upstream_failures_name_the_server_and_the_cause() {
    let up = upstreams().await;
    // The agent signed for the wrong service, and a server nobody listens on.
    let path = up.config_signed_for_the_wrong_service(
        "failing",
        "  gone:\n    url: http://127.0.0.1:9/mcp\n",
    );
    let gateway = Gateway::start(&path, &[]).await;
    let refused = post(&format!("{}/mcp/agent", gateway.base), &[], &initialize()).await;
    let message = refused.reply()["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{refused:?}"));
    // The client sees a generic cause; the details are the operator's, in the log.
    assert_eq!(
        message, "upstream `agent` refused the signature (403); see the gateway log",
        "{refused:?}"
    );
    let reply = refused.reply().to_string();
    assert!(!reply.contains(server::ACCESS_KEY), "{reply}");
    let log = gateway.stderr();
    assert!(
        log.contains("AWS expects service `bedrock-agentcore`")
            && log.contains("aws_service_name of server `agent`")
            && log.contains(server::ACCESS_KEY),
        "{log}"
    );
    let gone = post(&format!("{}/mcp/gone", gateway.base), &[], &initialize()).await;
    let message = gone.reply()["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{gone:?}"));
    assert!(
        message.contains("server `gone`") && message.contains("cannot reach"),
        "{message}"
    );
}

#[tokio::test]
async fn a_session_started_on_one_replica_continues_on_another() {
    let up = upstreams().await;
    let shared = format!("  session_secret: {SESSION_SECRET}");
    let first = Gateway::start(&up.config(&shared), &[]).await;
    let second = Gateway::start(&up.config(&shared), &[]).await;
    let session = open(&first, "/mcp", &[]).await;
    let headers = [("mcp-session-id", session.as_str())];
    let call = post(
        &format!("{}/mcp", second.base),
        &headers,
        &rpc(
            1,
            "tools/call",
            json!({"name":"agent-add","arguments":{"a":1,"b":2}}),
        ),
    )
    .await;
    assert_eq!(text(&call), "3", "the second replica continued the session");
    let call = post(
        &format!("{}/mcp", first.base),
        &headers,
        &rpc(2, "tools/call", json!({"name":"tools-whoami"})),
    )
    .await;
    assert_eq!(text(&call), "the bearer-protected server");
    // A replica with another key refuses the session instead of trusting it.
    let stranger = Gateway::start(
        &up.config("  session_secret: another-replica-secret-fedcba9876543210"),
        &[],
    )
    .await;
    let refused = post(
        &format!("{}/mcp", stranger.base),
        &headers,
        &rpc(3, "ping", json!({})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    // DELETE on the second replica ends the upstream sessions the first started.
    let deleted = send("DELETE", &format!("{}/mcp", second.base), &headers, None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(up.agent.stats.deletes(), 1);
}

#[tokio::test]
async fn without_a_master_key_only_loopback_is_served_unless_allowed() {
    let up = upstreams().await;
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .args([
            "gateway",
            "--config",
            up.config_with_secret().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
        ])
        .env("AGENT_AKID", "a")
        .env("AGENT_SECRET", "b")
        .env("AGENT_TOKEN", "c")
        .env("TOOLS_TOKEN", "d")
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--allow-unauthenticated") && stderr.contains("master_key"),
        "{stderr}"
    );
}

#[tokio::test]
async fn config_errors_stop_the_start_and_name_file_server_and_key() {
    let up = upstreams().await;
    let path = up.dir.join("bad.yaml");
    std::fs::write(
        &path,
        "mcp_servers:\n  weather:\n    url: https://example.com/mcp\n    auth_type: oauth\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .args(["gateway", "--config", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("weather") && stderr.contains("auth_type"),
        "{stderr}"
    );
    std::fs::write(&path, "mcp_servers:\n  weather:\n    url: https://example.com/mcp\n    auth_type: bearer_token\n    auth_value: os.environ/NOT_SET_ANYWHERE\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .args(["gateway", "--config", path.to_str().unwrap()])
        .env_remove("NOT_SET_ANYWHERE")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("NOT_SET_ANYWHERE") && stderr.contains("weather"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_a_call_in_flight_finish() {
    let up = upstreams().await;
    let mut gateway = Gateway::start(&up.config_with_secret(), &[]).await;
    let session = open(&gateway, "/mcp/agent", &[]).await;
    let url = format!("{}/mcp/agent", gateway.base);
    let call = {
        let (url, session) = (url.clone(), session.clone());
        tokio::spawn(async move {
            post(&url, &[("mcp-session-id", &session)], &rpc(1, "tools/call",
                json!({"name":"count","arguments":{"steps":2,"pause_ms":400},"_meta":{"progressToken":"t"}}))).await
        })
    };
    // Signal once the upstream has the call.
    for _ in 0..400 {
        if up.agent.stats.accepted() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gateway.signal("-TERM");
    let answer = tokio::time::timeout(LIMIT, call).await.unwrap().unwrap();
    assert_eq!(text(&answer), "counted to 2", "{answer:?}");
    let status = tokio::time::timeout(LIMIT, gateway.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", gateway.stderr());
}
