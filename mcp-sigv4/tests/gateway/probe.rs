//! Servers watched on their own: a server that goes down and comes back, seen
//! by the gateway's probes (`/metrics`, `/health/readiness`) and by
//! `mcp-sigv4 probe`'s lines and exit status, in both protocol eras.

use std::net::SocketAddr;
use std::process::Output;

use http::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::AbortOnDropHandle;

use crate::era_server::{self, EraStandIn, Kind};
use crate::telemetry::{sample, scrape};
use crate::{Gateway, send, server};

/// A TCP door in front of a server: closed, its port refuses connections and
/// the connections it carried are cut; opened again, on the same port.
struct Door {
    addr: SocketAddr,
    target: SocketAddr,
    open: Option<AbortOnDropHandle<()>>,
}

impl Door {
    async fn new(target: &EraStandIn) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = target.url()["http://".len()..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let mut door = Self {
            addr: listener.local_addr().unwrap(),
            target,
            open: None,
        };
        door.serve(listener);
        door
    }

    fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target;
        self.open = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            // Dropped with the task: every carried connection is cut.
            let mut carried = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                carried.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })));
    }

    fn close(&mut self) {
        self.open = None;
    }

    async fn reopen(&mut self) {
        // The aborted task drops its listener when the runtime next polls it.
        for _ in 0..200 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("cannot bind {} again", self.addr);
    }
}

fn config(door: &Door) -> std::path::PathBuf {
    let yaml = format!(
        "mcp_servers:\n  flaky:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: {}\n    aws_service_name: {}\n    aws_access_key_id: os.environ/AGENT_AKID\n    aws_secret_access_key: os.environ/AGENT_SECRET\n    aws_session_token: os.environ/AGENT_TOKEN\ngeneral_settings:\n  session_secret: probe-test-secret-0123456789abcdef0123\n",
        door.url(),
        server::REGION,
        server::SERVICE,
    );
    crate::write_config("gateway-probe", &yaml)
}

const UP: &str = r#"mcp_sigv4_upstream_up{server="flaky"}"#;

