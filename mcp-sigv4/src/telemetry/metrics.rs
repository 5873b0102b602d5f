//! The gateway's metrics, in one process-wide registry (as Prometheus clients
//! keep their default registry): the code paths record with one call, and
//! `/metrics` encodes the lot in the Prometheus text format.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime};

use ::http::{Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::Full;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::Value;
use tower_sigv4::credentials::CredentialsCache;
use tower_sigv4::retry::RetryReason;

use super::audit;

/// The most tool names remembered per server; past it, new names are `other`.
const MAX_TOOLS_PER_SERVER: usize = 1000;

/// The MCP methods a label may name; anything else is `other`.
const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
];

/// The path a request was for, as a bounded label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Route {
    /// `/mcp`: one server chosen by header, or all of them.
    mcp,
    /// `/mcp/{server}`.
    mcp_server,
    /// `/health` and `/health/readiness`.
    health,
    /// `/metrics`.
    metrics,
    /// Any other path (answered 404).
    other,
}

impl Route {
    /// The path template of the route, as traces name it.
    pub fn template(self) -> &'static str {
        match self {
            Self::mcp => "/mcp",
            Self::mcp_server => "/mcp/{server}",
            Self::health => "/health",
            Self::metrics => "/metrics",
            Self::other => "other",
        }
    }

    /// The route of `path`.
    pub fn of(path: &str) -> Self {
        match path.trim_end_matches('/') {
            "/mcp" => Self::mcp,
            p if p.starts_with("/mcp/") => Self::mcp_server,
            "/health" | "/health/readiness" => Self::health,
            "/metrics" => Self::metrics,
            _ => Self::other,
        }
    }
}

/// How one MCP request to one server ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// A result, or a notification accepted.
    ok,
    /// The server answered with a JSON-RPC error.
    error,
    /// A `tools/call` result with `isError: true`: the tool failed, the MCP
    /// layer did not.
    tool_error,
    /// The exchange failed: refused signature, HTTP error, transport.
    upstream_error,
    /// No reply within `--tool-timeout`.
    timeout,
    /// The client went away first.
    cancelled,
}

