//! The first ten minutes, tried again (issue #29): every command's refusals in
//! flags and config keys, plain http refused for every endpoint the command
//! signs for before anything is opened, missing credentials in one line, and
//! the smaller stumbles (a misspelt required key, a raw runtime ARN, a YAML
//! tab, several unset variables, `help --help`, the examples of `explain --help`
//! and `sign --help`, `man completions`).

use std::process::{Output, Stdio};

use tokio::process::Command;

use crate::front_door::{config_file, in_order, run, text};
use crate::{LIMIT, binary, server};

/// A loopback listener that nothing should reach: it counts and closes every
/// connection. `127.1` is 127.0.0.1 to the resolver, but not a loopback
/// address to the plain-http rule: a URL naming it is refused, and were it
/// not, its request would arrive here (and fail at once, closed).
struct Untouched {
    port: u16,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Untouched {
    async fn bind() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        // Bounded: a few connections at most, and aborted with the test.
        let task = tokio::spawn(async move {
            for _ in 0..64 {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Self {
            port,
            connections,
            _task: tokio_util::task::AbortOnDropHandle::new(task),
        }
    }

    /// `http://127.1:PORT`.
    fn url(&self) -> String {
        format!("http://127.1:{}", self.port)
    }

    /// Connections so far.
    fn reached(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The demo's credentials and a region: nothing but the URL stops a request.
fn signing_env() -> Vec<(&'static str, &'static str)> {
    let mut env = crate::credentials_env();
    env.push(("AWS_REGION", "us-east-1"));
    env
}

/// A stand-in for EC2 instance metadata on 127.0.0.1 that refuses every
/// request, as IMDS does for a caller it does not serve: the credential and
/// region chains try it and warn. Its environment for the command, and the
/// task to keep while it runs.
async fn refusing_imds() -> (
    Vec<(&'static str, String)>,
    tokio_util::task::AbortOnDropHandle<()>,
) {
    let (addr, task) = crate::serve::answer(|_| async {
        http::Response::builder()
            .status(403)
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                b"request forbidden",
            )))
            .unwrap()
    })
    .await;
    let env = vec![
        ("AWS_EC2_METADATA_DISABLED", "false".to_owned()),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{addr}"),
        ),
    ];
    (env, tokio_util::task::AbortOnDropHandle::new(task))
}

/// The signing flags of an AgentCore server on a loopback URL.
const AGENTCORE: &[&str] = &["--service", "bedrock-agentcore", "--region", "us-east-1"];

/// `ask` with the MCP server `mcp` (its `flags` after it), a Bedrock endpoint
/// nothing listens on, and the question `hi`.
fn ask_with_mcp<'a>(mcp: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "ask",
        "--endpoint-url",
        "http://127.0.0.1:9",
        "--model",
        "m",
        "--mcp",
        mcp,
    ];
    args.extend_from_slice(flags);
    args.push("hi");
    args
}

/// `pairs` as `run` takes them.
fn borrowed<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A refusal a CLI user can act on: one line, exit 2, no builder call.
fn assert_refused_in_cli_terms(output: &Output, what: &str) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: one line: {stderr}");
    assert!(!stderr.contains("builder"), "{what}: {stderr}");
    stderr
}

#[tokio::test]
async fn plain_http_is_refused_for_every_endpoint_of_every_command_before_anything_is_opened() {
    let listener = Untouched::bind().await;
    let bedrock = listener.url();
    let mcp = format!("{bedrock}/mcp");
    let config = config_file(
        "plain-http",
        &format!("mcp_servers:\n  far:\n    url: {mcp}\n"),
    );
    let cases: [(&str, Vec<&str>); 4] = [
        ("proxy", vec!["proxy", &mcp]),
        (
            "gateway",
            vec!["gateway", "--config", config.to_str().unwrap()],
        ),
        ("ask --mcp", ask_with_mcp(&mcp, AGENTCORE)),
        (
            "ask --endpoint-url",
            vec!["ask", "--endpoint-url", &bedrock, "--model", "m", "hi"],
        ),
    ];
    for (what, args) in cases {
        let output = run(&args, &signing_env()).await;
        // A command that connected can only have ended once this listener
        // closed its connection, which it counts first.
        assert_eq!(listener.reached(), 0, "{what}: a request left");
        let stderr = assert_refused_in_cli_terms(&output, what);
        for needle in [
            "uses plain http://; use https://",
            "allowed only for loopback hosts, 127.0.0.0/8, ::1 and localhost",
            "mcp-sigv4 has no flag or config key to allow it",
        ] {
            assert!(stderr.contains(needle), "{what}: `{needle}`: {stderr}");
        }
    }
}

