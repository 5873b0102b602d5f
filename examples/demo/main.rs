//! The main job: sign real MCP traffic against a local endpoint that verifies
//! SigV4, with no AWS account and no network.
//!
//! ```sh
//! cargo run --example demo --all-features
//! # against a real endpoint, with the default credential chain:
//! cargo run --example demo --all-features -- --endpoint https://aws-mcp.us-east-1.api.aws/mcp
//! # only the local stand-ins, on fixed ports, for your own MCP host and `ask`:
//! cargo run --example demo --all-features -- --serve --port 8080 [--converse-port 8081] [--json]
//! ```
//!
//! Exits 0 only if every step succeeded.

mod bedrock;
mod server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ProgressNotificationParam, Request, ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::{ClientHandler, RoleClient, ServiceExt, object};
use tower::ServiceExt as _;
use tower_sigv4::rmcp::TransportBuilder;
use tower_sigv4::{ServiceName, SigV4Layer};

/// Progress notifications and when they arrived.
#[derive(Clone, Default)]
struct Progress(Arc<Mutex<Vec<(Instant, f64)>>>);

impl ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _: NotificationContext<RoleClient>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((Instant::now(), params.progress));
    }
}

struct Steps {
    failed: Vec<String>,
}

impl Steps {
    fn check(&mut self, name: &str, ok: bool, detail: impl std::fmt::Display) {
        let mark = if ok { "ok  " } else { "FAIL" };
        println!("[{mark}] {name}: {detail}");
        if !ok {
            self.failed.push(name.to_owned());
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    if args.iter().any(|a| a == "--serve") {
        let port = |name: &str| match flag(name).map(|p| p.parse::<u16>()) {
            None => Ok(0),
            Some(Ok(port)) => Ok(port),
            Some(Err(_)) => Err(format!("{name} takes a port number from 0 to 65535")),
        };
        return match (port("--port"), port("--converse-port")) {
            (Ok(mcp), Ok(converse)) => {
                serve(mcp, converse, args.iter().any(|a| a == "--json")).await
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("{e}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let result = match flag("--endpoint") {
        Some(endpoint) => remote(&endpoint, flag("--service"), flag("--region")).await,
        None => local().await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--serve [--port N] [--converse-port N] [--json]`: run only the stand-ins
/// (each on a free port unless a flag names one; the MCP server answering JSON
/// instead of SSE with `--json`), print their URLs, the credentials they know, a
/// host's JSON and an `ask` command line, and serve until Ctrl-C, so that MCP
/// hosts, proxies and `ask` can be pointed at them.
async fn serve(port: u16, converse_port: u16, json_response: bool) -> std::process::ExitCode {
    let stand_in = match server::start_on(port, json_response).await {
        Ok(stand_in) => stand_in,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}; choose another --port");
            return std::process::ExitCode::from(2);
        }
    };
    let signer = bedrock::Signer {
        region: server::REGION,
        access_key: server::ACCESS_KEY,
        key: tower_sigv4::verify::VerifyingKey::new(server::SECRET_KEY)
            .with_session_token(server::SESSION_TOKEN),
    };
    let converse = match bedrock::start_on(converse_port, bedrock::calls_the_tools(), signer).await
    {
        Ok(converse) => converse,
        Err(e) => {
            eprintln!(
                "cannot listen on 127.0.0.1:{converse_port}: {e}; choose another --converse-port"
            );
            return std::process::ExitCode::from(2);
        }
    };
    // Scripts read the URL and the three variables from stdout, in this order.
    println!("{}", stand_in.url());
    println!("AWS_ACCESS_KEY_ID={}", server::ACCESS_KEY);
    println!("AWS_SECRET_ACCESS_KEY={}", server::SECRET_KEY);
    println!("AWS_SESSION_TOKEN={}", server::SESSION_TOKEN);
    eprintln!("{}", server::verifies());
    let program = McpSigv4::find();
    println!("\n{}", program.said());
    println!("\n{}", host_json(&stand_in.url(), &program.path));
    println!(
        "\nA scripted Bedrock Converse endpoint at {} (verifies SigV4 for service `bedrock`, same credentials): \
         its model calls the echo and add tools, then answers. Try `ask` with it:\n{}",
        converse.url(),
        server::AskCommand::new(&stand_in.url(), &converse.url())
            .program(&program.path)
            .shell_line()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}

/// The `mcp-sigv4` the printed lines run: the one this checkout's build made
/// beside this example (`cargo test --workspace` builds it), by its absolute
/// path, so that nothing needs installing; else the one on the PATH.
struct McpSigv4 {
    /// What the lines run: an absolute path, or `mcp-sigv4`.
    path: String,
    /// Whether `path` names a file that is there now.
    built: bool,
}

impl McpSigv4 {
    fn find() -> Self {
        // This example runs from target/<profile>/examples/; cargo writes the
        // workspace's binaries to target/<profile>/.
        let beside = std::env::current_exe().ok().and_then(|exe| {
            let profile = exe.parent()?.parent()?;
            Some(profile.join(format!("mcp-sigv4{}", std::env::consts::EXE_SUFFIX)))
        });
        let on_path = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                dir.join(format!("mcp-sigv4{}", std::env::consts::EXE_SUFFIX))
                    .is_file()
            })
        });
        match beside {
            Some(beside) if beside.is_file() || !on_path => Self {
                built: beside.is_file(),
                path: beside.display().to_string(),
            },
            _ => Self {
                path: "mcp-sigv4".to_owned(),
                built: true,
            },
        }
    }

    /// Which `mcp-sigv4` the lines below run, and how to build it if it is
    /// not there yet.
    fn said(&self) -> String {
        if self.path == "mcp-sigv4" {
            "The lines below run `mcp-sigv4` from your PATH.".to_owned()
        } else if self.built {
            format!(
                "The lines below run this checkout's mcp-sigv4, nothing to install:\n  {}\n\
                 (to type `mcp-sigv4` instead: export PATH=\"{}:$PATH\")",
                self.path,
                std::path::Path::new(&self.path)
                    .parent()
                    .map(|dir| dir.display().to_string())
                    .unwrap_or_default()
            )
        } else {
            format!(
                "mcp-sigv4 is not built yet; the lines below run it from\n  {}\n\
                 which `cargo test --workspace --all-features` (the README's second command) \
                 or `cargo build -p mcp-sigv4` writes; `cargo install --locked --path mcp-sigv4` \
                 puts it on your PATH instead",
                self.path
            )
        }
    }
}

/// An MCP host's configuration for the stand-in, ready to paste: through
/// `program` (this checkout's `mcp-sigv4`, or the one on the PATH), and through
/// `uvx` (the PyPI package).
fn host_json(url: &str, program: &str) -> String {
    let proxy = [
        "proxy",
        url,
        "--service",
        "bedrock-agentcore",
        "--region",
        server::REGION,
    ];
    let args =
        |prefix: Option<&'static str>| -> Vec<&str> { prefix.into_iter().chain(proxy).collect() };
    let env: serde_json::Map<String, serde_json::Value> = server::env()
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.into()))
        .collect();
    let config = serde_json::json!({ "mcpServers": {
        "stand-in": { "command": program, "args": args(None), "env": env },
        "stand-in-uvx": { "command": "uvx", "args": args(Some("mcp-sigv4")), "env": env },
    }});
    let json = serde_json::to_string_pretty(&config).unwrap_or_default();
    format!("An MCP host's configuration for it (keep one of the two):\n{json}")
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

async fn local() -> Result<(), String> {
    let mut steps = Steps { failed: Vec::new() };
    let stand_in = server::start(false).await;
    let url = stand_in.url();
    println!(
        "A local stand-in for an AgentCore Runtime at\n  {url}\n{}\n",
        server::verifies()
    );

    // 1. An rmcp client, every request signed for bedrock-agentcore / us-east-1.
    let transport = TransportBuilder::new(url.as_str())
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region(server::REGION)
        .credentials(server::credentials())
        .build()
        .map_err(|e| e.to_string())?;
    let progress = Progress::default();
    let client = match progress.clone().serve(transport).await {
        Ok(client) => client,
        Err(e) => return Err(format!("initialize failed: {e}")),
    };
    let info = client
        .peer_info()
        .and_then(|i| i.server_info.as_ref().map(|s| s.name.clone()))
        .unwrap_or_default();
    steps.check("initialize (signed)", true, format!("server {info}"));

    match client.list_all_tools().await {
        Ok(tools) => {
            let mut names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
            names.sort();
            steps.check(
                "tools/list",
                names == ["add", "count", "echo"],
                names.join(", "),
            );
        }
        Err(e) => steps.check("tools/list", false, e),
    }
    match client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(object!({ "text": "héllo, AgentCore ✓" })),
        )
        .await
    {
        Ok(r) => steps.check(
            "tools/call echo",
            text(&r) == "héllo, AgentCore ✓",
            text(&r),
        ),
        Err(e) => steps.check("tools/call echo", false, e),
    }
    match client
        .call_tool(CallToolRequestParams::new("add").with_arguments(object!({ "a": 40, "b": 2 })))
        .await
    {
        Ok(r) => steps.check("tools/call add", text(&r) == "42", text(&r)),
        Err(e) => steps.check("tools/call add", false, e),
    }

    // 2. A tool that streams progress over SSE before its result.
    let started = Instant::now();
    let call = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("count")
            .with_arguments(object!({ "steps": 3, "pause_ms": 200 })),
    ));
    let outcome = match client
        .send_cancellable_request(call, PeerRequestOptions::no_options())
        .await
    {
        Ok(handle) => handle.await_response().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let done = started.elapsed();
    // rmcp hands each notification to the handler on a task of its own: on a
    // busy machine the last one can be recorded just after the result is.
    for _ in 0..100 {
        if progress.0.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen: Vec<(Duration, f64)> = progress
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(t, p)| (*t - started, *p))
        .collect();
    // Streamed, not buffered: the notifications arrive as they are sent, about
    // 200 ms apart, the first well before the result.
    let streamed = seen.len() == 3
        && seen[0].0 + Duration::from_millis(300) < done
        && seen
            .windows(2)
            .all(|w| w[1].0 >= w[0].0 + Duration::from_millis(100));
    let arrivals: Vec<String> = seen
        .iter()
        .map(|(at, p)| format!("{p} at {} ms", at.as_millis()))
        .collect();
    match outcome {
        Ok(ServerResult::CallToolResult(r)) => steps.check(
            "tools/call count, progress streamed over SSE",
            streamed && text(&r) == "counted to 3",
            format!("{}; result at {} ms", arrivals.join(", "), done.as_millis()),
        ),
        other => steps.check("tools/call count", false, format!("{other:?}")),
    }

    // 3. What the endpoint refuses.
    let raw = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = Bytes::from_static(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
    let post = || {
        http::Request::post(url.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Full::new(body.clone()))
            .unwrap()
    };
    let refused = |status: u16, text: &str, kind: &str| status == 403 && text.contains(kind);

    let (status, text_) = exchange(&raw, post()).await;
    steps.check(
        "unsigned request refused",
        refused(status, &text_, "MissingAuthenticationTokenException"),
        format!("{status} {text_}"),
    );

    let signer = SigV4Layer::builder()
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region(server::REGION)
        .credentials(server::credentials())
        .build_signer()
        .map_err(|e| e.to_string())?;
    let (mut parts, _) = post().into_parts();
    signer
        .sign(&mut parts, &body)
        .await
        .map_err(|e| e.to_string())?;
    let tampered = http::Request::from_parts(
        parts,
        Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#,
        )),
    );
    let (status, text_) = exchange(&raw, tampered).await;
    steps.check(
        "tampered request refused",
        refused(status, &text_, "does not match the signature"),
        format!("{status} {text_}"),
    );

    let wrong = SigV4Layer::builder()
        .service(ServiceName::AWS_MCP)
        .region(server::REGION)
        .credentials(server::credentials())
        .build_signer()
        .map_err(|e| e.to_string())?;
    let (mut parts, _) = post().into_parts();
    wrong
        .sign(&mut parts, &body)
        .await
        .map_err(|e| e.to_string())?;
    let (status, text_) = exchange(
        &raw,
        http::Request::from_parts(parts, Full::new(body.clone())),
    )
    .await;
    steps.check(
        "request signed for the wrong service refused",
        refused(status, &text_, "scoped to correct service"),
        format!("{status} {text_}"),
    );

    // 4. The signing overhead: the layer vs the same stack without it.
    let (signed_us, plain_us) = overhead(&signer).await;
    steps.check(
        if cfg!(debug_assertions) {
            "signing overhead per request (1 KiB tools/call, in-memory service, debug build)"
        } else {
            "signing overhead per request (1 KiB tools/call, in-memory service, release build)"
        },
        signed_us > 0.0,
        format!(
            "{:.1} µs with the layer, {:.1} µs without: {:.1} µs per request",
            signed_us,
            plain_us,
            signed_us - plain_us
        ),
    );

    // 5. End the session: rmcp sends DELETE.
    let _ = client.cancel().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    steps.check(
        "session ended (DELETE)",
        stand_in.stats.deletes() == 1,
        format!(
            "{} signed requests accepted, {} refused",
            stand_in.stats.accepted(),
            stand_in.stats.refused()
        ),
    );

    println!();
    if steps.failed.is_empty() {
        println!("All steps succeeded.");
        println!(
            "\nNext, point an MCP host or `mcp-sigv4 ask` at the same stand-ins, with no AWS account:\n  \
             cargo run --example demo --all-features -- --serve --port 8080 --converse-port 8081\n{}",
            McpSigv4::find().said()
        );
        Ok(())
    } else {
        Err(format!("failed steps: {}", steps.failed.join(", ")))
    }
}

async fn exchange(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> (u16, String) {
    match client.request(request).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Mean microseconds per request through the layer and without it, over an
/// in-memory inner service that answers at once.
async fn overhead(signer: &tower_sigv4::Signer) -> (f64, f64) {
    const N: u32 = 2_000;
    let body = Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(1024 - 88)
    ));
    let inner = tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
        Ok::<_, std::convert::Infallible>(http::Response::new(req.into_body()))
    });
    let layer = SigV4Layer::from_signer(signer.clone());
    let request = || {
        http::Request::post("https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/x/invocations?qualifier=DEFAULT")
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap()
    };
    let started = Instant::now();
    for _ in 0..N {
        let service = tower::Layer::layer(&layer, inner);
        let _ = service.oneshot(request()).await;
    }
    let signed = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    let started = Instant::now();
    for _ in 0..N {
        let _ = inner.oneshot(request()).await;
    }
    let plain = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    (signed, plain)
}

/// Against a real endpoint: default credential chain, service and region inferred
/// unless given; list the tools.
async fn remote(
    endpoint: &str,
    service: Option<String>,
    region: Option<String>,
) -> Result<(), String> {
    let mut builder = TransportBuilder::new(endpoint);
    if let Some(service) = service {
        builder = builder.service(service);
    }
    if let Some(region) = region {
        builder = builder.region(region);
    }
    let transport = builder.build().map_err(|e| e.to_string())?;
    let client = ().serve(transport).await.map_err(|e| format!("initialize failed: {e}"))?;
    println!(
        "connected: {:?}",
        client.peer_info().and_then(|i| i.server_info.clone())
    );
    let tools = client.list_all_tools().await.map_err(|e| e.to_string())?;
    for tool in &tools {
        println!(
            "  {}: {}",
            tool.name,
            tool.description.as_deref().unwrap_or_default()
        );
    }
    let _ = client.cancel().await;
    Ok(())
}