/// How the gateway's list cache answered one list request, counted by
/// [`Metrics::list_cache`] as `mcp_sigv4_list_cache_total`.
///
/// ```
/// use mcp_sigv4::telemetry::{ListCacheOutcome, metrics};
///
/// metrics().list_cache("github", "tools/list", ListCacheOutcome::shared);
/// assert!(metrics().encode().contains(
///     r#"mcp_sigv4_list_cache_total{server="github",method="tools/list",outcome="shared"} 1"#
/// ));
/// ```
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ListCacheOutcome {
    /// From a kept page.
    hit,
    /// Fetched from the server, and kept if it may be.
    miss,
    /// The result of the same fetch already in flight for another request.
    shared,
    /// Fetched from the server and never kept: a request that cannot be (it
    /// carries more than a `cursor`, as the retry of a multi round-trip
    /// request does).
    bypass,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListCacheLabels {
    server: String,
    method: &'static str,
    outcome: ListCacheOutcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: Route,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    server: String,
    method: &'static str,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    server: String,
    method: &'static str,
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EraLabels {
    era: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    server: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    server: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdentityLabels {
    identity: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    server: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeFailureLabels {
    server: String,
    cause: &'static str,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Latency = Family<LatencyLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms to about 5 min: a cached list to a long tool call.
    Histogram::new(exponential_buckets(0.005, 2.0, 17))
}

/// The gateway's metrics. Get them with [`metrics`].
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    list_cache: Family<ListCacheLabels, Counter>,
    latency: Latency,
    eras: Family<EraLabels, Counter>,
    upstream_responses: Family<StatusLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    identities: Family<IdentityLabels, Counter>,
    retries: Family<RetryLabels, Counter>,
    credentials: Credentials,
    in_flight: Gauge,
    streams: Gauge,
    sessions_started: Counter,
    sessions_ended: Counter,
    upstream_up: Family<ServerLabel, Gauge>,
    probe_duration: Family<ServerLabel, FloatGauge>,
    probe_failures: Family<ProbeFailureLabels, Counter>,
    last_probe_failure: Family<ProbeFailureLabels, FloatGauge>,
    tools: Mutex<HashMap<String, HashSet<String>>>,
    served_apart: AtomicBool,
    on: bool,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(|| Metrics::new(true))
}

/// Turn the metrics off (`--metrics off`), before anything records one: then
/// nothing is counted and [`Metrics::on`] is `false`. Without effect once
/// [`metrics`] was called.
pub fn turn_off() {
    let _ = METRICS.set(Metrics::new(false));
}

impl Metrics {
    fn new(on: bool) -> Self {
        let mut registry = Registry::with_prefix("mcp_sigv4");
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests to the gateway by route and status code",
            http_requests.clone(),
        );
        let requests = Family::default();
        registry.register(
            "requests",
            "MCP requests sent to a server, by server, MCP method and outcome",
            requests.clone(),
        );
        let list_cache = Family::default();
        registry.register(
            "list_cache",
            "List requests (tools/list, prompts/list, resources/list, resources/templates/list) by server, method and how the list cache answered: hit, miss (fetched), shared (joined the same fetch in flight), bypass (a request that is never kept)",
            list_cache.clone(),
        );
        let latency: Latency = Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its server's last reply, by server, MCP method and tool (tools/call only; tools the server did not list are `other`)",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        let eras = Family::default();
        registry.register(
            "protocol_era_requests",
            "MCP requests by the client's protocol era: legacy (2025-03-26 to 2025-11-25, sessions) or modern (2026-07-28, stateless)",
            eras.clone(),
        );
        let upstream_responses = Family::default();
        registry.register(
            "upstream_responses",
            "Replies from the servers by HTTP status code (`none` when no HTTP reply came: transport failure or unsigned request)",
            upstream_responses.clone(),
        );
        let refusals = Family::default();
        registry.register(
            "signing_refusals",
            "Requests refused for their signature or credentials (AWS's error kind), rate-limited, or that could not be signed (NotSigned)",
            refusals.clone(),
        );
        let identities = Family::default();
        registry.register(
            "identity_requests",
            "Requests by identity (a named key's name, the access rules that matched, master or anonymous; never an OAuth subject) and whether its rate limit let them through (allowed, rate_limited)",
            identities.clone(),
        );
        let retries = Family::default();
        registry.register(
            "retries",
            "Requests to a server sent again, by server and the reason: throttled (429), unavailable (503), server_error (500, 502, 504), connect, interrupted",
            retries.clone(),
        );
        let credentials = Credentials::default();
        registry.register_collector(Box::new(credentials.clone()));
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "HTTP requests being answered",
            in_flight.clone(),
        );
        let streams = Gauge::default();
        registry.register(
            "streams_open",
            "SSE streams from the servers being relayed to clients",
            streams.clone(),
        );
        let sessions_started = Counter::default();
        registry.register(
            "sessions_started",
            "Sessions begun with initialize (sessions are sealed into their id and live on no replica, so they are counted, not held)",
            sessions_started.clone(),
        );
        let sessions_ended = Counter::default();
        registry.register(
            "sessions_ended",
            "Sessions ended by the client with DELETE",
            sessions_ended.clone(),
        );
        let upstream_up = Family::default();
        registry.register(
            "upstream_up",
            "1 when the server's last probe (--probe-interval) was answered as MCP (server/discover, or initialize and ping), 0 when it failed",
            upstream_up.clone(),
        );
        let probe_duration = Family::default();
        registry.register_with_unit(
            "upstream_probe_duration",
            "How long the server's last probe took, tools/list included",
            prometheus_client::registry::Unit::Seconds,
            probe_duration.clone(),
        );
        let probe_failures = Family::default();
        registry.register(
            "upstream_probe_failures",
            "Failed probes by server and cause: transport (no HTTP reply), auth (401, 403, not signed), http (another error status), protocol (no MCP answer), timeout",
            probe_failures.clone(),
        );
        let last_probe_failure = Family::default();
        registry.register(
            "upstream_probe_last_failure_timestamp",
            "When the server's probe last failed with each cause, in seconds since the epoch (the newest is the last failure's cause)",
            last_probe_failure.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The running mcp-sigv4's version", build);
        Self {
            registry,
            http_requests,
            requests,
            list_cache,
            latency,
            eras,
            upstream_responses,
            refusals,
            identities,
            retries,
            credentials,
            in_flight,
            streams,
            sessions_started,
            sessions_ended,
            upstream_up,
            probe_duration,
            probe_failures,
            last_probe_failure,
            tools: Mutex::default(),
            served_apart: AtomicBool::new(false),
            on,
        }
    }

    /// Whether metrics are counted and served (`--metrics on`, the default).
    pub fn on(&self) -> bool {
        self.on
    }

    /// Count a retry of a request to `server`.
    pub fn retry(&self, server: &str, reason: RetryReason) {
        if !self.on {
            return;
        }
        self.retries
            .get_or_create(&RetryLabels {
                server: server.to_owned(),
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Report the loads, refreshes and expiry of `server`'s credentials, read
    /// from its signer's cache at each scrape.
    pub fn watch_credentials(&self, server: &str, cache: CredentialsCache) {
        if !self.on {
            return;
        }
        self.credentials
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((server.to_owned(), cache));
    }

    /// Count a list request to `server` by how the list cache answered it.
    /// `method` is one of the four list methods (the only ones the cache
    /// answers); a method outside the specification's is not counted.
    ///
    /// ```
    /// use mcp_sigv4::telemetry::{ListCacheOutcome, metrics};
    ///
    /// metrics().list_cache("github", "prompts/list", ListCacheOutcome::miss);
    /// metrics().list_cache("github", "x/unknown", ListCacheOutcome::miss);
    /// let text = metrics().encode();
    /// assert!(text.contains(
    ///     r#"mcp_sigv4_list_cache_total{server="github",method="prompts/list",outcome="miss"} 1"#
    /// ));
    /// assert!(!text.contains("x/unknown"));
    /// ```
    pub fn list_cache(&self, server: &str, method: &str, outcome: ListCacheOutcome) {
        if !self.on {
            return;
        }
        let Some(method) = METHODS.iter().find(|known| **known == method).copied() else {
            return;
        };
        self.list_cache
            .get_or_create(&ListCacheLabels {
                server: server.to_owned(),
                method,
                outcome,
            })
            .inc();
    }

    /// Count a request of the identity named `identity` (a key's or rules'
    /// name, never an OAuth subject), `allowed` by its rate limit or not.
    ///
    /// ```
    /// use mcp_sigv4::telemetry::metrics;
    ///
    /// metrics().identity_request("ci-bot", false);
    /// assert!(metrics().encode().contains(
    ///     r#"mcp_sigv4_identity_requests_total{identity="ci-bot",outcome="rate_limited"} 1"#
    /// ));
    /// ```
    pub fn identity_request(&self, identity: &str, allowed: bool) {
        if !self.on {
            return;
        }
        self.identities
            .get_or_create(&IdentityLabels {
                identity: identity.to_owned(),
                outcome: if allowed { "allowed" } else { "rate_limited" },
            })
            .inc();
    }

    /// Count an answered HTTP request.
    pub fn http_request(&self, route: Route, status: StatusCode) {
        if !self.on {
            return;
        }
        self.http_requests
            .get_or_create(&HttpLabels {
                route,
                status: status.as_u16(),
            })
            .inc();
    }

    /// Count a request in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight {
        InFlight::new(self.on.then_some(&self.in_flight))
    }

    /// Count a relayed stream open until the guard is dropped.
    pub fn stream(&self) -> InFlight {
        InFlight::new(self.on.then_some(&self.streams))
    }

    /// Start timing `message` to `server`; the outcome is counted when the
    /// observation is finished or dropped (dropped unfinished: `cancelled`).
    /// A `tools/call` is also written to the [audit trail](audit) when it ends.
    pub fn observe(&'static self, server: &str, message: &Value, modern: bool) -> Observation {
        let audit = audit::Call::start(server, message);
        if !self.on {
            return Observation {
                metrics: self,
                server: String::new(),
                method: "",
                tool: String::new(),
                started: Instant::now(),
                outcome: None,
                audit,
            };
        }
        let method = bounded_method(message);
        let tool = match method {
            "tools/call" => self.tool_label(server, message),
            _ => String::new(),
        };
        self.eras
            .get_or_create(&EraLabels {
                era: if modern { "modern" } else { "legacy" },
            })
            .inc();
        Observation {
            metrics: self,
            server: server.to_owned(),
            method,
            tool,
            started: Instant::now(),
            outcome: Some(Outcome::cancelled),
            audit,
        }
    }

    /// Count a server's HTTP reply (`None`: no HTTP reply came).
    pub fn upstream_status(&self, server: &str, status: Option<u16>) {
        if let Some(status) = status {
            tracing::Span::current().record("http.response.status_code", status);
        }
        if !self.on {
            return;
        }
        let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        self.upstream_responses
            .get_or_create(&StatusLabels {
                server: server.to_owned(),
                status,
            })
            .inc();
    }

    /// Count a failed exchange from its description (`relay::describe`'s
    /// data): its HTTP status, and its kind when AWS refused the signature or
    /// the credentials, or throttled. `unsigned`: the request could not be signed.
    pub fn upstream_failed(&self, server: &str, data: &Value, unsigned: bool) {
        let status = data.get("status").and_then(Value::as_u64);
        self.upstream_status(server, status.and_then(|s| u16::try_from(s).ok()));
        if !self.on {
            return;
        }
        let kind = match data.get("kind").and_then(Value::as_str) {
            _ if unsigned => "NotSigned",
            Some(
                kind @ ("InvalidSignature"
                | "SignatureExpired"
                | "ExpiredToken"
                | "UnrecognizedClient"
                | "AccessDenied"
                | "MissingAuthentication"
                | "Throttling"),
            ) => kind,
            _ => return,
        };
        self.refusals
            .get_or_create(&RefusalLabels {
                server: server.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Count a session begun.
    pub fn session_started(&self) {
        if self.on {
            self.sessions_started.inc();
        }
    }

    /// Count a session ended with DELETE.
    pub fn session_ended(&self) {
        if self.on {
            self.sessions_ended.inc();
        }
    }

    /// Record a probe of `server` that took `latency`: up, or failed with the
    /// bounded `cause` (the label of a probe's cause: `transport`, `auth`,
    /// `http`, `protocol`, `timeout`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use mcp_sigv4::telemetry::metrics;
    ///
    /// metrics().probed("docs", Duration::from_millis(20), Some("transport"));
    /// let text = metrics().encode();
    /// assert!(text.contains(r#"mcp_sigv4_upstream_up{server="docs"} 0"#));
    /// assert!(text.contains(r#"mcp_sigv4_upstream_probe_failures_total{server="docs",cause="transport"} 1"#));
    /// ```
    pub fn probed(&self, server: &str, latency: std::time::Duration, cause: Option<&'static str>) {
        if !self.on {
            return;
        }
        let label = ServerLabel {
            server: server.to_owned(),
        };
        self.upstream_up
            .get_or_create(&label)
            .set(i64::from(cause.is_none()));
        self.probe_duration
            .get_or_create(&label)
            .set(latency.as_secs_f64());
        if let Some(cause) = cause {
            let labels = ProbeFailureLabels {
                server: server.to_owned(),
                cause,
            };
            self.probe_failures.get_or_create(&labels).inc();
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.last_probe_failure
                .get_or_create(&labels)
                .set(now.as_secs_f64());
        }
    }

    /// Remember the tool names of a `tools/list` reply from `server`, so that
    /// calls to them get their own label.
    pub fn learn_tools(&self, server: &str, reply: &Value) {
        if !self.on {
            return;
        }
        let Some(tools) = reply.pointer("/result/tools").and_then(Value::as_array) else {
            return;
        };
        let mut known = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        let names = known.entry(server.to_owned()).or_default();
        for name in tools.iter().filter_map(|t| t.get("name")?.as_str()) {
            if names.len() >= MAX_TOOLS_PER_SERVER {
                break;
            }
            names.insert(name.to_owned());
        }
    }

    fn tool_label(&self, server: &str, message: &Value) -> String {
        let Some(name) = message.pointer("/params/name").and_then(Value::as_str) else {
            return "other".to_owned();
        };
        let known = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        match known.get(server) {
            Some(names) if names.contains(name) => name.to_owned(),
            _ => "other".to_owned(),
        }
    }

    /// Serve `/metrics` on an address of its own: the gateway's listener then
    /// answers it with 404.
    pub fn serve_apart(&self) {
        self.served_apart.store(true, Ordering::SeqCst);
    }

    /// Whether `/metrics` is served on an address of its own.
    pub fn served_apart(&self) -> bool {
        self.served_apart.load(Ordering::SeqCst)
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// The `/metrics` response.
    pub fn response(&self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::from(self.encode()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        response
    }
}

/// The label of `message`'s method: one of the specification's, `response`
/// for a client's reply, or `other`.
fn bounded_method(message: &Value) -> &'static str {
    match message.get("method").and_then(Value::as_str) {
        Some(method) => METHODS
            .iter()
            .find(|known| **known == method)
            .copied()
            .unwrap_or("other"),
        None => "response",
    }
}

/// A gauge raised while this lives (none when metrics are off).
#[derive(Debug)]
pub struct InFlight(Option<Gauge>);

impl InFlight {
    fn new(gauge: Option<&Gauge>) -> Self {
        Self(gauge.map(|gauge| {
            gauge.inc();
            gauge.clone()
        }))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.dec();
        }
    }
}

/// The signers' credentials caches by server, read at each scrape: loads and
/// refreshes come from the cache's own counts, and the seconds left are
/// computed from the expiry then, not when it was loaded.
#[derive(Clone, Debug, Default)]
struct Credentials(Arc<Mutex<Vec<(String, CredentialsCache)>>>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoadLabels {
    server: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

impl Collector for Credentials {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let caches = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if caches.is_empty() {
            return Ok(());
        }
        let mut loads = encoder.encode_descriptor(
            "credentials_loads",
            "Credentials loads by server: load (none valid were cached), refresh (ahead of the expiry) and error (the provider failed or timed out)",
            None,
            MetricType::Counter,
        )?;
        for (server, cache) in caches.iter() {
            let counts = cache.load_counts();
            for (outcome, count) in [
                ("load", counts.loads),
                ("refresh", counts.refreshes),
                ("error", counts.failures),
            ] {
                let labels = LoadLabels {
                    server: server.clone(),
                    outcome,
                };
                ConstCounter::new(count).encode(loads.encode_family(&labels)?)?;
            }
        }
        let now = SystemTime::now();
        let mut expiry = encoder.encode_descriptor(
            "credentials_expiry",
            "Seconds until the server's current credentials expire (negative: expired; absent: no expiry, or none loaded yet)",
            Some(&prometheus_client::registry::Unit::Seconds),
            MetricType::Gauge,
        )?;
        for (server, cache) in caches.iter() {
            let Some(expires) = cache.cached_expiry() else {
                continue;
            };
            let left = match expires.duration_since(now) {
                Ok(left) => left.as_secs_f64(),
                Err(past) => -past.duration().as_secs_f64(),
            };
            ConstGauge::new(left).encode(expiry.encode_family(&ServerLabel {
                server: server.clone(),
            })?)?;
        }
        Ok(())
    }
}

/// One MCP request to one server, timed from its arrival.
#[derive(Debug)]
pub struct Observation {
    metrics: &'static Metrics,
    server: String,
    method: &'static str,
    tool: String,
    started: Instant,
    outcome: Option<Outcome>,
    audit: Option<audit::Call>,
}

impl Observation {
    /// End with `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }

    /// End with a refusal of the gateway's own, before the request was sent:
    /// counted as an `error`, written to the audit trail as `refused` for
    /// `reason` (it never reached the server).
    pub fn refused(mut self, reason: &str) {
        if let Some(call) = self.audit.take() {
            call.finish(audit::Outcome::Refused, Some(reason));
        }
        self.finish(Outcome::error);
    }

    /// End with the server's reply (a result or a JSON-RPC error); a
    /// `tools/list` reply teaches the tool names.
    pub fn reply(self, reply: &Value) {
        if self.method == "tools/list" {
            self.metrics.learn_tools(&self.server, reply);
        }
        let outcome = if reply.get("error").is_some() {
            Outcome::error
        } else if reply.pointer("/result/isError") == Some(&Value::Bool(true)) {
            Outcome::tool_error
        } else {
            Outcome::ok
        };
        self.finish(outcome);
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        let outcome = self.outcome.take();
        if let Some(call) = self.audit.take() {
            let (audited, reason) = audit_outcome(outcome.unwrap_or(Outcome::cancelled));
            call.finish(audited, reason);
        }
        let Some(outcome) = outcome else {
            return;
        };
        let server = std::mem::take(&mut self.server);
        self.metrics
            .latency
            .get_or_create(&LatencyLabels {
                server: server.clone(),
                method: self.method,
                tool: std::mem::take(&mut self.tool),
            })
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                server,
                method: self.method,
                outcome,
            })
            .inc();
    }
}

/// How the audit trail names an outcome, and the failure's kind.
fn audit_outcome(outcome: Outcome) -> (audit::Outcome, Option<&'static str>) {
    match outcome {
        Outcome::ok => (audit::Outcome::Ok, None),
        Outcome::tool_error => (audit::Outcome::ToolError, None),
        Outcome::error => (audit::Outcome::UpstreamError, Some("error_reply")),
        Outcome::upstream_error => (audit::Outcome::UpstreamError, Some("exchange_failed")),
        Outcome::timeout => (audit::Outcome::UpstreamError, Some("timeout")),
        Outcome::cancelled => (audit::Outcome::UpstreamError, Some("cancelled")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn methods_and_tools_outside_the_known_ones_are_other() {
        assert_eq!(
            bounded_method(&json!({"method": "tools/call"})),
            "tools/call"
        );
        assert_eq!(bounded_method(&json!({"method": "x/anything"})), "other");
        assert_eq!(bounded_method(&json!({"id": 1, "result": {}})), "response");
        let m = metrics();
        m.learn_tools("unit-a", &json!({"result": {"tools": [{"name": "echo"}]}}));
        let call = |name: &str| json!({"method": "tools/call", "params": {"name": name}});
        assert_eq!(m.tool_label("unit-a", &call("echo")), "echo");
        assert_eq!(m.tool_label("unit-a", &call("unlisted")), "other");
        assert_eq!(m.tool_label("unit-b", &call("echo")), "other");
    }

    #[test]
    fn a_tool_error_is_counted_apart_from_mcp_failures() {
        let m = metrics();
        let call = json!({"method": "tools/call", "id": 1, "params": {"name": "t"}});
        m.observe("unit-t", &call, false)
            .reply(&json!({"id": 1, "result": {"content": [], "isError": true}}));
        m.observe("unit-t", &call, false)
            .reply(&json!({"id": 1, "error": {"code": -32603, "message": "no"}}));
        m.observe("unit-t", &call, false)
            .reply(&json!({"id": 1, "result": {"content": [], "isError": false}}));
        let text = m.encode();
        for outcome in ["tool_error", "error", "ok"] {
            let series = format!(
                r#"mcp_sigv4_requests_total{{server="unit-t",method="tools/call",outcome="{outcome}"}} 1"#
            );
            assert!(text.contains(&series), "{series} in {text}");
        }
    }

    #[test]
    fn an_unfinished_observation_counts_as_cancelled() {
        let m = metrics();
        drop(m.observe("unit-c", &json!({"method": "ping", "id": 1}), true));
        m.observe("unit-c", &json!({"method": "ping", "id": 2}), false)
            .reply(&json!({"id": 2, "error": {"code": -1, "message": "no"}}));
        let text = m.encode();
        assert!(
            text.contains(
                r#"mcp_sigv4_requests_total{server="unit-c",method="ping",outcome="cancelled"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_sigv4_requests_total{server="unit-c",method="ping",outcome="error"} 1"#
            ),
            "{text}"
        );
    }
}
