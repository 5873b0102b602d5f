//! The first ten minutes at the terminal (issue #20): help that names every
//! command, log levels that log, listen addresses as people write them, config
//! typos warned about, readable `ask` errors, completions and a man page.

use std::process::{Output, Stdio};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{Cli, LIMIT, binary};

/// Run to completion with stdin closed and no AWS set-up of the machine's.
pub(crate) async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .env_remove("AWS_PROFILE")
        .env_remove("MCP_SIGV4_LOG")
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::time::timeout(LIMIT, command.output())
        .await
        .expect("mcp-sigv4 did not exit in time")
        .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn help_names_every_command_and_who_it_is_for() {
    let output = run(&["--help"], &[]).await;
    assert!(output.status.success());
    let help = text(&output.stdout);
    for needle in [
        "proxy",
        "gateway",
        "ask",
        "sign",
        "explain",
        "desktop",
        "for a team",
        "model with tools",
        "debugging",
        "tower-sigv4",
        "completions",
    ] {
        assert!(
            help.contains(needle),
            "`{needle}` missing from --help:\n{help}"
        );
    }
    // The package description (the first line) names all five too.
    let first = help.lines().next().unwrap();
    for command in ["proxy", "gateway", "ask", "sign", "explain"] {
        assert!(first.contains(command), "{first}");
    }

    let output = run(&["gateway", "--help"], &[]).await;
    let help = text(&output.stdout);
    for route in ["/mcp/{server}", "POST|GET|DELETE /mcp ", "GET /health"] {
        assert!(help.contains(route), "`{route}` missing:\n{help}");
    }
    let output = run(&["--version"], &[]).await;
    assert_eq!(
        text(&output.stdout).trim(),
        concat!("mcp-sigv4 ", env!("CARGO_PKG_VERSION"))
    );
}

/// Every command `--help` lists has its line in "Which command:", and the
/// library's guide is built with every feature (else the rmcp, reqwest and
/// verifying modules are left out of it).
#[tokio::test]
async fn which_command_names_every_listed_command() {
    let help = text(&run(&["--help"], &[]).await.stdout);
    let listed: Vec<&str> = help
        .split_once("Commands:\n")
        .expect("--help lists commands")
        .1
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(listed.len() >= 8, "{listed:?}");
    let which: Vec<&str> = help
        .split_once("Which command:\n")
        .expect("--help says which command")
        .1
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(which.len(), listed.len(), "{which:?} and {listed:?}");
    for name in &listed {
        assert!(
            which.contains(name),
            "`{name}` is not in \"Which command:\"\n{help}"
        );
    }
    assert!(
        help.contains("`cargo doc -p tower-sigv4 --all-features --open`"),
        "{help}"
    );
}

#[tokio::test]
async fn an_unknown_log_level_is_refused_with_the_levels() {
    for command in [
        &["proxy", "http://127.0.0.1:9/mcp", "--log-level", "verbose"][..],
        &["gateway", "--config", "x.yaml", "--log-level", "verbose"],
        &["ask", "--model", "m", "--log-level", "verbose", "hi"],
    ] {
        let output = run(command, &[]).await;
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("unknown log level `verbose`")
                && stderr.contains("off, error, warn, info, debug, trace"),
            "{command:?}: {stderr}"
        );
    }
}

/// A proxy that starts, logs and ends at stdin EOF, at this level.
async fn proxy_log(level: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "proxy",
        "http://127.0.0.1:9/mcp",
        "--service",
        "bedrock-agentcore",
        "--region",
        "us-east-1",
        "--log-level",
        level,
    ];
    args.extend(extra);
    let (code, stderr) = Cli::spawn(&args, &[]).finish().await;
    assert_eq!(code, 0, "{level}: {stderr}");
    stderr
}

