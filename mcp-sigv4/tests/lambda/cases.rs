//! Each case drives `mcp-sigv4 lambda` through the Runtime API with events of
//! the shapes AWS documents, and asserts the response shape, what the servers
//! saw and the log line.

use std::time::Duration;

use mcp_sigv4::lambda::names::function_name;
use serde_json::{Value, json};

use crate::era_server::{self, Kind};
use crate::runtime::{Posted, RuntimeApi};
use crate::{Function, LIMIT, TempDir, credentials, server, tools};

const DEADLINE: Duration = Duration::from_secs(20);

/// A function-details event, as in AWS's "Lambda input event from Amazon
/// Bedrock".
fn function_event(function: &str, parameters: &[(&str, &str, &str)]) -> Value {
    json!({
        "messageVersion": "1.0",
        "agent": {"name": "travel", "id": "AGENT12345", "alias": "TSTALIASID", "version": "DRAFT"},
        "inputText": "secret words of the user",
        "sessionId": "111122223333",
        "actionGroup": "mcp",
        "function": function,
        "parameters": parameters.iter().map(|(n, t, v)| json!({"name": n, "type": t, "value": v})).collect::<Vec<_>>(),
        "sessionAttributes": {"team": "blue"},
        "promptSessionAttributes": {"turn": "3"}
    })
}

/// An API-schema event: path parameters and a JSON request body.
fn api_event(path: &str, body: &[(&str, &str, &str)]) -> Value {
    json!({
        "messageVersion": "1.0",
        "agent": {"name": "travel", "id": "AGENT12345", "alias": "TSTALIASID", "version": "DRAFT"},
        "inputText": "secret words of the user",
        "sessionId": "111122223333",
        "actionGroup": "mcp",
        "apiPath": path,
        "httpMethod": "POST",
        "parameters": [],
        "requestBody": {"content": {"application/json": {"properties":
            body.iter().map(|(n, t, v)| json!({"name": n, "type": t, "value": v})).collect::<Vec<_>>()}}},
        "sessionAttributes": {},
        "promptSessionAttributes": {}
    })
}

/// The Runtime API and the function serving the one server at `url`
/// (`MCP_SERVER_URL`), with the stand-in's credentials; `name` names its
/// temporary directory.
async fn one_server(url: &str, name: &str) -> (RuntimeApi, Function) {
    let runtime = RuntimeApi::start().await;
    let function = Function::start(&runtime, &env(&single(url)), TempDir::new(name));
    (runtime, function)
}

/// Invoke `function` with `parameters` (a function-details event) and wait
/// for the function's answer.
async fn call(runtime: &RuntimeApi, function: &str, parameters: &[(&str, &str, &str)]) -> Posted {
    runtime
        .invoke(function_event(function, parameters), DEADLINE)
        .await
}

/// The parameters of the tool `typed`: `n`, `x`, `flag`, `tags` and `opts`,
/// with the types Bedrock would send for them.
fn typed(values: [&str; 5]) -> [(&str, &str, &str); 5] {
    let [n, x, flag, tags, opts] = values;
    [
        ("n", "integer", n),
        ("x", "number", x),
        ("flag", "boolean", flag),
        ("tags", "array", tags),
        ("opts", "string", opts),
    ]
}

fn text(response: &Value) -> &str {
    response["response"]["functionResponse"]["responseBody"]["TEXT"]["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no TEXT body in {response}"))
}

fn state(response: &Value) -> Option<&str> {
    response["response"]["functionResponse"]["responseState"].as_str()
}

fn single(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("MCP_SERVER_URL", url.to_owned()),
        ("MCP_SERVER_SERVICE", server::SERVICE.to_owned()),
        ("MCP_SERVER_REGION", server::REGION.to_owned()),
    ]
}

fn env<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    let mut env: Vec<(&str, &str)> = credentials();
    env.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
    env
}

