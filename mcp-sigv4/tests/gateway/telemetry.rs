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
    let yaml = format!(
        "mcp_servers:\n  agent:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: us-east-1\n    aws_service_name: aws-mcp\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\n",
        up.agent.url()
    );
    let path = up.dir.join("refused.yaml");
    std::fs::write(&path, yaml).unwrap();
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