#[tokio::test]
async fn every_accepted_log_level_logs_and_fields_print_as_values() {
    for level in ["info", "INFO", "debug", "trace", "warn,mcp_sigv4=info"] {
        let stderr = proxy_log(level, &[]).await;
        assert!(
            stderr.contains("relaying stdio to a SigV4-signed MCP endpoint"),
            "{level}: {stderr}"
        );
        assert!(
            stderr.contains("service=bedrock-agentcore region=us-east-1"),
            "{level}: {stderr}"
        );
        assert!(!stderr.contains("Some("), "{level}: {stderr}");
    }
    for level in ["warn", "WARNING"] {
        let stderr = proxy_log(level, &["--skip-auth"]).await;
        assert!(
            stderr.contains("--skip-auth: requests are sent unsigned"),
            "{level}: {stderr}"
        );
        assert!(!stderr.contains("relaying stdio"), "{level}: {stderr}");
    }
}

/// A config file with one unsigned server, under a fresh name.
pub(crate) fn config_file(name: &str, yaml: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mcp-sigv4-front-door-{name}-{}.yaml",
        std::process::id()
    ));
    std::fs::write(&path, yaml).unwrap();
    path
}

const ONE_SERVER: &str = "mcp_servers:\n  local:\n    url: http://127.0.0.1:9/mcp\n";

/// Start the gateway and wait for its first log line that contains `until`,
/// or for it to exit; returns its stderr so far.
async fn gateway_until(listen: &str, until: &str) -> String {
    gateway_with_config_until(ONE_SERVER, listen, until).await
}

async fn gateway_with_config_until(yaml: &str, listen: &str, until: &str) -> String {
    let config = config_file(&format!("listen-{}", yaml.len()), yaml);
    let mut child = Command::new(binary())
        .args([
            "gateway",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            listen,
        ])
        .env_remove("MCP_SIGV4_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let _ = tokio::time::timeout(LIMIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(until) {
                break;
            }
        }
    })
    .await;
    let _ = child.kill().await;
    seen
}

#[tokio::test]
async fn listen_takes_host_port_localhost_port_colon_port_and_port() {
    for listen in ["127.0.0.1:0", "localhost:0", "0"] {
        let stderr = gateway_until(listen, "listening on").await;
        assert!(
            stderr.contains("listening on http://127.0.0.1:"),
            "{listen}: {stderr}"
        );
    }
    // `:PORT` is every interface, which without a master key is refused: by the
    // gateway's own check, not as a malformed address.
    let stderr = gateway_until(":0", "refusing").await;
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without a master key"),
        "{stderr}"
    );
    let output = run(
        &[
            "gateway",
            "--config",
            "x.yaml",
            "--listen",
            "localhost:http",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("`http` is not a port"),
        "{}",
        text(&output.stderr)
    );
}

/// A LiteLLM file with a typo in a server and in `general_settings`, keys
/// LiteLLM documents and the gateway ignores, and one unknown server key.
const TYPOS: &str = "model_list: []\nmcp_servers:\n  local:\n    url: http://127.0.0.1:9/mcp\n    auth_tpye: bearer_token\n    access_groups: [dev]\n    colour: blue\ngeneral_settings:\n  mastr_key: sk-0123456789abcdef\n  database_url: postgres://db/litellm\n";

/// What both commands must log about [`TYPOS`]: a warning with a suggestion per
/// near miss, and the ignored keys once, at info level.
fn assert_typos_logged(command: &str, stderr: &str) {
    for (key, meant) in [
        ("mcp_servers.local.auth_tpye", "auth_type"),
        ("general_settings.mastr_key", "master_key"),
    ] {
        let warning = format!("{key}: unknown key, ignored; did you mean `{meant}`?");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&warning)).collect();
        assert_eq!(lines.len(), 1, "{command}: {warning}\n{stderr}");
        assert!(lines[0].contains("WARN"), "{command}: {}", lines[0]);
    }
    assert_eq!(
        stderr
            .matches("mcp_servers.local.colour: unknown key, ignored")
            .count(),
        1,
        "{command}: {stderr}"
    );
    let ignored: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ignored, as keys LiteLLM uses"))
        .collect();
    assert_eq!(ignored.len(), 1, "{command}: listed once\n{stderr}");
    assert!(ignored[0].contains("INFO"), "{command}: {}", ignored[0]);
    for key in [
        "model_list",
        "mcp_servers.local.access_groups",
        "general_settings.database_url",
    ] {
        assert!(ignored[0].contains(key), "{command}: {key}: {}", ignored[0]);
    }
}

