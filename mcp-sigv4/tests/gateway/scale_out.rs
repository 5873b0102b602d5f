//! Three gateway replicas sharing a `session_secret` behind a real load
//! balancer (HAProxy, round robin, no stickiness, no health checks) on
//! 127.0.0.1, with 2025 and 2026-07-28 clients calling through it while one
//! replica is killed with SIGKILL and started again on its port (issue 32).
//!
//! Needs `haproxy` on PATH (Debian's package), so it is ignored unless asked for:
//! `cargo test -p mcp-sigv4 --all-features --test gateway -- --ignored scale_out`.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::eras::{self, MODERN, modern};
use crate::telemetry::{sample, scrape};
use crate::{Answer, Gateway, LIMIT, free_port, initialize, rpc, send, try_send};

/// 2025 clients, each with its own session, and stateless 2026-07-28 clients.
const LEGACY_CLIENTS: usize = 4;
const MODERN_CLIENTS: usize = 2;
/// Successful calls to wait for in each phase.
const CALLS_PER_PHASE: usize = 40;

/// HAProxy in front of `ports`, listening on its own port.
async fn haproxy(dir: &std::path::Path, ports: &[u16]) -> (Child, String) {
    let port = free_port();
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("    server replica{i} 127.0.0.1:{p}\n"))
        .collect();
    // No `check`: a dead replica stays in the rotation, and a refused connection
    // is retried on another replica (`redispatch`), as the request was not sent.
    let config = format!(
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    retries 3\n    option redispatch 1\n\
         frontend mcp\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
         backend replicas\n    balance roundrobin\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run haproxy ({e}): apt-get install haproxy"));
    let base = format!("http://127.0.0.1:{port}");
    // Up when it answers /health through a replica; at most 200 tries.
    for _ in 0..200 {
        if let Ok(answer) = try_send("GET", &format!("{base}/health"), &[], None).await
            && answer.status == StatusCode::OK
        {
            return (child, base);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("haproxy did not answer on {base}");
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    /// Calls that failed and had started before the kill had completed.
    lost_in_flight: Mutex<Vec<String>>,
    /// Anything else that went wrong: a session refused, a wrong answer, a
    /// failure of a call sent after the kill.
    wrong: Mutex<Vec<String>>,
}

/// One client: a 2025 session (its id) or a 2026-07-28 client (`None`).
struct Caller {
    name: String,
    path: &'static str,
    session: Option<String>,
}

impl Caller {
    async fn call(&self, base: &str, n: usize) -> Result<Answer, String> {
        let text = format!("{}-{n}", self.name);
        let arguments = json!({"name": "echo", "arguments": {"text": text}});
        let url = format!("{base}{}", self.path);
        match &self.session {
            Some(session) => {
                let headers = [("mcp-session-id", session.as_str())];
                try_send(
                    "POST",
                    &url,
                    &headers,
                    Some(&rpc(n as i64, "tools/call", arguments)),
                )
                .await
            }
            None => {
                let headers = [
                    ("mcp-protocol-version", MODERN),
                    ("mcp-method", "tools/call"),
                    ("mcp-name", "echo"),
                ];
                let message = modern(n as i64, "tools/call", arguments);
                try_send("POST", &url, &headers, Some(&message)).await
            }
        }
    }
}

fn echoed(answer: &Answer) -> Option<&str> {
    answer
        .messages
        .iter()
        .rfind(|m| m.get("method").is_none())?
        .pointer("/result/content/0/text")?
        .as_str()
}

/// Call until `stop`, classifying each outcome.
async fn run(
    caller: Caller,
    base: String,
    stop: Arc<AtomicBool>,
    killed: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Caller {
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let after_kill = killed.load(Ordering::SeqCst);
        let expected = format!("{}-{n}", caller.name);
        match caller.call(&base, n).await {
            Ok(answer) if answer.status == StatusCode::OK && echoed(&answer) == Some(&expected) => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            // HAProxy's answer when the replica died under the request, or the
            // connection broke: a call in flight on the killed replica.
            Ok(answer)
                if !after_kill
                    && matches!(
                        answer.status,
                        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE
                    ) =>
            {
                tally
                    .lost_in_flight
                    .lock()
                    .unwrap()
                    .push(format!("{}: {}", caller.name, answer.status));
            }
            Err(e) if !after_kill => {
                tally
                    .lost_in_flight
                    .lock()
                    .unwrap()
                    .push(format!("{}: {e}", caller.name));
            }
            outcome => {
                tally.wrong.lock().unwrap().push(format!(
                    "{} call {n} ({} the kill): {outcome:?}",
                    caller.name,
                    if after_kill {
                        "after"
                    } else {
                        "before or during"
                    }
                ));
            }
        }
    }
    caller
}

/// Wait (bounded) until the clients have made `target` successful calls.
async fn until_ok(tally: &Tally, target: usize, what: &str) {
    tokio::time::timeout(LIMIT, async {
        while tally.ok.load(Ordering::SeqCst) < target {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{what}: {} successful calls of {target}; wrong: {:?}",
            tally.ok.load(Ordering::SeqCst),
            tally.wrong.lock().unwrap()
        )
    });
}

/// `tools/call` requests a replica has answered with 200 on `/mcp/{server}`.
async fn served(replica: &Gateway) -> f64 {
    let (status, metrics) = scrape(&format!("{}/metrics", replica.base), &[]).await;
    assert_eq!(status, StatusCode::OK, "{metrics}");
    sample(
        &metrics,
        r#"mcp_sigv4_http_requests_total{route="mcp_server",status="200"}"#,
    )
    .unwrap_or(0.0)
}

#[tokio::test]
#[ignore = "needs haproxy (apt-get install haproxy); .ci/run runs it"]
async fn scale_out_three_replicas_behind_haproxy_lose_no_session_when_one_is_killed() {
    let eras = eras::eras().await;
    let dir = eras.config.parent().unwrap().to_owned();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut replicas = Vec::new();
    for port in &ports {
        replicas.push(
            Gateway::start_listening(&eras.config, &format!("127.0.0.1:{port}"), &[], &[]).await,
        );
    }
    let (_haproxy, base) = haproxy(&dir, &ports).await;

    // The 2025 sessions begin through the balancer, so their initialize and
    // initialized land on different replicas.
    let mut callers = Vec::new();
    for i in 0..LEGACY_CLIENTS {
        let path = if i % 2 == 0 { "/mcp/old" } else { "/mcp/dual" };
        let url = format!("{base}{path}");
        let answer = send("POST", &url, &[], Some(&initialize())).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let session = answer.session.clone().expect("a session id");
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = send(
            "POST",
            &url,
            &[("mcp-session-id", &session)],
            Some(&initialized),
        )
        .await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
        callers.push(Caller {
            name: format!("legacy{i}"),
            path,
            session: Some(session),
        });
    }
    for i in 0..MODERN_CLIENTS {
        let path = if i % 2 == 0 { "/mcp/new" } else { "/mcp/old" };
        callers.push(Caller {
            name: format!("modern{i}"),
            path,
            session: None,
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = callers
        .into_iter()
        .map(|caller| {
            tokio::spawn(run(
                caller,
                base.clone(),
                stop.clone(),
                killed.clone(),
                tally.clone(),
            ))
        })
        .collect();

    // Three replicas serving; then one killed under load.
    until_ok(&tally, CALLS_PER_PHASE, "before the kill").await;
    let victim = &mut replicas[1];
    victim.child.start_kill().unwrap();
    let status = tokio::time::timeout(LIMIT, victim.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    killed.store(true, Ordering::SeqCst);
    let at_kill = tally.ok.load(Ordering::SeqCst);

    // Two replicas serve everything; then the third comes back on its port.
    until_ok(&tally, at_kill + CALLS_PER_PHASE, "with one replica dead").await;
    replicas[1] =
        Gateway::start_listening(&eras.config, &format!("127.0.0.1:{}", ports[1]), &[], &[]).await;
    let restarted = tally.ok.load(Ordering::SeqCst);
    until_ok(&tally, restarted + CALLS_PER_PHASE, "after the restart").await;
    // The restarted replica is back in the rotation: it has answered calls.
    tokio::time::timeout(LIMIT, async {
        while served(&replicas[1]).await < 1.0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the restarted replica answered no call");

    stop.store(true, Ordering::SeqCst);
    let mut callers = Vec::new();
    for task in tasks {
        callers.push(tokio::time::timeout(LIMIT, task).await.unwrap().unwrap());
    }

    let wrong = tally.wrong.lock().unwrap().clone();
    assert!(
        wrong.is_empty(),
        "calls that should not have failed: {wrong:#?}"
    );
    let lost = tally.lost_in_flight.lock().unwrap().clone();
    assert!(
        lost.len() <= callers.len(),
        "more calls lost than were in flight (one per client): {lost:#?}"
    );
    // Every 2025 session lives on, on each replica, the restarted one included.
    for caller in callers.iter().filter(|c| c.session.is_some()) {
        for replica in &replicas {
            let answer = caller.call(&replica.base, 1_000_000).await.unwrap();
            assert_eq!(
                echoed(&answer),
                Some(format!("{}-1000000", caller.name).as_str()),
                "{} on {}: {answer:?}",
                caller.name,
                replica.base
            );
        }
    }
    // No session began anew upstream: the legacy upstream saw one initialize
    // per 2025 session on it, plus at most one pooled session per replica
    // process for the 2026-07-28 client on /mcp/old (four processes ran).
    let legacy_on_old = LEGACY_CLIENTS.div_ceil(2);
    let initializes = eras.old.seen_method("initialize").len();
    assert!(
        initializes <= legacy_on_old + 4,
        "{initializes} initialize requests reached the legacy upstream"
    );
    let total = tally.ok.load(Ordering::SeqCst);
    eprintln!(
        "scale_out: {total} calls answered, {} lost in flight at the kill: {lost:?}",
        lost.len()
    );
}
