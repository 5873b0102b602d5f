//! `mcp-sigv4 gateway --config FILE`: one HTTP endpoint in front of the MCP
//! servers of a LiteLLM-style config file, each signed or authenticated with its
//! own credentials.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{Auth, Config, CredentialsSource, Secret, ServerConfig};
use crate::gateway::session::Sealer;
use crate::gateway::{
    self, AllowedHosts, Gateway, Limits, Lists, Options, ResourceServer, Server,
};
use crate::relay::{Settings, SigningContext};
use crate::{logging, shutdown, telemetry};
use tower_sigv4::endpoint;
use tower_sigv4::retry::RetryPolicy;
use tower_sigv4::rmcp::{SignedHttpService, TowerHttpClient};

/// Arguments of `mcp-sigv4 gateway`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Routes:
  POST|GET|DELETE /mcp/{server}  one server of the config file, its tools under their own names
                                 (LiteLLM's /{server}/mcp is the same route)
  POST|GET|DELETE /mcp           the server named by the x-litellm-mcp-server header or ?server=NAME,
                                 the only server when there is one, otherwise all of them, with tools,
                                 prompts and resources named {server}-{name} (see --separator)
  GET /mcp-rest/tools/list       LiteLLM's REST API: every server's tools (?server_id=NAME for one)
  POST /mcp-rest/tools/call      {\"server_id\", \"name\", \"arguments\"}, or a prefixed name alone
  GET /v1/mcp/server             the configured servers, without secrets
  GET /health                    liveness, without a key; names no server
  GET /health/readiness          each server reached and reported ready or failing (503 when one fails)
  GET /metrics                   Prometheus metrics (see --metrics, --metrics-listen)
Clients send Authorization: Bearer <general_settings.master_key> on every route but /health when the
config file sets one. With general_settings.oauth, clients may instead send an access token of its issuer;
GET /.well-known/oauth-protected-resource[/mcp[/{server}]] tells them where to get one (RFC 9728).

The config file is LiteLLM's config.yaml shape (mcp_servers, general_settings.master_key); every key is
in docs/configuration.md of the repository.
Replicas: give every replica the same general_settings.session_secret (or MCP_SIGV4_SESSION_SECRET) and put them behind any HTTP load balancer; no sticky sessions are needed.")]
pub struct Args {
    /// The configuration file.
    #[arg(long, value_name = "FILE")]
    config: std::path::PathBuf,
    /// Address to listen on: HOST:PORT, localhost:PORT, :PORT (every interface) or
    /// PORT (127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:4000", value_parser = parse_listen)]
    listen: SocketAddr,
    /// Listen on a non-loopback address without a master key.
    #[arg(long)]
    allow_unauthenticated: bool,
    /// A host name clients reach the gateway by (its `Host` and browser `Origin`),
    /// besides the loopback names; repeat it, or list them in
    /// general_settings.allowed_hosts. Needed behind a load balancer.
    #[arg(long = "allowed-host", value_name = "NAME")]
    allowed_hosts: Vec<String>,
    /// Between a server's name and a tool's when several servers share /mcp.
    #[arg(long, env = "MCP_TOOL_PREFIX_SEPARATOR", default_value = "-")]
    separator: String,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = tower_sigv4::sign::DEFAULT_MAX_BODY_SIZE)]
    max_body_size: usize,
    /// Seconds one request may wait for its reply.
    #[arg(long, default_value_t = 300.0)]
    tool_timeout: f64,
    /// Seconds a client may take to send a request's headers (and, on HTTP/1.1,
    /// the idle time a kept-alive connection may wait for its next request).
    #[arg(long, default_value_t = 10.0)]
    header_read_timeout: f64,
    /// Seconds a new connection may stay silent; HTTP/2 connections are pinged
    /// at this interval.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Seconds a client may take to send a request body.
    #[arg(long, default_value_t = 30.0)]
    body_read_timeout: f64,
    /// Seconds a session lasts from its initialize; then the client initializes anew.
    #[arg(long, default_value_t = 86_400.0)]
    session_ttl: f64,
    /// The most messages in one JSON-RPC batch.
    #[arg(long = "max-batch", default_value_t = 50)]
    max_batch_len: usize,
    /// Connections served at once; past it a few more are let in for /health only.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds in-flight requests may take to finish after SIGTERM or Ctrl-C.
    #[arg(long, default_value_t = 30.0)]
    drain_timeout: f64,
    /// Log level for stderr: off, error, warn, info, debug, trace, or a filter
    /// such as `info,tower_sigv4=debug`.
    #[arg(long, value_parser = logging::parse_level)]
    log_level: Option<String>,
    /// Seconds a server's list (tools/list and the like) is kept when its reply
    /// has no ttlMs (a 2025-era server); 0 keeps none. Overrides
    /// general_settings.list_cache_ttl. A 2026-07-28 server's ttlMs always
    /// applies, and a server's list_changed drops its lists.
    #[arg(long, value_name = "SECONDS")]
    list_cache_ttl: Option<f64>,
    /// Seconds between two probes of each server (server/discover, or
    /// initialize and ping), whose state /metrics exports as
    /// mcp_sigv4_upstream_up; 0 turns them off. Overrides
    /// general_settings.probe_interval.
    #[arg(long, env = "MCP_SIGV4_PROBE_INTERVAL", value_name = "SECONDS")]
    probe_interval: Option<f64>,
    /// Serve Prometheus metrics at /metrics on this address, without a key,
    /// instead of at /metrics on --listen behind the master key.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Count and serve Prometheus metrics (on), or neither (off: /metrics
    /// answers 404).
    #[arg(long, value_enum, env = "MCP_SIGV4_METRICS", default_value_t = Switch::On)]
    metrics: Switch,
    /// Append the audit trail (one JSON line per tools/call and per refused
    /// request) to this file instead of the log on stderr; SIGHUP reopens it
    /// (for log rotation).
    #[arg(long, value_name = "PATH")]
    audit_log: Option<std::path::PathBuf>,
    /// Write each tool call's argument values in its audit line (left out
    /// unless given: they may hold personal data or secrets).
    #[arg(long)]
    audit_arguments: bool,
}