/// Scrape until `series` has `value`: a bounded wait for the next probes,
/// asserted by what they recorded, never by how long they took.
async fn metrics_until(gateway: &Gateway, series: &str, value: f64) -> String {
    let url = format!("{}/metrics", gateway.base);
    for _ in 0..1000 {
        let (status, metrics) = scrape(&url, &[]).await;
        assert_eq!(status, StatusCode::OK);
        if sample(&metrics, series) == Some(value) {
            return metrics;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (_, metrics) = scrape(&url, &[]).await;
    panic!(
        "{series} never became {value}:\n{metrics}\n{}",
        gateway.stderr()
    );
}

#[tokio::test]
async fn a_legacy_server_that_goes_down_and_comes_back_shows_on_metrics_and_readiness() {
    let old = era_server::start(Kind::LegacyOnly).await;
    let mut door = Door::new(&old).await;
    let gateway = Gateway::start(&config(&door), &["--probe-interval", "0.02"]).await;

    let metrics = metrics_until(&gateway, UP, 1.0).await;
    assert!(
        sample(
            &metrics,
            r#"mcp_sigv4_upstream_probe_duration_seconds{server="flaky"}"#
        )
        .is_some_and(|s| s > 0.0),
        "{metrics}"
    );
    // A 2025 server: initialize, then ping, each probe's session ended.
    let pings = old.seen_method("ping").len();
    assert!(pings >= 1, "{:?}", old.seen());
    assert!(old.seen_method("initialize").len() >= pings);
    // Each probe's session is ended (DELETE), not left to expire.
    assert!(
        old.seen()
            .iter()
            .filter(|s| s.http_method == http::Method::DELETE)
            .count()
            >= 1,
        "{:?}",
        old.seen()
    );

    door.close();
    let metrics = metrics_until(&gateway, UP, 0.0).await;
    assert!(
        sample(
            &metrics,
            r#"mcp_sigv4_upstream_probe_failures_total{server="flaky",cause="transport"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}\n{}",
        gateway.stderr()
    );
    assert!(
        metrics.contains(
            r#"mcp_sigv4_upstream_probe_last_failure_timestamp{server="flaky",cause="transport"}"#
        ),
        "{metrics}"
    );
    let ready = send(
        "GET",
        &format!("{}/health/readiness", gateway.base),
        &[],
        None,
    )
    .await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    let flaky = &ready.messages[0]["servers"]["flaky"];
    assert_eq!(flaky["ready"], false, "{ready:?}");
    assert_eq!(flaky["failure"], "transport", "{ready:?}");
    let pings_while_down = old.seen_method("ping").len();

    door.reopen().await;
    metrics_until(&gateway, UP, 1.0).await;
    assert!(old.seen_method("ping").len() > pings_while_down);
    let ready = send(
        "GET",
        &format!("{}/health/readiness", gateway.base),
        &[],
        None,
    )
    .await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    let flaky = &ready.messages[0]["servers"]["flaky"];
    assert_eq!(flaky["era"], "2025", "{ready:?}");
    assert_eq!(
        flaky["tools"].as_u64().map(|n| n > 0),
        Some(true),
        "{ready:?}"
    );
    // Logged once when it went down and once when it came back.
    let log = gateway.stderr();
    assert_eq!(log.matches("server `flaky` is down").count(), 1, "{log}");
    assert_eq!(
        log.matches("server `flaky` is up again").count(),
        1,
        "{log}"
    );
}

async fn probe(config: &std::path::Path, extra: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .args([
            "probe",
            "--config",
            config.to_str().unwrap(),
            "--timeout",
            "5",
        ])
        .args(extra)
        .env("AGENT_AKID", server::ACCESS_KEY)
        .env("AGENT_SECRET", server::SECRET_KEY)
        .env("AGENT_TOKEN", server::SESSION_TOKEN)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("MCP_SERVER_URL")
        .env_remove("MCP_SIGV4_CONFIG")
        .env_remove("AWS_PROFILE")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(crate::LIMIT, run)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn probe_exits_1_while_a_modern_server_is_down_and_0_when_it_is_back() {
    let new = era_server::start(Kind::ModernOnly).await;
    let mut door = Door::new(&new).await;
    let config = config(&door);

    let up = probe(&config, &[]).await;
    let out = String::from_utf8_lossy(&up.stdout);
    assert_eq!(
        up.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(out.starts_with("flaky up "), "{out}");
    assert!(out.contains("era=2026-07-28 tools="), "{out}");
    assert_eq!(new.seen_method("server/discover").len(), 1);
    assert!(new.seen_method("initialize").is_empty());

    door.close();
    let down = probe(&config, &[]).await;
    let out = String::from_utf8_lossy(&down.stdout);
    assert_eq!(down.status.code(), Some(1), "{out}");
    assert!(out.starts_with("flaky down "), "{out}");
    assert!(out.contains("cause=transport: "), "{out}");
    let textfile = probe(&config, &["--format", "prometheus"]).await;
    let out = String::from_utf8_lossy(&textfile.stdout);
    assert_eq!(textfile.status.code(), Some(1), "{out}");
    assert_eq!(sample(&out, UP), Some(0.0), "{out}");
    assert_eq!(
        sample(
            &out,
            r#"mcp_sigv4_upstream_probe_failure{server="flaky",cause="transport"}"#
        ),
        Some(1.0),
        "{out}"
    );
    assert_eq!(new.seen_method("server/discover").len(), 1);

    door.reopen().await;
    let back = probe(&config, &["--format", "prometheus"]).await;
    let out = String::from_utf8_lossy(&back.stdout);
    assert_eq!(back.status.code(), Some(0), "{out}");
    assert_eq!(sample(&out, UP), Some(1.0), "{out}");
    assert!(out.contains("# TYPE mcp_sigv4_upstream_up gauge"), "{out}");
    assert_eq!(new.seen_method("server/discover").len(), 2);
}