#[tokio::test]
async fn misspelt_config_keys_are_warnings_with_the_key_they_mean_in_gateway_and_ask() {
    // The gateway starts with the file, as LiteLLM does.
    let stderr = gateway_with_config_until(TYPOS, "127.0.0.1:0", "listening on").await;
    assert!(
        stderr.contains("listening on http://127.0.0.1:"),
        "{stderr}"
    );
    assert_typos_logged("gateway", &stderr);

    // `ask --config` logs the same before it goes on (and fails on the server,
    // which is not there).
    let config = config_file("typos-ask", TYPOS);
    let output = run(
        &[
            "ask",
            "--model",
            "m",
            "--config",
            config.to_str().unwrap(),
            "--log-level",
            "info",
            "hi",
        ],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
        ],
    )
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("MCP server `local`"), "{stderr}");
    assert_typos_logged("ask", &stderr);
    assert!(!stderr.contains("sk-0123456789abcdef"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_bedrock_is_one_readable_line() {
    let output = run(
        &[
            "ask",
            "--model",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "what time is it?",
        ],
        &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "printed once: {stderr}");
    assert!(
        stderr.starts_with("mcp-sigv4: Bedrock: Converse on model `us.anthropic.claude-sonnet-4-20250514-v1:0` failed: dispatch failure"),
        "{stderr}"
    );
    for debug in ["DispatchFailure", "ConnectorError", "{", "Some("] {
        assert!(!stderr.contains(debug), "a Debug dump: {stderr}");
    }
}

#[tokio::test]
async fn completions_and_man_pages_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = run(&["completions", shell], &[]).await;
        assert!(output.status.success(), "{shell}");
        let script = text(&output.stdout);
        assert!(
            script.contains("gateway") && script.contains("log-level"),
            "{shell}: {script}"
        );
    }
    let output = run(&["man"], &[]).await;
    let page = text(&output.stdout);
    assert!(page.contains(".TH mcp-sigv4 1"), "{page}");
    assert!(
        page.contains("gateway") && page.contains("for a team"),
        "{page}"
    );
    let output = run(&["man", "proxy"], &[]).await;
    assert!(text(&output.stdout).contains(".TH mcp-sigv4-proxy 1"));
    let output = run(&["man", "nope"], &[]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("one of proxy, gateway, sign, explain, ask"));
    // Hidden from the list of commands, which stays the five.
    let help = text(&run(&["--help"], &[]).await.stdout);
    assert!(
        !help
            .lines()
            .any(|l| l.trim_start().starts_with("completions ")),
        "{help}"
    );
}

#[tokio::test]
async fn missing_credentials_for_ask_are_one_line_that_names_the_profile() {
    let home =
        std::env::temp_dir().join(format!("mcp-sigv4-front-door-home-{}", std::process::id()));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[profile dev]\nregion = us-east-1\n",
    )
    .unwrap();
    let home = home.to_str().unwrap();
    // Only HOME's profile files and AWS_PROFILE: no keys, no other provider.
    let ask = |profile: Option<&'static str>| async move {
        let mut command = Command::new(binary());
        command
            .args([
                "ask",
                "--model",
                "m",
                "--endpoint-url",
                "http://127.0.0.1:9",
                "hi",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .env_clear()
            .env("HOME", home)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(profile) = profile {
            command.env("AWS_PROFILE", profile);
        }
        let output = tokio::time::timeout(LIMIT, command.output())
            .await
            .unwrap()
            .unwrap();
        (output.status.code(), text(&output.stderr))
    };
    let (code, stderr) = ask(Some("nope")).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("profile `nope` (AWS_PROFILE) was not found"),
        "{stderr}"
    );
    let (_, stderr) = ask(Some("dev")).await;
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("profile `dev` in"), "{stderr}");
    assert!(stderr.contains("aws sso login --profile dev"), "{stderr}");
    let (_, stderr) = ask(None).await;
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("Bedrock: no AWS credentials found: tried"),
        "{stderr}"
    );
}