/// A config file with `servers` (name, url), signed for the stand-ins.
fn config(dir: &TempDir, servers: &[(&str, &str)]) -> String {
    let mut yaml = String::from("mcp_servers:\n");
    for (name, url) in servers {
        yaml.push_str(&format!(
            "  \"{name}\":\n    url: \"{url}\"\n    auth_type: aws_sigv4\n    aws_region_name: {}\n    aws_service_name: {}\n",
            server::REGION,
            server::SERVICE
        ));
    }
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn both_event_shapes_reach_the_demo_stand_in_signed_and_answer_in_aws_shape() {
    let demo = server::start(false).await;
    let (runtime, function) = one_server(&demo.url(), "shapes").await;

    let add = call(
        &runtime,
        "add",
        &[("a", "integer", "40"), ("b", "integer", "2")],
    )
    .await;
    assert_eq!(add.kind, "response");
    assert_eq!(
        add.body,
        json!({"messageVersion": "1.0", "response": {"actionGroup": "mcp", "function": "add",
            "functionResponse": {"responseBody": {"TEXT": {"body": "42"}}}},
            "sessionAttributes": {"team": "blue"}, "promptSessionAttributes": {"turn": "3"}})
    );

    let echo = runtime
        .invoke(api_event("/echo", &[("text", "string", "hello")]), DEADLINE)
        .await;
    assert_eq!(
        echo.body["response"],
        json!({"actionGroup": "mcp", "apiPath": "/echo", "httpMethod": "POST", "httpStatusCode": 200,
            "responseBody": {"application/json": {"body": "hello"}}})
    );
    assert_eq!(demo.stats.tool_calls(), 2);
    assert_eq!(demo.stats.refused(), 0, "every request was signed right");

    // One log line per invocation, without the values or the user's words.
    let lines = function.invocations();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["function"], "add");
    assert_eq!(lines[0]["agent_id"], "AGENT12345");
    assert_eq!(lines[0]["outcome"], "ok");
    assert_eq!(lines[1]["tool"], "echo");
    let log = std::fs::read_to_string(&function.log).unwrap();
    assert!(
        !log.contains("hello") && !log.contains("secret words"),
        "{log}"
    );
    function.stop().await;
}

#[tokio::test]
async fn strings_are_converted_per_input_schema_and_errors_reprompt() {
    let tools = tools::start(false).await;
    let (runtime, function) = one_server(&tools.url(), "types").await;

    let converted = call(
        &runtime,
        "typed",
        &typed(["7", "2.5", "TRUE", "[\"a\",\"b\"]", "{\"k\":1}"]),
    )
    .await;
    assert_eq!(state(&converted.body), None, "{}", converted.body);
    let echoed: Value = serde_json::from_str(text(&converted.body)).unwrap();
    assert_eq!(
        echoed,
        json!({"n": 7, "x": 2.5, "flag": true, "tags": ["a", "b"], "opts": {"k": 1}})
    );

    // A value that does not convert: the model is told, and the tool not called.
    let refused = call(
        &runtime,
        "typed",
        &typed(["seven", "1", "true", "[]", "{}"]),
    )
    .await;
    assert_eq!(state(&refused.body), Some("REPROMPT"));
    assert!(
        text(&refused.body).contains("`n` must be an integer"),
        "{}",
        refused.body
    );

    // The tool's isError: REPROMPT with the tool's own words.
    let failed = call(&runtime, "fail", &[]).await;
    assert_eq!(state(&failed.body), Some("REPROMPT"));
    assert!(
        text(&failed.body).contains("no such city"),
        "{}",
        failed.body
    );
    // The same in an API-schema event: a 4xx.
    let failed = runtime.invoke(api_event("/fail", &[]), DEADLINE).await;
    assert_eq!(failed.body["response"]["httpStatusCode"], 400);

    // A body over the bound is cut, with a marker.
    let big = call(&runtime, "big", &[("bytes", "integer", "100000")]).await;
    let body = text(&big.body);
    assert!(
        body.len() <= mcp_sigv4::lambda::body::DEFAULT_MAX_BODY,
        "{}",
        body.len()
    );
    assert!(body.contains("[truncated by mcp-sigv4: the tool returned 100000 bytes"));

    // A function no server has: FAILURE, the schema is stale.
    let unknown = call(&runtime, "gone", &[]).await;
    assert_eq!(state(&unknown.body), Some("FAILURE"));
    assert!(text(&unknown.body).contains("agent-schema"));

    let outcomes: Vec<Value> = function
        .invocations()
        .iter()
        .map(|l| l["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            "ok",
            "reprompt",
            "reprompt",
            "reprompt",
            "ok",
            "unknown_function"
        ]
    );
    assert_eq!(tools.refused(), 0);
    function.stop().await;
}

