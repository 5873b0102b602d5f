//! Operating the gateway: Prometheus metrics after known traffic, the key that
//! guards them, their own listener, and JSON logs without secrets.

use http::StatusCode;
use serde_json::{Value, json};

use crate::{
    Gateway, MASTER_KEY, SESSION_SECRET, open, rpc, send, server, text, tool_names, upstreams,
};

/// The value of the sample `series` (name and labels exactly as encoded).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

fn assert_sample(metrics: &str, series: &str, expected: f64) {
    assert_eq!(
        sample(metrics, series),
        Some(expected),
        "{series} in:\n{metrics}"
    );
}

pub async fn scrape(url: &str, auth: &[(&str, &str)]) -> (StatusCode, String) {
    let response = crate::client().request({
        let mut request = http::Request::get(url);
        for (name, value) in auth {
            request = request.header(*name, *value);
        }
        request.body(Default::default()).unwrap()
    });
    let response = tokio::time::timeout(crate::LIMIT, response)
        .await
        .unwrap()
        .unwrap();
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn metrics_count_calls_by_server_method_and_tool_behind_the_master_key() {
    let up = upstreams().await;
    let gateway = Gateway::start(
        &up.config(&format!(
            "  master_key: os.environ/MASTER\n  session_secret: {SESSION_SECRET}"
        )),
        &["--log-format", "json", "--log-level", "trace"],
    )
    .await;
    let bearer = format!("Bearer {MASTER_KEY}");
    let session = open(&gateway, "/mcp/agent", &[("authorization", &bearer)]).await;
    let url = format!("{}/mcp/agent", gateway.base);
    let headers = [
        ("authorization", bearer.as_str()),
        ("mcp-session-id", session.as_str()),
    ];
    let list = send(
        "POST",
        &url,
        &headers,
        Some(&rpc(1, "tools/list", json!({}))),
    )
    .await;
    assert_eq!(tool_names(&list), ["add", "count", "echo"]);
    for id in [2, 3] {
        let add = json!({"name": "add", "arguments": {"a": 40, "b": 2}});
        let call = send("POST", &url, &headers, Some(&rpc(id, "tools/call", add))).await;
        assert_eq!(text(&call), "42");
    }
    let unlisted = json!({"name": "no-such-tool-x9", "arguments": {}});
    send(
        "POST",
        &url,
        &headers,
        Some(&rpc(4, "tools/call", unlisted)),
    )
    .await;

    let metrics_url = format!("{}/metrics", gateway.base);
    for auth in [vec![], vec![("authorization", "Bearer wrong")]] {
        let (status, body) = scrape(&metrics_url, &auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(!body.contains("mcp_sigv4_"), "{body}");
    }
    let (status, metrics) = scrape(&metrics_url, &[("authorization", &bearer)]).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");

    let requests = |method: &str, outcome: &str| {
        format!(
            r#"mcp_sigv4_requests_total{{server="agent",method="{method}",outcome="{outcome}"}}"#
        )
    };
    assert_sample(&metrics, &requests("initialize", "ok"), 1.0);
    assert_sample(&metrics, &requests("notifications/initialized", "ok"), 1.0);
    assert_sample(&metrics, &requests("tools/list", "ok"), 1.0);
    let duration = |tool: &str| {
        format!(
            r#"mcp_sigv4_request_duration_seconds_count{{server="agent",method="tools/call",tool="{tool}"}}"#
        )
    };
    // Calls to listed tools get their name; anything else is `other`.
    assert_sample(&metrics, &duration("add"), 2.0);
    assert_sample(&metrics, &duration("other"), 1.0);
    assert!(!metrics.contains("no-such-tool-x9"), "{metrics}");
    let calls: f64 = ["ok", "error"]
        .iter()
        .filter_map(|outcome| sample(&metrics, &requests("tools/call", outcome)))
        .sum();
    assert_eq!(calls, 3.0, "{metrics}");
    assert_sample(
        &metrics,
        r#"mcp_sigv4_protocol_era_requests_total{era="legacy"}"#,
        6.0,
    );
    assert_eq!(
        sample(
            &metrics,
            r#"mcp_sigv4_protocol_era_requests_total{era="modern"}"#
        ),
        None
    );
    let responses = |status: &str| {
        format!(r#"mcp_sigv4_upstream_responses_total{{server="agent",status="{status}"}}"#)
    };
    assert_sample(&metrics, &responses("200"), 5.0);
    assert_sample(&metrics, &responses("202"), 1.0);
    assert_sample(
        &metrics,
        r#"mcp_sigv4_http_requests_total{route="mcp_server",status="200"}"#,
        5.0,
    );
    assert_sample(
        &metrics,
        r#"mcp_sigv4_http_requests_total{route="metrics",status="401"}"#,
        2.0,
    );
    assert_sample(&metrics, "mcp_sigv4_sessions_started_total", 1.0);
    // The scrape itself is the one request in flight.
    assert_sample(&metrics, "mcp_sigv4_requests_in_flight", 1.0);
    assert_sample(&metrics, "mcp_sigv4_streams_open", 0.0);
    assert_sample(
        &metrics,
        &format!(
            r#"mcp_sigv4_build_info{{version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        ),
        1.0,
    );
    assert!(
        metrics.contains("# TYPE mcp_sigv4_request_duration_seconds histogram"),
        "{metrics}"
    );

    // Every log line is one JSON object, and none holds a secret, at trace level.
    let log = gateway.stderr();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "TRACE" || l["level"] == "DEBUG"),
        "{log}"
    );
    for secret in [MASTER_KEY, server::SECRET_KEY, server::SESSION_TOKEN] {
        assert!(!log.contains(secret), "a JSON log line shows a secret");
        assert!(!metrics.contains(secret), "the metrics show a secret");
    }
}

#[tokio::test]
async fn refused_signatures_are_counted_by_kind_on_the_metrics_listener() {
    let up = upstreams().await;
    // Signed for the wrong service: the stand-in refuses with 403.
    let path = up.config_signed_for_the_wrong_service("refused", "");
    let gateway = Gateway::start(&path, &["--metrics-listen", "127.0.0.1:0"]).await;
    let log = gateway.stderr();
    let metrics_base = log
        .split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
        .to_owned();
    let refused = send(
        "POST",
        &format!("{}/mcp/agent", gateway.base),
        &[],
        Some(&crate::initialize()),
    )
    .await;
    assert!(refused.reply()["error"].is_object(), "{refused:?}");
    // On its own address, /metrics is not on the clients' listener.
    let (status, _) = scrape(&format!("{}/metrics", gateway.base), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, metrics) = scrape(&format!("http://{metrics_base}/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    assert_sample(
        &metrics,
        r#"mcp_sigv4_signing_refusals_total{server="agent",kind="InvalidSignature"}"#,
        1.0,
    );
    assert_sample(
        &metrics,
        r#"mcp_sigv4_upstream_responses_total{server="agent",status="403"}"#,
        1.0,
    );
    assert_sample(
        &metrics,
        r#"mcp_sigv4_requests_total{server="agent",method="initialize",outcome="upstream_error"}"#,
        1.0,
    );
    assert_eq!(
        sample(&metrics, "mcp_sigv4_sessions_started_total"),
        Some(0.0)
    );
}

/// A profile whose `credential_process` hands out the stand-in's credentials,
/// valid for an hour: the default chain loads them once, with an expiry.
fn metered_profile(dir: &std::path::Path) -> (String, String) {
    let script = dir.join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat <<EOF\n{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\", \"SessionToken\": \"{}\", \"Expiration\": \"$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\"}}\nEOF\n",
            server::ACCESS_KEY,
            server::SECRET_KEY,
            server::SESSION_TOKEN
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile metered]\nregion = us-east-1\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let credentials = dir.join("aws-credentials-none");
    (
        config.display().to_string(),
        credentials.display().to_string(),
    )
}

#[tokio::test]
async fn a_retry_and_a_credentials_load_are_counted_and_traced() {
    use opentelemetry_proto::tonic::trace::v1::Span;

    let (endpoint, received) = crate::otlp::receiver().await;
    let up = upstreams().await;
    let yaml = format!(
        "mcp_servers:\n  agent:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: us-east-1\n    aws_service_name: bedrock-agentcore\n    aws_profile: metered\n  tools:\n    url: \"{}\"\n    auth_type: bearer_token\n    auth_value: os.environ/TOOLS_TOKEN\n",
        up.agent.url(),
        up.tools.url()
    );
    let path = up.dir.join("metered.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (aws_config, aws_credentials) = metered_profile(&up.dir);
    let gateway = Gateway::start_with_env(
        &path,
        &["--log-format", "json"],
        &[
            ("AWS_CONFIG_FILE", aws_config.as_str()),
            ("AWS_SHARED_CREDENTIALS_FILE", aws_credentials.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;

    // Two signed calls: the credentials are loaded once.
    let session = open(&gateway, "/mcp/agent", &[]).await;
    let url = format!("{}/mcp/agent", gateway.base);
    let headers = [("mcp-session-id", session.as_str())];
    for id in [2, 3] {
        let add = json!({"name": "add", "arguments": {"a": 40, "b": 2}});
        let call = send("POST", &url, &headers, Some(&rpc(id, "tools/call", add))).await;
        assert_eq!(text(&call), "42");
    }
    // The tools server answers the call's first attempt 503, its retry 200.
    let session = open(&gateway, "/mcp/tools", &[]).await;
    up.tools
        .unavailable
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let call = send(
        "POST",
        &format!("{}/mcp/tools", gateway.base),
        &[("mcp-session-id", session.as_str())],
        Some(&rpc(4, "tools/call", json!({"name": "whoami"}))),
    )
    .await;
    assert_eq!(text(&call), "the bearer-protected server");
    assert_eq!(
        up.tools
            .answered_unavailable
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );

    let (status, metrics) = scrape(&format!("{}/metrics", gateway.base), &[]).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    assert_sample(
        &metrics,
        r#"mcp_sigv4_retries_total{server="tools",reason="unavailable"}"#,
        1.0,
    );
    assert_eq!(
        sample(
            &metrics,
            r#"mcp_sigv4_retries_total{server="agent",reason="unavailable"}"#
        ),
        None,
        "{metrics}"
    );
    let loads = |outcome: &str| {
        format!(r#"mcp_sigv4_credentials_loads_total{{server="agent",outcome="{outcome}"}}"#)
    };
    assert_sample(&metrics, &loads("load"), 1.0);
    assert_sample(&metrics, &loads("refresh"), 0.0);
    assert_sample(&metrics, &loads("error"), 0.0);
    let left = sample(
        &metrics,
        r#"mcp_sigv4_credentials_expiry_seconds{server="agent"}"#,
    )
    .unwrap_or_else(|| panic!("no expiry in:\n{metrics}"));
    assert!((3000.0..=3600.0).contains(&left), "{left} s left");
    // Only signed servers have credentials.
    assert!(
        !metrics.contains(r#"credentials_loads_total{server="tools""#),
        "{metrics}"
    );

    // The load is a child of the signing that needed it, itself a child of a
    // request to the agent; the retried call's span counts its resend.
    for name in ["tools/call whoami", "credentials.load"] {
        crate::otlp::wait_for(&received, crate::LIMIT, |s| s.name == name).await;
    }
    let spans = crate::otlp::spans(&received);
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();
    let parent_of = |span: &Span| {
        spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .unwrap_or_else(|| panic!("no parent of {} in {spans:?}", span.name))
            .clone()
    };
    let loads: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "credentials.load")
        .collect();
    assert_eq!(loads.len(), 1, "{spans:?}");
    let sign = parent_of(loads[0]);
    assert_eq!(sign.name, "sign");
    let upstream = parent_of(&sign);
    assert_eq!(
        crate::otlp::string_attribute(&upstream.attributes, "mcp.server").as_deref(),
        Some("agent"),
        "{upstream:?}"
    );
    let source = crate::otlp::string_attribute(&loads[0].attributes, "credentials.source");
    assert!(
        source.as_deref().is_some_and(|s| s.contains("metered")),
        "{source:?}"
    );
    let signs: Vec<&Span> = spans.iter().filter(|s| s.name == "sign").collect();
    assert!(
        signs.len() >= 3,
        "one sign span per signed request: {spans:?}"
    );
    for sign in signs {
        assert_eq!(
            crate::otlp::string_attribute(&parent_of(sign).attributes, "mcp.server").as_deref(),
            Some("agent")
        );
    }
    let retried = spans
        .iter()
        .find(|s| s.name == "tools/call whoami")
        .unwrap_or_else(|| panic!("no tools/call span in {spans:?}"));
    assert_eq!(
        crate::otlp::string_attribute(&retried.attributes, "http.request.resend_count").as_deref(),
        Some("1")
    );
    let exported = crate::otlp::exported_text(&received);
    for secret in [
        server::SECRET_KEY,
        server::SESSION_TOKEN,
        crate::upstream::TOKEN,
    ] {
        assert!(
            !exported.contains(secret),
            "an exported span shows a secret"
        );
        assert!(!metrics.contains(secret), "the metrics show a secret");
    }
}

/// The `--metrics-listen` address of a gateway, from its log.
fn metrics_address(gateway: &Gateway) -> String {
    let log = gateway.stderr();
    log.split("metrics on http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"))
        .to_owned()
}

#[tokio::test]
async fn the_metrics_listener_drops_clients_that_never_finish_their_headers() {
    use tokio::io::AsyncWriteExt;
    let up = upstreams().await;
    let gateway = Gateway::start(
        &up.config(""),
        &[
            "--metrics-listen",
            "127.0.0.1:0",
            "--header-read-timeout",
            "1",
            "--idle-timeout",
            "1",
        ],
    )
    .await;
    let address = metrics_address(&gateway);
    let mut half = tokio::net::TcpStream::connect(&address).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: a")
        .await
        .unwrap();
    let answer = crate::security::read_until_closed(&mut half).await;
    assert!(!answer.contains("mcp_sigv4_"), "{answer}");
    let mut silent = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert_eq!(crate::security::read_until_closed(&mut silent).await, "");
    // Others are still served.
    let (status, metrics) = scrape(&format!("http://{address}/metrics"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("mcp_sigv4_build_info"), "{metrics}");
}

#[tokio::test]
async fn with_metrics_off_nothing_is_served_and_metrics_listen_is_refused() {
    let up = upstreams().await;
    let gateway = Gateway::start(&up.config(""), &["--metrics", "off"]).await;
    let session = open(&gateway, "/mcp/agent", &[]).await;
    assert!(!session.is_empty());
    let (status, body) = scrape(&format!("{}/metrics", gateway.base), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.contains("mcp_sigv4_"), "{body}");

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .args(["gateway", "--config"])
        .arg(up.config(""))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "off",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .env("AGENT_AKID", server::ACCESS_KEY)
        .env("AGENT_SECRET", server::SECRET_KEY)
        .env("AGENT_TOKEN", server::SESSION_TOKEN)
        .env("TOOLS_TOKEN", crate::upstream::TOKEN)
        .stdin(std::process::Stdio::null())
        .output();
    let output = tokio::time::timeout(crate::LIMIT, output)
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--metrics-listen with --metrics off"),
        "{stderr}"
    );
}