/// A feature turned on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// Run `mcp-sigv4 gateway` to its end: until SIGINT or SIGTERM has drained
/// the connections, or a start-up failure, said on stderr.
pub fn main(args: Args, log_format: logging::LogFormat) -> ExitCode {
    logging::init(args.log_level.as_deref());
    if args.metrics == Switch::Off {
        telemetry::metrics::turn_off();
    }
    let audit = telemetry::audit::Settings {
        file: args.audit_log.clone(),
        arguments: args.audit_arguments,
        json_log: log_format == logging::LogFormat::Json,
    };
    match crate::runtime::Runtime::multi_thread("gateway").block_on(run(args, audit)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => {
            eprintln!("mcp-sigv4 gateway: {message}");
            ExitCode::from(2)
        }
        Err(code) => code,
    }
}

async fn run(args: Args, audit: telemetry::audit::Settings) -> Result<(), String> {
    // First: a SIGHUP while the gateway starts must not stop it either.
    reopen_audit_log_on_hangup();
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    config.log_notes();
    if config.servers.is_empty() {
        return Err(format!(
            "{}: mcp_servers lists no server; add at least one",
            args.config.display()
        ));
    }
    if let Some(key) = &config.master_key {
        check_key_length(key, "general_settings.master_key", MIN_MASTER_KEY_LEN)?;
    }
    if let Some(secret) = &config.session_secret {
        check_key_length(
            secret,
            "general_settings.session_secret (or MCP_SIGV4_SESSION_SECRET)",
            MIN_SESSION_SECRET_LEN,
        )?;
    }
    if config.master_key.is_none()
        && config.keys.is_empty()
        && config.oauth.is_none()
        && !args.listen.ip().is_loopback()
        && !args.allow_unauthenticated
    {
        return Err(format!(
            "refusing to listen on {} without a master key: anyone who reaches it could use the servers' credentials. Set general_settings.master_key, listen on 127.0.0.1, or pass --allow-unauthenticated",
            args.listen
        ));
    }
    let sealer = match &config.session_secret {
        Some(secret) => Sealer::new(secret.expose().trim().as_bytes()).map_err(|e| {
            format!("general_settings.session_secret (or MCP_SIGV4_SESSION_SECRET): {e}")
        })?,
        None => {
            tracing::warn!(
                "no session_secret: sessions continue only on this process; give every replica the same general_settings.session_secret or MCP_SIGV4_SESSION_SECRET"
            );
            Sealer::random()
        }
    };
    let timeout = crate::flags::seconds(args.tool_timeout);
    let served: Vec<&ServerConfig> = config.servers.iter().collect();
    let servers = served
        .iter()
        .map(|server| upstream(server, timeout))
        .collect::<Result<Vec<_>, _>>()?;
    let oauth = match (&config.oauth, &config.public_url) {
        (Some(settings), Some(public_url)) => {
            let oauth = ResourceServer::new(public_url, settings)?;
            oauth.start();
            // The first fetch is done (or has failed) before the port opens:
            // at most the fetch's own timeout, twice (discovery, then keys).
            oauth
                .first_attempt(std::time::Duration::from_secs(21))
                .await;
            tracing::info!(issuer = %settings.issuer, "OAuth: access tokens of the issuer are accepted for {public_url}");
            Some(std::sync::Arc::new(oauth))
        }
        _ => None,
    };
    // Clients connect at public_url: its host is one the gateway answers to.
    let public_host = config
        .public_url
        .as_deref()
        .and_then(|url| url.parse::<http::Uri>().ok())
        .and_then(|uri| uri.host().map(str::to_owned));
    let options = Options {
        oauth,
        master_key: config.master_key.as_ref().map(|k| k.expose().to_owned()),
        separator: args.separator.clone(),
        max_body_size: args.max_body_size,
        request_timeout: timeout,
        resume_attempts: 3,
        body_read_timeout: crate::flags::seconds(args.body_read_timeout),
        max_batch_len: args.max_batch_len,
        session_ttl: crate::flags::seconds(args.session_ttl),
        allowed_hosts: AllowedHosts::new(
            args.listen.ip().is_loopback(),
            config
                .allowed_hosts
                .iter()
                .chain(&args.allowed_hosts)
                .chain(&public_host),
        ),
        list_cache_ttl: args
            .list_cache_ttl
            .map(seconds_or_zero)
            .or(config.list_cache_ttl)
            .unwrap_or(DEFAULT_LIST_CACHE_TTL),
        keys: config.keys.clone(),
        access: config.access.clone(),
    };
    if !options.allowed_hosts.checks_host() {
        tracing::warn!(
            "no allowed_hosts: any Host header is accepted on {}; list the names clients use in general_settings.allowed_hosts or --allowed-host",
            args.listen
        );
    }
    let names: Vec<&str> = served.iter().map(|s| s.name.as_str()).collect();
    let gateway = Gateway::new(servers, sealer, options);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {}: {e}; choose another --listen",
                args.listen
            )
        })?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let limits = Limits {
        header_read_timeout: crate::flags::seconds(args.header_read_timeout),
        idle_timeout: crate::flags::seconds(args.idle_timeout),
        max_connections: args.max_connections,
        drain: crate::flags::seconds(args.drain_timeout),
    };
    if let Some(metrics) = args.metrics_listen {
        if args.metrics == Switch::Off {
            return Err("--metrics-listen with --metrics off: there would be no metrics to serve; drop one of the two".to_owned());
        }
        serve_metrics_apart(metrics, limits.clone()).await?;
    }
    let probe_interval = args
        .probe_interval
        .map(seconds_or_zero)
        .or(config.probe_interval)
        .unwrap_or(DEFAULT_PROBE_INTERVAL);
    if !probe_interval.is_zero() {
        // The first round after one interval: a gateway starting touches no
        // server before its clients do.
        gateway.watch(probe_interval);
    }
    telemetry::audit::init(audit)?;
    tracing::info!(servers = ?names, "listening on http://{address}/mcp");
    gateway::serve(gateway, listener, shutdown::on_signals(), limits).await;
    telemetry::audit::flush();
    Ok(())
}