#[tokio::test]
async fn a_dead_server_fails_the_call_and_a_bad_event_is_a_function_error() {
    // Bound then dropped: nothing listens on this port.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (runtime, function) = one_server(&format!("http://{dead}/mcp"), "dead").await;

    let reply = call(&runtime, "add", &[]).await;
    assert_eq!(state(&reply.body), Some("FAILURE"), "{}", reply.body);
    assert!(
        text(&reply.body).contains("could not be reached"),
        "{}",
        reply.body
    );
    let api = runtime.invoke(api_event("/add", &[]), DEADLINE).await;
    assert_eq!(api.body["response"]["httpStatusCode"], 502);
    let line = &function.invocations()[0];
    assert_eq!(line["outcome"], "unreachable");
    assert!(line["cause"].as_str().is_some_and(|c| !c.is_empty()));

    let bad = runtime.invoke(json!([1, 2, 3]), DEADLINE).await;
    assert_eq!(bad.kind, "error");
    assert_eq!(bad.body["errorType"], "InvalidEvent");
    function.stop().await;
}

#[tokio::test]
async fn a_deadline_shorter_than_the_tool_cuts_the_call_and_cancels_it() {
    // A 2025 server, whose cancellation signal is `notifications/cancelled`.
    let tools = tools::start(true).await;
    let (runtime, function) = one_server(&tools.url(), "deadline").await;
    // Open the session first, so the deadline falls on the call itself.
    let warm = call(&runtime, "fail", &[]).await;
    assert_eq!(state(&warm.body), Some("REPROMPT"));

    // 1.5 s left, 0.5 s margin: the call gets 1 s; the tool takes 15 s.
    let cut = runtime
        .invoke(
            function_event("slow", &[("ms", "integer", "15000")]),
            Duration::from_millis(1_500),
        )
        .await;
    assert_eq!(state(&cut.body), Some("FAILURE"), "{}", cut.body);
    assert!(
        text(&cut.body).contains("did not answer within 1.0s"),
        "{}",
        cut.body
    );
    assert_eq!(function.invocations()[1]["outcome"], "timeout");
    // The server is told (bounded wait for the notification to land).
    let told = async {
        while tools.cancelled() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LIMIT, told)
        .await
        .expect("notifications/cancelled reached the server");
    // The session is still good for the next invocation.
    let next = call(&runtime, "slow", &[("ms", "integer", "1")]).await;
    assert_eq!(text(&next.body), "done");
    function.stop().await;
}

/// A profile whose `credential_process` writes a line each time it runs.
fn metered_profile(dir: &TempDir) -> (String, std::path::PathBuf) {
    let count = dir.path().join("loads");
    let script = dir.path().join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho load >> {}\ncat <<EOF\n{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\", \"SessionToken\": \"{}\", \"Expiration\": \"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\"}}\nEOF\n",
            count.display(),
            server::ACCESS_KEY,
            server::SECRET_KEY,
            server::SESSION_TOKEN
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile metered]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    (config.display().to_string(), count)
}

#[tokio::test]
async fn warm_invocations_keep_the_session_and_load_credentials_once() {
    let demo = server::start(false).await;
    let runtime = RuntimeApi::start().await;
    let dir = TempDir::new("warm");
    let (aws_config, loads) = metered_profile(&dir);
    let mut vars = single(&demo.url());
    vars.push(("AWS_CONFIG_FILE", aws_config));
    vars.push(("AWS_PROFILE", "metered".to_owned()));
    // No keys in the environment: the profile is the only source.
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let function = Function::start(&runtime, &env, dir);

    for n in 0..3 {
        let answer = runtime
            .invoke(
                function_event(
                    "add",
                    &[("a", "integer", "1"), ("b", "integer", &n.to_string())],
                ),
                DEADLINE,
            )
            .await;
        assert_eq!(text(&answer.body), (1 + n).to_string(), "{}", answer.body);
    }
    let loaded = std::fs::read_to_string(&loads).unwrap_or_default();
    assert_eq!(
        loaded.lines().count(),
        1,
        "credentials loaded once for three invocations"
    );
    assert_eq!(demo.stats.refused(), 0);
    function.stop().await;
}

