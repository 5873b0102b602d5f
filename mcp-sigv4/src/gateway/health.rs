//! Health: `/health` says the process answers (liveness) and names nothing;
//! `/health/readiness`, behind the master key, probes each upstream (see
//! [`probe`](crate::probe)) and reports each as ready or failing, with the
//! cause. [`Gateway::watch`] probes them on an interval for `/metrics`.

use std::sync::PoisonError;
use std::time::Duration;

use ::http::{Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Map, Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::http::{self, Body};
use super::server::Gateway;
use crate::probe;
use crate::protocol::era::{Era, MODERN_VERSION};
use crate::relay;
use crate::telemetry;
use crate::upstream::UpstreamError;

/// The longest a readiness probe waits for one upstream.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Liveness: no server names, no upstream touched.
    pub(super) fn health(&self) -> Response<Body> {
        http::json(StatusCode::OK, &json!({"status": "ok"}))
    }

    /// Readiness: 200 when every upstream answers a probe round
    /// (`server/discover`, or `initialize` and `ping`), else 503; each
    /// server's state, era, tool count, latency and cause either way.
    pub(super) async fn readiness(&self) -> Response<Body> {
        let states: Map<String, Value> = self
            .probe_round()
            .await
            .into_iter()
            .map(|(name, round)| (name, describe(&round)))
            .collect();
        let ready = states.values().all(|s| s["ready"] == true);
        let (status, word) = if ready {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "failing")
        };
        http::json(status, &json!({"status": word, "servers": states}))
    }

    /// One probe round against every server at once, recorded on `/metrics`
    /// and logged when a server's state changes.
    async fn probe_round(&self) -> Vec<(String, probe::Round)> {
        let timeout = self.inner.options.request_timeout.min(PROBE_TIMEOUT);
        let rounds = self.inner.servers.iter().map(|server| async move {
            let upstream = self.upstream(server, None);
            let describe = |e: &UpstreamError| relay::describe(e, &server.signing).0;
            let round = probe::round(&upstream, timeout, Some(&describe)).await;
            let cause = round.state.as_ref().err().map(|down| down.cause.as_str());
            telemetry::metrics().probed(&server.name, round.latency, cause);
            self.log_change(&server.name, &round);
            (server.name.clone(), round)
        });
        futures_util::future::join_all(rounds).await
    }

    /// Log a server that went down (or was down at its first probe) and one
    /// that came back, once each.
    fn log_change(&self, name: &str, round: &probe::Round) {
        let was_up = self
            .inner
            .probed_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), round.is_up());
        match (&round.state, was_up) {
            (Err(down), Some(true) | None) => tracing::warn!(
                server = %name,
                cause = down.cause.as_str(),
                "server `{name}` is down: {}",
                down.detail
            ),
            (Ok(_), Some(false)) => tracing::info!(server = %name, "server `{name}` is up again"),
            _ => {}
        }
    }

    /// Probe every server each `every`, the first time `every` from now, until
    /// the runtime ends (`--probe-interval`, `general_settings.probe_interval`).
    pub fn watch(&self, every: Duration) -> tokio::task::JoinHandle<()>
    where
        C: Send + 'static,
    {
        let gateway = self.clone();
        tokio::spawn(async move {
            let first = tokio::time::Instant::now() + every;
            let mut ticks = tokio::time::interval_at(first, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                gateway.probe_round().await;
            }
        })
    }
}

/// A server's state in `/health/readiness`.
fn describe(round: &probe::Round) -> Value {
    let latency_ms = round.latency.as_secs_f64() * 1000.0;
    match &round.state {
        Ok(up) => json!({
            "ready": true,
            "era": match up.era { Era::Modern => MODERN_VERSION, Era::Legacy => "2025", },
            "tools": up.tools,
            "latency_ms": latency_ms,
        }),
        Err(down) => json!({
            "ready": false,
            "failure": down.cause.as_str(),
            "cause": down.detail,
            "latency_ms": latency_ms,
        }),
    }
}
