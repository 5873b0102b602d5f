use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use crate::server;
use crate::{Cli, credentials_env, initialize};

#[tokio::test]
async fn relays_a_whole_session_like_an_mcp_host() {
    let stand_in = server::start(false).await;
    let url = stand_in.url();
    let mut cli = Cli::proxy(
        &url,
        "bedrock-agentcore",
        &["--log-level", "debug"],
        &credentials_env(),
    );

    cli.send(&initialize(0)).await;
    let (reply, _) = cli.recv_id(0).await;
    assert_eq!(reply["result"]["serverInfo"]["name"], "rmcp", "{reply}");

    cli.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    cli.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await;
    let (reply, _) = cli.recv_id(1).await;
    let mut names: Vec<&str> = reply["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["add", "count", "echo"]);

    cli.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#).await;
    let (reply, _) = cli.recv_id(2).await;
    assert_eq!(reply["result"]["content"][0]["text"], "5", "{reply}");

    // Progress notifications stream to the host before the result, as they are sent.
    let started = Instant::now();
    cli.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"count","arguments":{"steps":3,"pause_ms":200},"_meta":{"progressToken":"tok-3"}}}"#).await;
    let mut progress = Vec::new();
    let result = loop {
        let message = cli.recv().await;
        if message["method"] == "notifications/progress" {
            progress.push((
                started.elapsed(),
                message["params"]["progress"].as_f64().unwrap(),
            ));
        } else if message["id"] == 3 {
            break (started.elapsed(), message);
        }
    };
    assert_eq!(
        result.1["result"]["content"][0]["text"], "counted to 3",
        "{}",
        result.1
    );
    let steps: Vec<f64> = progress.iter().map(|(_, p)| *p).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0]);
    assert!(
        progress[0].0 + Duration::from_millis(300) < result.0,
        "{progress:?} {:?}",
        result.0
    );

    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 0, "{stderr}");
    // Logs went to stderr, not stdout (every stdout line parsed as JSON above).
    assert!(stderr.contains("relaying stdio"), "{stderr}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        stand_in.stats.deletes(),
        1,
        "the session was not ended with DELETE"
    );
    assert_eq!(stand_in.stats.refused(), 0);
}

#[tokio::test]
async fn a_refused_signature_becomes_a_json_rpc_error_with_a_hint() {
    let stand_in = server::start(false).await;
    let url = stand_in.url();
    // Signed as aws-mcp, but the endpoint is bedrock-agentcore.
    let mut cli = Cli::proxy(&url, "aws-mcp", &[], &credentials_env());
    cli.send(&initialize(0)).await;
    let (reply, _) = cli.recv_id(0).await;
    let message = reply["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"));
    for needle in [
        "403",
        "InvalidSignatureException",
        "aws-mcp",
        "bedrock-agentcore",
        "us-east-1",
        "Hint: AWS expects service `bedrock-agentcore`",
        "--service bedrock-agentcore",
        "`EnvironmentVariable` provider",
    ] {
        assert!(message.contains(needle), "{needle} missing from {message}");
    }
    assert_eq!(
        reply["error"]["data"]["aws_error_type"],
        "InvalidSignatureException"
    );
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn https_is_required_except_for_loopback_and_reserved_headers_are_refused() {
    let cli = Cli::spawn(
        &["proxy", "http://aws-mcp.us-east-1.api.aws/mcp"],
        &credentials_env(),
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2);
    assert!(stderr.contains("use https://"), "{stderr}");

    let cli = Cli::spawn(
        &[
            "proxy",
            "https://aws-mcp.us-east-1.api.aws/mcp",
            "--header",
            "Authorization=Bearer x",
        ],
        &credentials_env(),
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot set `authorization`"), "{stderr}");

    let cli = Cli::spawn(
        &["proxy", "https://mcp.example.com/mcp"],
        &credentials_env(),
    );
    let (code, stderr) = cli.finish().await;
    assert_eq!(code, 2);
    assert!(stderr.contains("--service"), "{stderr}");
}

/// 429 twice, then a valid initialize reply.
async fn throttling_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            let post = req.method() == http::Method::POST;
                            let _ = req.into_body().collect().await;
                            let response = if !post {
                                http::Response::builder()
                                    .status(405)
                                    .body(Full::new(Bytes::new()))
                            } else if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                                http::Response::builder()
                                    .status(429)
                                    .header("x-amzn-errortype", "ThrottlingException")
                                    .header("retry-after", "0")
                                    .body(Full::new(Bytes::from_static(
                                        br#"{"message":"Rate exceeded"}"#,
                                    )))
                            } else {
                                http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(br#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"throttled","version":"1"}}}"#)))
                            };
                            Ok::<_, Infallible>(response.unwrap())
                        }
                    },
                );
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}/mcp"), posts)
}

#[tokio::test]
async fn throttling_is_retried_with_retries_and_succeeds_when_the_endpoint_recovers() {
    let (url, posts) = throttling_endpoint().await;
    let mut cli = Cli::proxy(&url, "aws-mcp", &["--retries", "3"], &credentials_env());
    cli.send(&initialize(0)).await;
    let (reply, _) = cli.recv_id(0).await;
    assert_eq!(
        reply["result"]["serverInfo"]["name"], "throttled",
        "{reply}"
    );
    assert_eq!(posts.load(Ordering::SeqCst), 3);
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);

    // Without retries the host sees the throttling, with a hint.
    let (url, _) = throttling_endpoint().await;
    let mut cli = Cli::proxy(&url, "aws-mcp", &["--retries", "0"], &credentials_env());
    let message = cli.initialize_error().await;
    assert!(
        message.contains("429") && message.contains("throttling"),
        "{message}"
    );
    let (code, _) = cli.finish().await;
    assert_eq!(code, 0);
}