#[tokio::test]
async fn ask_without_credentials_is_one_line_naming_the_sources_then_the_next_step() {
    let stand_in = server::start(false).await;
    let home = std::env::temp_dir().join(format!("mcp-sigv4-first-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let home = home.to_str().unwrap();
    let (imds, _imds) = refusing_imds().await;
    let mut env = borrowed(&imds);
    env.extend([("HOME", home), ("AWS_REGION", "us-east-1")]);
    let output = run(&ask_with_mcp(&stand_in.url(), &[]), &env).await;
    let stderr = assert_refused_in_cli_terms(&output, "ask");
    let tried = [
        "no AWS credentials found: tried the environment",
        &format!("profile `default` in {home}/.aws/config"),
        "SSO",
        "web identity",
        "container",
        "instance metadata",
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or choose a profile with --profile NAME",
    ];
    in_order(&stderr, &tried);
    // Neither the chain's warnings nor rmcp's wrapping.
    for noise in [
        "WARN",
        "ProviderError",
        "Send message error",
        "Transport error",
    ] {
        assert!(!stderr.contains(noise), "`{noise}`: {stderr}");
    }
    assert_eq!(stand_in.stats.accepted() + stand_in.stats.refused(), 0);
}

#[tokio::test]
async fn ask_without_a_region_says_only_that() {
    let (imds, _imds) = refusing_imds().await;
    let mut env = borrowed(&imds);
    env.push(("HOME", "/nonexistent-mcp-sigv4-home"));
    let output = run(&["ask", "--model", "m", "hi"], &env).await;
    let stderr = assert_refused_in_cli_terms(&output, "ask");
    assert_eq!(
        stderr.trim(),
        "mcp-sigv4: no AWS region for Bedrock: set AWS_REGION, or a region in your AWS profile"
    );
}

#[tokio::test]
async fn proxy_without_credentials_logs_no_provider_dumps() {
    let (imds, _imds) = refusing_imds().await;
    let mut env = borrowed(&imds);
    env.push(("HOME", "/nonexistent-mcp-sigv4-home"));
    // The request is signed, so credentials are loaded, and refused before it
    // is sent: nothing leaves the machine.
    let mut proxy = crate::Cli::spawn(&["proxy", "https://aws-mcp.us-east-1.api.aws/mcp"], &env);
    proxy.send(&crate::initialize(1)).await;
    let reply = proxy.recv().await;
    let message = reply["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("no AWS credentials"), "{reply}");
    let (_, stderr) = proxy.finish().await;
    assert!(!stderr.contains("aws_config"), "{stderr}");
    assert!(!stderr.contains("ProviderError("), "{stderr}");
    assert!(stderr.contains("could not be signed"), "{stderr}");
}

#[tokio::test]
async fn an_unencoded_runtime_arn_is_refused_with_the_encoded_url() {
    let stand_in = server::start(false).await;
    let encoded = stand_in.url();
    let raw = encoded.replace("%3A", ":").replace("%2F", "/");
    assert_ne!(raw, encoded);
    for (what, args) in [
        ("proxy", vec!["proxy", raw.as_str()]),
        ("ask --mcp", ask_with_mcp(&raw, &[])),
    ] {
        let output = run(&args, &signing_env()).await;
        let stderr = assert_refused_in_cli_terms(&output, what);
        assert!(
            stderr.contains("runtime ARN in its path that is not URL-encoded"),
            "{what}: {stderr}"
        );
        let path = encoded.split('?').next().unwrap();
        assert!(stderr.contains(path), "{what}: {stderr}");
    }
    assert_eq!(stand_in.stats.accepted() + stand_in.stats.refused(), 0);
}

/// `gateway --config` of this YAML: its exit code and stderr.
async fn gateway_refusal(name: &str, yaml: &str, env: &[(&str, &str)]) -> String {
    let config = config_file(name, yaml);
    let output = run(&["gateway", "--config", config.to_str().unwrap()], env).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    stderr
}

#[tokio::test]
async fn a_misspelt_required_key_names_the_near_miss() {
    let stderr = gateway_refusal(
        "ulr",
        "mcp_servers:\n  demo:\n    ulr: https://aws-mcp.us-east-1.api.aws/mcp\n",
        &[],
    )
    .await;
    assert!(
        stderr.contains("mcp_servers.demo.url: missing, but `ulr` is there: did you mean `url`?"),
        "{stderr}"
    );
    let stderr = gateway_refusal(
        "acess",
        "mcp_servers:\n  demo:\n    url: https://aws-mcp.us-east-1.api.aws/mcp\n    auth_type: aws_sigv4\n    aws_acess_key_id: AKID\n    aws_secret_access_key: s\n",
        &[],
    )
    .await;
    assert!(
        stderr.contains("aws_access_key_id: missing, but `aws_acess_key_id` is there: did you mean `aws_access_key_id`?"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_yaml_tab_is_named_with_its_line_and_column() {
    let stderr = gateway_refusal(
        "tab",
        "mcp_servers:\n  demo:\n\turl: https://aws-mcp.us-east-1.api.aws/mcp\n",
        &[],
    )
    .await;
    assert!(
        stderr.contains("line 3 has a tab at column 1: YAML indents with spaces only"),
        "{stderr}"
    );
}

#[tokio::test]
async fn every_unset_variable_is_reported_at_once() {
    let stderr = gateway_refusal(
        "vars",
        "mcp_servers:\n  a:\n    url: os.environ/A_URL\n    auth_type: bearer_token\n    auth_value: os.environ/A_TOKEN\n  b:\n    url: https://b.example/mcp\n    auth_type: api_key\n    auth_value: os.environ/B_KEY\n",
        &[],
    )
    .await;
    assert!(
        stderr.contains(
            "3 environment variables are not set: A_URL (mcp_servers.a.url), A_TOKEN (mcp_servers.a.auth_value), B_KEY (mcp_servers.b.auth_value)"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn help_help_and_man_completions_work() {
    let output = run(&["help", "--help"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Usage: mcp-sigv4 help"));
    let output = run(&["help", "proxy"], &[]).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("Usage: mcp-sigv4 proxy"));
    let output = run(&["man", "completions"], &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(".TH mcp-sigv4-completions 1"));
}

/// The examples of `COMMAND --help`, each a shell script (the `export` line
/// with the lines of one example) and the comment above it (empty for the
/// first).
async fn help_examples(command: &str) -> Vec<(String, String)> {
    let help = text(&run(&[command, "--help"], &[]).await.stdout);
    let examples = help
        .split_once("Examples")
        .unwrap_or_else(|| panic!("{command} --help has examples"))
        .1;
    let mut lines = examples.lines().skip(1).map(str::trim);
    let export = lines.next().unwrap().to_owned();
    assert!(export.starts_with("export "), "{export}");
    let mut scripts = vec![(String::new(), export.clone())];
    for line in lines.take_while(|l| !l.is_empty()) {
        if line.starts_with('#') {
            scripts.push((line.to_owned(), export.clone()));
        } else {
            let script = &mut scripts.last_mut().unwrap().1;
            script.push('\n');
            script.push_str(line);
        }
    }
    scripts
}

/// Every example of `explain --help` and `sign --help`, run by `sh` as printed:
/// each exits as its comment says (0 unless it says "exits 1"), and each signs
/// the body it gives (all give `{}`), not an empty one.
#[tokio::test]
async fn explain_help_examples_run_as_printed() {
    use sha2::Digest;
    let hash_of = |body: &str| hex::encode(sha2::Sha256::digest(body));
    let dir = std::path::Path::new(binary()).parent().unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.display());
    for (command, expected_codes) in [("explain", &[0, 1, 0][..]), ("sign", &[0, 0])] {
        let examples = help_examples(command).await;
        let mut codes = Vec::new();
        for (comment, script) in &examples {
            let output = tokio::time::timeout(
                LIMIT,
                Command::new("sh")
                    .args(["-c", script])
                    .env_clear()
                    .env("PATH", &path)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .stdin(Stdio::null())
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .unwrap()
            .unwrap();
            let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
            let code = output.status.code().unwrap_or(-1);
            codes.push(code);
            let expected = if comment.contains("exits 1") { 1 } else { 0 };
            assert_eq!(code, expected, "{script}: {stdout}{stderr}");
            if code == 1 {
                assert!(
                    stdout.contains("region: expected `us-east-1`, got `us-west-2`"),
                    "{script}: {stdout}"
                );
            }
            assert!(script.contains("{}") || script.contains("e30="), "{script}");
            assert!(
                stdout.contains(&hash_of("{}")) && !stdout.contains(&hash_of("")),
                "{script} does not sign its body `{{}}`: {stdout}"
            );
            if command == "sign" {
                let reply: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
                assert_eq!(reply["ok"], true, "{script}: {reply}");
            }
        }
        assert_eq!(codes, expected_codes, "{command}: {examples:?}");
    }
}

#[tokio::test]
async fn an_mcp_server_that_fails_is_said_without_rmcps_wrapping() {
    let listener = Untouched::bind().await;
    let mcp = format!("http://127.0.0.1:{}/mcp", listener.port);
    let output = run(&ask_with_mcp(&mcp, AGENTCORE), &signing_env()).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("MCP server `127.0.0.1:") && stderr.contains("`: cannot connect: "),
        "{stderr}"
    );
    for wrapping in [
        "Send message error",
        "Transport error",
        "Client error",
        "when send",
    ] {
        assert!(!stderr.contains(wrapping), "`{wrapping}`: {stderr}");
    }
    assert!(listener.reached() > 0, "the server was tried: {stderr}");
}