#[tokio::test]
async fn several_servers_a_mapped_name_and_a_2026_only_server() {
    let tools = tools::start(false).await;
    let modern = era_server::start(Kind::ModernOnly).await;
    let runtime = RuntimeApi::start().await;
    let dir = TempDir::new("several");
    let path = config(&dir, &[("tools", &tools.url()), ("modern", &modern.url())]);
    let vars = vec![("MCP_SIGV4_CONFIG", path)];
    let function = Function::start(&runtime, &env(&vars), dir);

    // `wetter-ä` breaks Bedrock's rule: its function name is mapped, and back.
    let mapped = function_name("modern", "wetter-ä", true);
    assert!(mapped.starts_with("modern-wetter_"), "{mapped}");
    let answer = call(&runtime, &mapped, &[]).await;
    assert_eq!(state(&answer.body), None, "{}", answer.body);
    assert_eq!(answer.body["response"]["function"], mapped);
    assert!(
        modern.seen_method("initialize").is_empty(),
        "2026-07-28 only: no initialize"
    );
    assert_eq!(modern.seen_method("tools/call").len(), 1);
    let seen = &modern.seen_method("tools/call")[0];
    assert!(
        seen.header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"))
    );

    let echo = call(&runtime, "modern-echo", &[("text", "string", "hi")]).await;
    assert_eq!(text(&echo.body), "hi");
    let typed = runtime
        .invoke(
            api_event("/tools-big", &[("bytes", "integer", "3")]),
            DEADLINE,
        )
        .await;
    assert_eq!(
        typed.body["response"]["responseBody"]["application/json"]["body"],
        "xxx"
    );
    let lines = function.invocations();
    assert_eq!(lines[0]["server"], "modern");
    assert_eq!(lines[0]["tool"], "wetter-ä");
    assert_eq!(lines[2]["server"], "tools");
    function.stop().await;
}

#[tokio::test]
async fn setup_errors_exit_2_with_what_to_set_and_never_panic() {
    let run = |env: Vec<(&'static str, String)>| async move {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"));
        command
            .arg("lambda")
            .env_clear()
            .envs(env)
            .kill_on_drop(true);
        let output = tokio::time::timeout(LIMIT, command.output())
            .await
            .expect("it exits")
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(vec![]).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("MCP_SIGV4_CONFIG") && stderr.contains("MCP_SERVER_URL"),
        "{stderr}"
    );

    // Plain http to a host that is not loopback: refused, as everywhere.
    let (code, stderr) = run(vec![(
        "MCP_SERVER_URL",
        "http://mcp.example.com/mcp".into(),
    )])
    .await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("MCP_SERVER_URL") && stderr.contains("https"),
        "{stderr}"
    );

    // Outside Lambda: the runtime's variables are missing, said plainly.
    let url = "http://127.0.0.1:9/mcp".to_owned();
    let (code, stderr) = run(vec![
        ("MCP_SERVER_URL", url),
        ("MCP_SERVER_SERVICE", "bedrock-agentcore".into()),
        ("MCP_SERVER_REGION", "us-east-1".into()),
    ])
    .await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_server_that_forgot_the_session_gets_a_new_one() {
    // A 2025 server: its sessions are the ones it can forget.
    let tools = tools::start(true).await;
    let (runtime, function) = one_server(&tools.url(), "forgot").await;
    let first = call(&runtime, "slow", &[("ms", "integer", "1")]).await;
    assert_eq!(text(&first.body), "done");
    assert_eq!(tools.initializes(), 1);

    tools.forget_sessions();
    let second = call(&runtime, "slow", &[("ms", "integer", "1")]).await;
    assert_eq!(state(&second.body), None, "{}", second.body);
    assert_eq!(text(&second.body), "done");
    assert_eq!(
        tools.initializes(),
        2,
        "a new session replaced the forgotten one"
    );
    function.stop().await;
}

#[tokio::test]
async fn a_refused_signature_is_a_failure_that_names_the_role() {
    let demo = server::start(false).await;
    let runtime = RuntimeApi::start().await;
    let mut vars = single(&demo.url());
    vars.push(("AWS_SECRET_ACCESS_KEY", "not-the-key".to_owned()));
    // The wrong key last, so it wins over the right one.
    let mut env = env(&vars);
    env.retain(|(k, v)| *k != "AWS_SECRET_ACCESS_KEY" || *v == "not-the-key");
    let function = Function::start(&runtime, &env, TempDir::new("refused"));

    let reply = call(&runtime, "echo", &[]).await;
    assert_eq!(state(&reply.body), Some("FAILURE"), "{}", reply.body);
    assert!(
        text(&reply.body).contains("HTTP 403"),
        "{} {:?}",
        reply.body,
        function.invocations()
    );
    assert!(
        text(&reply.body).contains("execution role"),
        "{}",
        reply.body
    );
    assert!(demo.stats.refused() > 0);
    function.stop().await;
}