/// On each SIGHUP, open the `--audit-log` file anew (logrotate's `postrotate`
/// sends one once it has moved the file away). SIGHUP's default, to end the
/// process, never applies to the gateway.
#[cfg(unix)]
fn reopen_audit_log_on_hangup() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => hangup,
        Err(e) => {
            tracing::warn!(
                "cannot listen for SIGHUP ({e}): a SIGHUP would stop the gateway; rotate the --audit-log file with logrotate's copytruncate instead"
            );
            return;
        }
    };
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match telemetry::audit::reopen() {
                Ok(Some(path)) => {
                    tracing::info!(path = %path.display(), "SIGHUP: audit log reopened");
                }
                Ok(None) => tracing::info!(
                    "SIGHUP: no --audit-log to reopen (the trail goes to the log, or is not open yet); the gateway goes on"
                ),
                Err(message) => tracing::warn!("SIGHUP: {message}"),
            }
        }
    });
}

#[cfg(not(unix))]
fn reopen_audit_log_on_hangup() {}

/// Serve /metrics on `address` only, from a task that lasts as long as the runtime.
async fn serve_metrics_apart(address: SocketAddr, limits: Limits) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}; choose another --metrics-listen"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    telemetry::metrics().serve_apart();
    tokio::spawn(gateway::serve_metrics(listener, limits));
    tracing::info!("metrics on http://{bound}/metrics");
    Ok(())
}