/// The proxy's reply to one `initialize` with no credentials to find under
/// `home` (no keys, no instance metadata), `args` after the endpoint; and its
/// stderr.
async fn proxy_without_credentials(home: &std::path::Path, args: &[&str]) -> (String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(binary())
        .args(["proxy", "https://aws-mcp.us-east-1.api.aws/mcp"])
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}\n", crate::initialize(1)).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .expect("the proxy ends at stdin EOF")
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)));
    let message = reply["error"]["message"].as_str().unwrap().to_owned();
    (message, text(&output.stderr))
}

/// Each of `needles` in `message`, in order.
pub(crate) fn in_order(message: &str, needles: &[&str]) {
    let mut at = 0;
    for needle in needles {
        let found = message[at..]
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` after byte {at}: {message}"));
        at += found + needle.len();
    }
}

#[tokio::test]
async fn missing_credentials_for_proxy_are_one_line_naming_what_was_tried_then_what_to_do() {
    let home = std::env::temp_dir().join(format!(
        "mcp-sigv4-front-door-empty-home-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let home_text = home.display().to_string();
    let (message, stderr) = proxy_without_credentials(&home, &[]).await;
    assert!(!message.contains('\n'), "one line: {message}");
    // Worded as when the credentials are missing at start (`ask`, `probe`):
    // the sources tried, by path, then the next step in flags; not the SDK's
    // "Attempted: Environment: … Ec2InstanceMetadata: …" list.
    let config =
        format!("profile `default` in {home_text}/.aws/config and {home_text}/.aws/credentials");
    in_order(
        &message,
        &[
            "the request could not be signed, so nothing was sent: no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID)",
            &config,
            "SSO",
            "web identity",
            "the container endpoint",
            "EC2 instance metadata",
            "; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or choose a profile with --profile NAME or AWS_PROFILE",
        ],
    );
    for sdk in ["Attempted", "Ec2InstanceMetadata", "ProviderError"] {
        assert!(!message.contains(sdk), "`{sdk}`: {message}");
    }
    assert_eq!(
        stderr.matches("could not be signed").count(),
        1,
        "logged once: {stderr}"
    );
    assert!(
        !stderr
            .lines()
            .any(|l| l.trim_start().starts_with("Environment:")),
        "{stderr}"
    );

    // A profile that exists but holds no credentials is the one named, with
    // what to give it.
    std::fs::write(
        home.join(".aws/config"),
        "[profile dev]\nregion = us-east-1\n",
    )
    .unwrap();
    let (message, _) = proxy_without_credentials(&home, &["--profile", "dev"]).await;
    in_order(
        &message,
        &[
            "no AWS credentials found: tried the environment",
            &format!("profile `dev` in {home_text}/.aws/config"),
            "; give profile `dev` keys, a role or an SSO session (for SSO run `aws sso login --profile dev`)",
        ],
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test]
async fn proxy_names_an_unknown_profile_at_start() {
    let home = std::env::temp_dir().join(format!(
        "mcp-sigv4-front-door-profiles-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[profile dev]\nregion = us-east-1\n",
    )
    .unwrap();
    let home = home.to_str().unwrap();
    for (flag, env) in [(&["--profile", "nope"][..], None), (&[][..], Some("nope"))] {
        let mut command = Command::new(binary());
        command
            .args(["proxy", "https://aws-mcp.us-east-1.api.aws/mcp"])
            .args(flag)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .env_clear()
            .env("HOME", home)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(profile) = env {
            command.env("AWS_PROFILE", profile);
        }
        let output = tokio::time::timeout(LIMIT, command.output())
            .await
            .unwrap()
            .unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.starts_with(&format!(
                "mcp-sigv4 proxy: profile `nope` (--profile or AWS_PROFILE) was not found in {home}/.aws/config or {home}/.aws/credentials; create it"
            )),
            "{stderr}"
        );
    }
}
