//! The cases of issue #13, each through the real binary.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::bedrock::{self, Turn, tool_use};
use crate::mcp::{self, Guard, LONG_NAME};
use crate::{MODEL, ask, ask_with_env, offered_tools, result_for};

/// `--mcp URL` for a SigV4 stand-in, with the flags its loopback URL needs.
fn signed_mcp(server: &mcp::McpStandIn) -> Vec<String> {
    vec![
        "--mcp".into(),
        server.url(),
        "--service".into(),
        "bedrock-agentcore".into(),
        "--region".into(),
        crate::REGION.into(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn tool_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("tool call:"))
        .collect()
}

#[tokio::test]
async fn two_tool_uses_in_one_turn_run_concurrently_and_are_matched_by_tool_use_id() {
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    // `wait_for_release`, the first toolUse, can finish only after `release`, the
    // second, has run: dispatched one after the other, the first would time out
    // and the second never run; together, both succeed.
    let bedrock = bedrock::scripted(vec![
        Turn::new(
            vec![
                json!({"text": "Let me check."}),
                tool_use("tu-wait", "wait_for_release", json!({})),
                tool_use("tu-release", "release", json!({})),
            ],
            "tool_use",
        ),
        Turn::text("All done."),
    ])
    .await;
    let mut args = signed_mcp(&server);
    args.extend([
        "--tool-timeout".into(),
        "20".into(),
        "What happened?".into(),
    ]);
    let run = ask(&bedrock, &strs(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "All done.\n");

    let received = bedrock.received();
    assert_eq!(received.len(), 2);
    assert!(
        received[0].path.ends_with("/converse"),
        "{}",
        received[0].path
    );
    assert!(received[0].path.contains("/model/"), "{}", received[0].path);
    let offered = offered_tools(&received[0].body);
    assert!(
        offered.contains(&"wait_for_release".to_owned()),
        "{offered:?}"
    );
    let spec = &received[0].body["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(spec["inputSchema"]["json"]["type"], "object", "{spec}");
    assert!(spec["description"].is_string(), "{spec}");

    let second = &received[1].body;
    assert_eq!(
        result_for(second, "tu-wait"),
        ("success".to_owned(), "released".to_owned())
    );
    assert_eq!(
        result_for(second, "tu-release"),
        ("success".to_owned(), "done".to_owned())
    );
    // The assistant turn went back as it was, before the results.
    assert_eq!(second["messages"][1]["role"], "assistant");

    // One line per call, in the order the calls ended (which the two responses'
    // race decides, so it is not asserted).
    let lines = tool_lines(&run.stderr);
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert!(
        lines.iter().any(|l| l.contains("tool=release ")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("tool=wait_for_release ")),
        "{lines:?}"
    );
    for line in lines {
        assert!(
            line.contains(&format!("server={}", server.name())),
            "{line}"
        );
        assert!(
            line.contains("status=ok") && line.contains("duration="),
            "{line}"
        );
    }
    // Every request was signed and verified: the SDK's for `bedrock`, ours for
    // `bedrock-agentcore`.
    assert_eq!(bedrock.refused(), 0);
    assert_eq!(server.refused(), 0);
}

#[tokio::test]
async fn a_tool_that_reports_is_error_becomes_an_error_result() {
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    let bedrock = bedrock::scripted(vec![
        Turn::new(
            vec![
                tool_use("tu-fail", "fail", json!({})),
                tool_use("tu-chart", "chart", json!({})),
            ],
            "tool_use",
        ),
        Turn::text("The tool failed."),
    ])
    .await;
    let mut args = signed_mcp(&server);
    args.push("Try it".into());
    let run = ask(&bedrock, &strs(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    let second = &bedrock.received()[1].body;
    assert_eq!(
        result_for(second, "tu-fail"),
        ("error".to_owned(), "boom: the tool failed".to_owned())
    );
    // Text, image and structured content in their Bedrock forms.
    let chart = crate::tool_results(second)
        .into_iter()
        .find(|(id, _, _)| id == "tu-chart")
        .unwrap();
    assert_eq!(chart.1, "success");
    assert_eq!(chart.2[0]["text"], "a chart");
    assert_eq!(chart.2[1]["image"]["format"], "png", "{}", chart.2);
    assert_eq!(chart.2[1]["image"]["source"]["bytes"], "iVBORw0KGgo=");
    assert_eq!(chart.2[2]["json"], json!({"points": [1, 2, 3]}));
    let lines = tool_lines(&run.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("tool=fail") && l.contains("status=error")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_tool_that_times_out_becomes_an_error_result_and_the_loop_goes_on() {
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    let bedrock = bedrock::scripted(vec![
        Turn::new(
            vec![
                tool_use("tu-hang", "hang", json!({})),
                tool_use("tu-search", "search", json!({"query": "rust"})),
            ],
            "tool_use",
        ),
        Turn::text("One tool was too slow."),
    ])
    .await;
    let mut args = signed_mcp(&server);
    // Long enough for `search` on a busy machine; `hang` takes all of it.
    args.extend(["--tool-timeout".into(), "3".into(), "Go".into()]);
    let run = ask(&bedrock, &strs(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "One tool was too slow.\n");
    let second = &bedrock.received()[1].body;
    let (status, text) = result_for(second, "tu-hang");
    assert_eq!(status, "error");
    assert!(text.contains("did not answer within 3.000s"), "{text}");
    assert!(
        text.contains("`hang`") && text.contains(&server.name()),
        "{text}"
    );
    assert_eq!(
        result_for(second, "tu-search"),
        ("success".to_owned(), "alpha: results for rust".to_owned())
    );
    assert!(
        tool_lines(&run.stderr)
            .iter()
            .any(|l| l.contains("tool=hang") && l.contains("status=timeout")),
        "{}",
        run.stderr
    );
}

// Multi-threaded: the script waits (`block_in_place`) for the listener to close
// while another worker drops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_server_that_goes_down_becomes_an_error_result_naming_it() {
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    let kill = server.kill_switch();
    let addr = server.addr;
    // The tools were listed; the server goes down as the model answers.
    let bedrock = bedrock::start(Arc::new(move |n, _: &Value| {
        if n == 0 {
            kill.abort();
            // A bounded wait until the port refuses connections, with this
            // worker's queue handed to another thread so the abort can run.
            tokio::task::block_in_place(|| {
                let pause = std::time::Duration::from_millis(10);
                for _ in 0..500 {
                    if std::net::TcpStream::connect_timeout(&addr, pause).is_err() {
                        break;
                    }
                    std::thread::sleep(pause);
                }
            });
            Turn::new(
                vec![tool_use("tu-search", "search", json!({"query": "x"}))],
                "tool_use",
            )
        } else {
            Turn::text("The server is down.")
        }
    }))
    .await;
    let mut args = signed_mcp(&server);
    args.push("Search".into());
    let run = ask(&bedrock, &strs(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    let (status, text) = result_for(&bedrock.received()[1].body, "tu-search");
    assert_eq!(status, "error");
    assert!(
        text.contains(&format!(
            "the MCP server `{}` failed to run `search`",
            server.name()
        )),
        "{text}"
    );
    let lines = tool_lines(&run.stderr);
    assert!(lines[0].contains("status=failed ("), "{lines:?}");
    assert!(lines[0].contains("Connection refused"), "{lines:?}");
    // rmcp's transport type name is left out of the message.
    assert!(!lines[0].contains("WorkerTransport"), "{lines:?}");
    // The failure is logged with its source.
    assert!(run.stderr.contains("source=\"mcp\""), "{}", run.stderr);
}

#[tokio::test]
async fn an_mcp_server_that_is_down_at_start_fails_naming_it() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let bedrock = bedrock::scripted(vec![Turn::text("unused")]).await;
    let url = format!("http://{addr}/mcp");
    let run = ask(
        &bedrock,
        &[
            "--mcp",
            &url,
            "--service",
            "bedrock-agentcore",
            "--region",
            "us-east-1",
            "Hi",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("MCP server `{addr}`: cannot connect")),
        "{}",
        run.stderr
    );
    assert!(bedrock.received().is_empty());
}

#[tokio::test]
async fn tool_names_that_break_bedrock_rules_or_collide_are_mapped_and_mapped_back() {
    let alpha = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    let beta = mcp::start(mcp::second(), Guard::Bearer("beta-token-0001")).await;
    // Both servers come from one config file: alpha signed with keys from the
    // environment, beta with a bearer token.
    let config = format!(
        r#"
model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/{MODEL}
mcp_servers:
  alpha:
    url: {}
    transport: http
    auth_type: aws_sigv4
    aws_region_name: us-east-1
    aws_access_key_id: os.environ/ALPHA_KEY_ID
    aws_secret_access_key: os.environ/ALPHA_SECRET
  beta:
    url: {}
    auth_type: bearer_token
    auth_value: os.environ/BETA_TOKEN
"#,
        alpha.url(),
        beta.url()
    );
    let path =
        std::env::temp_dir().join(format!("mcp-sigv4-ask-names-{}.yaml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let bedrock = bedrock::start(Arc::new(|n, request: &Value| {
        if n > 0 {
            return Turn::text("Mapped.");
        }
        let offered = offered_tools(request);
        let long = offered
            .iter()
            .find(|name| name.starts_with("a_tool_name_that_goes_on"))
            .expect("the long name is offered")
            .clone();
        Turn::new(
            vec![
                tool_use("tu-beta", "beta_search", json!({"query": "q"})),
                tool_use("tu-alpha", "alpha_search", json!({"query": "q"})),
                tool_use("tu-weather", "get_weather", json!({"city": "Paris"})),
                tool_use("tu-docs", "search_docs", json!({"query": "sigv4"})),
                tool_use("tu-long", &long, json!({})),
            ],
            "tool_use",
        )
    }))
    .await;
    let run = ask_with_env(
        &bedrock,
        &["--config", path.to_str().unwrap(), "Map"],
        &[
            ("ALPHA_KEY_ID", crate::ACCESS_KEY),
            ("ALPHA_SECRET", crate::SECRET_KEY),
            ("BETA_TOKEN", "beta-token-0001"),
        ],
    )
    .await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{run:?}");

    let received = bedrock.received();
    let offered = offered_tools(&received[0].body);
    let valid = |n: &str| {
        (1..=64).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    assert!(offered.iter().all(|n| valid(n)), "{offered:?}");
    let unique: std::collections::HashSet<_> = offered.iter().collect();
    assert_eq!(unique.len(), offered.len(), "{offered:?}");
    for name in [
        "alpha_search",
        "beta_search",
        "get_weather",
        "search_docs",
        "fail",
    ] {
        assert!(
            offered.contains(&name.to_owned()),
            "{name} not in {offered:?}"
        );
    }
    assert!(!offered.contains(&LONG_NAME.to_owned()));

    let second = &received[1].body;
    let ok = |text: &str| ("success".to_owned(), text.to_owned());
    assert_eq!(result_for(second, "tu-beta"), ok("beta: results for q"));
    assert_eq!(result_for(second, "tu-alpha"), ok("alpha: results for q"));
    assert_eq!(result_for(second, "tu-weather"), ok("Paris: sunny"));
    assert_eq!(result_for(second, "tu-docs"), ok("docs about sigv4"));
    assert_eq!(result_for(second, "tu-long"), ok("long tool ok"));
    // Activity lines name the server and the tool's own name.
    let lines = tool_lines(&run.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("server=alpha tool=get.weather")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("server=beta tool=search ")),
        "{lines:?}"
    );
    assert_eq!(alpha.refused() + beta.refused() + bedrock.refused(), 0);
}

#[tokio::test]
async fn max_tokens_says_the_answer_was_cut_and_exits_3_unless_allowed() {
    let cut = || Turn::new(vec![json!({"text": "The answer is"})], "max_tokens");
    let bedrock = bedrock::scripted(vec![cut(), cut()]).await;
    let run = ask(&bedrock, &["How long?"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stdout, "The answer is\n");
    assert!(run.stderr.contains("the answer was cut"), "{}", run.stderr);
    assert!(run.stderr.contains("max_tokens"), "{}", run.stderr);

    let run = ask(&bedrock, &["--allow-truncated", "How long?"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("the answer was cut"), "{}", run.stderr);
}

#[tokio::test]
async fn max_turns_bounds_the_loop() {
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    // A model that always wants another search.
    let bedrock = bedrock::start(Arc::new(|n, _: &Value| {
        Turn::new(
            vec![tool_use(
                &format!("tu-{n}"),
                "search",
                json!({"query": "again"}),
            )],
            "tool_use",
        )
    }))
    .await;
    let mut args = signed_mcp(&server);
    args.extend(["--max-turns".into(), "2".into(), "Loop".into()]);
    let run = ask(&bedrock, &strs(&args)).await;
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(bedrock.received().len(), 2);
    assert_eq!(tool_lines(&run.stderr).len(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("stopped after 2 turns"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn other_stop_reasons_have_their_own_message_and_exit_code() {
    for (reason, code, needle) in [
        ("guardrail_intervened", 4, "guardrail intervened"),
        ("content_filtered", 5, "content filters"),
        ("model_context_window_exceeded", 6, "context window"),
        ("malformed_tool_use", 1, "malformed_tool_use"),
    ] {
        let bedrock =
            bedrock::scripted(vec![Turn::new(vec![json!({"text": "..."})], reason)]).await;
        let run = ask(&bedrock, &["Hi"]).await;
        assert_eq!(run.code, code, "{reason}: {run:?}");
        assert!(run.stderr.contains(needle), "{reason}: {}", run.stderr);
    }
}

#[tokio::test]
async fn streaming_prints_text_as_it_arrives_and_gathers_each_tool_use() {
    let server = mcp::start(mcp::toolbox("alpha"), Guard::SigV4).await;
    let bedrock = bedrock::scripted(vec![
        Turn::new(
            vec![
                json!({"text": "Checking the weather. "}),
                tool_use(
                    "tu-weather",
                    "get_weather",
                    json!({"city": "Paris", "units": "metric"}),
                ),
            ],
            "tool_use",
        ),
        Turn::text("Sunny in Paris."),
    ])
    .await;
    let mut args = signed_mcp(&server);
    args.extend(["--stream".into(), "Weather?".into()]);
    let run = ask(&bedrock, &strs(&args)).await;
    assert_eq!(run.code, 0, "{run:?}");
    // Both turns' text, as it streamed, then a newline.
    assert_eq!(run.stdout, "Checking the weather. Sunny in Paris.\n");
    let received = bedrock.received();
    assert!(
        received
            .iter()
            .all(|r| r.path.ends_with("/converse-stream"))
    );
    let second = &received[1].body;
    // The tool input arrived in pieces and went back whole.
    let assistant = &second["messages"][1]["content"];
    assert_eq!(assistant[0]["text"], "Checking the weather. ");
    assert_eq!(
        assistant[1]["toolUse"]["input"],
        json!({"city": "Paris", "units": "metric"})
    );
    assert_eq!(
        result_for(second, "tu-weather"),
        ("success".to_owned(), "Paris: sunny".to_owned())
    );
    assert_eq!(bedrock.refused(), 0);
}

#[tokio::test]
async fn bedrock_failures_name_bedrock() {
    // The stand-in knows other keys: the SDK's signature is refused.
    let bedrock = bedrock::scripted(vec![Turn::text("unused")]).await;
    let run = ask_with_env(&bedrock, &["Hi"], &[("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN")]).await;
    assert_eq!(run.code, 1, "{run:?}");
    // Printed once, as AWS's code and message (not the SDK's Debug form).
    assert_eq!(
        run.stderr.trim(),
        format!(
            "mcp-sigv4: Bedrock: Converse on model `{}` failed: UnrecognizedClientException: The security token included in the request is invalid.",
            crate::MODEL
        ),
        "{}",
        run.stderr
    );
    // The log event names the side too, at debug level.
    let run = ask_with_env(
        &bedrock,
        &["--log-level", "debug", "Hi"],
        &[("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN")],
    )
    .await;
    assert!(run.stderr.contains("source=\"bedrock\""), "{}", run.stderr);
    assert!(!run.stderr.contains(crate::SECRET_KEY));
}

/// An OAuth2 token endpoint on 127.0.0.1 that issues `token` for an hour to
/// the client secret `secret`, and counts what it issued.
async fn token_endpoint(
    token: &'static str,
    secret: &'static str,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let issued = Arc::new(AtomicUsize::new(0));
    let count = issued.clone();
    let (addr, _task) =
        crate::serve::answer(move |request: http::Request<hyper::body::Incoming>| {
            let count = count.clone();
            async move {
                let client = crate::client_secret_basic::credentials(request.headers());
                let (status, reply) = if client.is_some_and(|(_, s)| s == secret) {
                    count.fetch_add(1, Ordering::SeqCst);
                    let reply =
                        json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600});
                    (200, reply)
                } else {
                    (401, json!({"error": "invalid_client"}))
                };
                http::Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(
                        reply.to_string(),
                    )))
                    .unwrap()
            }
        })
        .await;
    (format!("http://{addr}/oauth2/token"), issued)
}

#[tokio::test]
async fn ask_config_reaches_an_oauth2_client_credentials_server_with_one_token() {
    const TOKEN: &str = "m2m-oauth-token-EXAMPLE";
    const SECRET: &str = "m2m-client-secret-EXAMPLE";
    let server = mcp::start(mcp::toolbox("m2m"), Guard::Bearer(TOKEN)).await;
    let (token_url, issued) = token_endpoint(TOKEN, SECRET).await;
    let config = format!(
        r#"
mcp_servers:
  m2m:
    url: {}
    auth_type: oauth2
    oauth2_flow: client_credentials
    token_url: {token_url}
    client_id: ask-client
    client_secret: os.environ/M2M_SECRET
    scopes: ["mcp/invoke"]
"#,
        server.url()
    );
    let path =
        std::env::temp_dir().join(format!("mcp-sigv4-ask-oauth2-{}.yaml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let bedrock = bedrock::start(Arc::new(|n, request: &Value| {
        if n > 0 {
            return Turn::text("Found.");
        }
        let search = offered_tools(request)
            .into_iter()
            .find(|name| name.ends_with("search"))
            .expect("the search tool is offered");
        Turn::new(
            vec![tool_use("tu-1", &search, json!({"query": "tokens"}))],
            "tool_use",
        )
    }))
    .await;
    let run = ask_with_env(
        &bedrock,
        &[
            "--config",
            path.to_str().unwrap(),
            "--log-level",
            "debug",
            "Search",
        ],
        &[("M2M_SECRET", SECRET)],
    )
    .await;
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.code, 0, "{run:?}");
    let received = bedrock.received();
    assert_eq!(
        result_for(&received[1].body, "tu-1"),
        ("success".to_owned(), "m2m: results for tokens".to_owned())
    );
    // One token for the listing and the call, and no secret or token in the log.
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        !run.stderr.contains(SECRET) && !run.stderr.contains(TOKEN),
        "{}",
        run.stderr
    );
}