/// How long a list without `ttlMs` is kept when neither `--list-cache-ttl` nor
/// `general_settings.list_cache_ttl` says.
const DEFAULT_LIST_CACHE_TTL: Duration = Duration::from_secs(60);

/// How often each server is probed when neither `--probe-interval` nor
/// `general_settings.probe_interval` says.
const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// A seconds flag where 0 (or less) means "off".
fn seconds_or_zero(value: f64) -> Duration {
    if value > 0.0 {
        crate::flags::seconds(value)
    } else {
        Duration::ZERO
    }
}

/// The shortest master key accepted: a key clients present on every request.
const MIN_MASTER_KEY_LEN: usize = 16;
/// The shortest session secret accepted: the key that seals every session.
const MIN_SESSION_SECRET_LEN: usize = 32;

/// Refuse an empty or short key at start (an empty `os.environ/` value is set,
/// and would otherwise admit an empty presented key), naming the key and never
/// showing its value.
fn check_key_length(key: &Secret, name: &str, min: usize) -> Result<(), String> {
    let length = key.expose().trim().len();
    if length >= min {
        return Ok(());
    }
    let what = if length == 0 {
        "is empty".to_owned()
    } else {
        format!("has {length} characters")
    };
    Err(format!(
        "{name} {what}; it must have at least {min}: generate one with `openssl rand -hex 32`"
    ))
}

/// `--listen`: `HOST:PORT` (a name is resolved, `localhost` without asking DNS),
/// `[IPv6]:PORT`, `:PORT` for every interface, or `PORT` alone for 127.0.0.1.
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    use std::net::{Ipv4Addr, ToSocketAddrs};
    let value = value.trim();
    let port = |text: &str| {
        text.parse::<u16>().map_err(|_| {
            format!("`{text}` is not a port (0 to 65535); expected HOST:PORT, :PORT or PORT")
        })
    };
    if let Ok(address) = value.parse::<SocketAddr>() {
        return Ok(address);
    }
    if !value.contains(':') {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port(value)?)));
    }
    let (host, text) = value.rsplit_once(':').unwrap_or_default();
    let port = port(text)?;
    match host {
        "" | "*" => Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
        "localhost" => Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        host => (host, port)
            .to_socket_addrs()
            .map_err(|e| {
                format!("cannot resolve `{host}`: {e}; give an IP address, e.g. 127.0.0.1:{port}")
            })?
            .next()
            .ok_or_else(|| {
                format!(
                    "`{host}` resolves to no address; give an IP address, e.g. 127.0.0.1:{port}"
                )
            }),
    }
}

/// The client, headers and signing context of one configured server.
fn upstream(
    server: &ServerConfig,
    timeout: Duration,
) -> Result<Server<TowerHttpClient<SignedHttpService>>, String> {
    let lists = std::sync::Arc::new(Lists::default());
    let notices = lists.clone();
    let metrics = telemetry::metrics();
    let signs = matches!(server.auth, Auth::SigV4 { .. }) && metrics.on();
    let mut credentials = None;
    let name = server.name.clone();
    let retries = RetryPolicy::default().on_retry(move |reason| metrics.retry(&name, reason));
    let client = server
        .http_client_notifying(
            |builder| {
                // Past the gateway's own --tool-timeout, so that a slow reply reads as
                // the timeout it is (and is cancelled upstream), not as a transport error.
                builder
                    .signing(|s| {
                        let s = s.signed_headers(telemetry::traces::signed_headers());
                        if !signs {
                            return s;
                        }
                        // The metrics read the signer's credentials cache: build it
                        // here and hand the signer that same cache.
                        match s.clone().build_signer() {
                            Ok(signer) => {
                                let cache = signer.credentials().clone();
                                credentials = Some(cache.clone());
                                s.credentials_cache(cache)
                            }
                            Err(_) => s,
                        }
                    })
                    .timeout(timeout.saturating_add(Duration::from_secs(5)))
                    .retry(retries)
            },
            std::sync::Arc::new(move |message: &serde_json::Value| {
                notices.notice(message);
            }),
        )
        .map_err(|e| {
            format!(
                "MCP server `{}`: {}",
                server.name,
                crate::advice::library(&e)
            )
        })?;
    if let Some(cache) = credentials {
        metrics.watch_credentials(&server.name, cache);
    }
    let headers = server
        .headers()
        .map_err(|e| crate::advice::library(&e))?;
    let (service, region, credentials) = match &server.auth {
        Auth::SigV4 {
            region,
            service,
            credentials,
        } => (
            Some(service.clone()),
            Some(region.clone()),
            describe_credentials(credentials),
        ),
        other => (
            None,
            None,
            format!("the `{}` auth of the config file", other.auth_type()),
        ),
    };
    let settings = Settings {
        service: format!("aws_service_name of server `{}`", server.name),
        region: format!("aws_region_name of server `{}`", server.name),
        credentials: format!(
            "aws_profile, aws_role_name or aws_access_key_id/aws_secret_access_key of server `{}`",
            server.name
        ),
        retries: "fewer concurrent requests".to_owned(),
        max_body_size: "--max-body-size".to_owned(),
    };
    Ok(Server {
        name: server.name.clone(),
        url: server.url.as_str().into(),
        client,
        headers,
        transport: server.transport.name(),
        auth_type: server.auth.auth_type(),
        description: server.description.clone(),
        tools: server.tools.clone(),
        extra_headers: server.extra_headers.clone(),
        lists,
        signing: SigningContext {
            service,
            region,
            inferred: endpoint::infer(&server.url),
            credentials,
            settings,
        },
    })
}

fn describe_credentials(source: &CredentialsSource) -> String {
    match source {
        CredentialsSource::DefaultChain {
            profile: Some(profile),
        } => format!("profile `{profile}`"),
        CredentialsSource::DefaultChain { profile: None } => {
            "the default credential chain".to_owned()
        }
        CredentialsSource::Static { access_key_id, .. } => {
            format!("the config file's keys (access key {access_key_id})")
        }
        CredentialsSource::AssumeRole { role_arn, .. } => format!("the assumed role {role_arn}"),
    }
}
