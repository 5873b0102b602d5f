//! `mcp-sigv4 proxy ENDPOINT`: an MCP host's stdio to a SigV4-signed streamable
//! HTTP endpoint, through the relay engine.

use std::collections::HashMap;
use std::process::ExitCode;

use http::{HeaderName, HeaderValue};
use crate::config::{OAuth2ClientCredentials, Secret};
use crate::relay::{Options, Policy, Relay, Settings, SigningContext};
use crate::upstream::Upstream;
use crate::{logging, shutdown, stdio};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tower_sigv4::endpoint;
use tower_sigv4::retry::RetryPolicy;
use tower_sigv4::rmcp::{TowerHttpClient, TransportBuilder};
use tower_sigv4::unstable;

/// Arguments of `mcp-sigv4 proxy`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Logs go to stderr; the level comes from --log-level, MCP_SIGV4_LOG or RUST_LOG (in that order).
Credentials come from the AWS default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, --profile or AWS_PROFILE (SSO included), web identity, ECS, EC2."
)]
pub struct Args {
    /// The MCP endpoint, e.g. `https://aws-mcp.us-east-1.api.aws/mcp` or an AgentCore
    /// runtime invocation URL.
    endpoint: String,
    /// SigV4 service name (inferred from the endpoint when absent).
    #[arg(long)]
    service: Option<String>,
    /// AWS region (inferred from the endpoint when absent).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile for the default credential chain.
    #[arg(long, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Extra header sent (and signed) on every request, as NAME=VALUE. Repeatable.
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Seconds to wait for a response to start.
    #[arg(long, default_value_t = 180.0)]
    timeout: f64,
    /// Seconds one request may wait for its reply before the host gets an error.
    #[arg(long, default_value_t = 300.0)]
    tool_timeout: f64,
    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout: f64,
    /// Retries for throttling (429), 503 and connection failures; each retry is signed again.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Largest request body to sign, in bytes (bodies are buffered to be hashed).
    #[arg(long, default_value_t = tower_sigv4::sign::DEFAULT_MAX_BODY_SIZE)]
    max_body_size: usize,
    /// Key and value added to `params._meta` of every request, as KEY=VALUE
    /// (repeatable; keys the host already set win).
    #[arg(long = "metadata", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// List and allow only tools annotated `readOnlyHint: true`.
    #[arg(long)]
    read_only: bool,
    /// Only tools whose names match one of these patterns (`*`, `?`; repeatable or comma-separated).
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    allow_tools: Vec<String>,
    /// Never tools whose names match one of these patterns (`*`, `?`; repeatable or comma-separated).
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    deny_tools: Vec<String>,
    /// Send requests unsigned (for public endpoints during development).
    #[arg(long)]
    skip_auth: bool,
    /// OAuth2 token endpoint: send `Authorization: Bearer` with a client-credentials
    /// token from it instead of signing with SigV4 (an AgentCore runtime whose
    /// inbound auth is a JWT, e.g. Cognito's `https://DOMAIN/oauth2/token`).
    #[arg(long, value_name = "URL", requires = "oauth2_client_id")]
    oauth2_token_url: Option<String>,
    /// OAuth2 client id (with --oauth2-token-url).
    #[arg(long, value_name = "ID", requires = "oauth2_token_url")]
    oauth2_client_id: Option<String>,
    /// OAuth2 scopes to ask for (repeatable or comma-separated).
    #[arg(
        long = "oauth2-scope",
        value_name = "SCOPE",
        value_delimiter = ',',
        requires = "oauth2_token_url"
    )]
    oauth2_scopes: Vec<String>,
    /// The environment variable that holds the OAuth2 client secret.
    #[arg(
        long,
        value_name = "VAR",
        requires = "oauth2_token_url",
        conflicts_with = "oauth2_client_secret_file"
    )]
    oauth2_client_secret_env: Option<String>,
    /// A file whose content is the OAuth2 client secret (one trailing newline is
    /// dropped).
    #[arg(long, value_name = "FILE", requires = "oauth2_token_url")]
    oauth2_client_secret_file: Option<std::path::PathBuf>,
    /// Refused: a secret on the command line shows in `ps`.
    #[arg(long, hide = true)]
    oauth2_client_secret: Option<String>,
    /// Log level for stderr: off, error, warn, info, debug, trace, or a filter
    /// such as `info,tower_sigv4=debug`.
    #[arg(long, value_parser = logging::parse_level)]
    log_level: Option<String>,
    /// Refused: secrets on the command line show in `ps`.
    #[arg(long, hide = true)]
    secret_key: Option<String>,
    /// Refused, like --secret-key.
    #[arg(long, hide = true)]
    session_token: Option<String>,
}

/// Headers the signer or the MCP transport sets.
const RESERVED: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "host",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "accept",
    "content-type",
];

/// AgentCore Runtime keeps one microVM per runtime session; without this header
/// every request may land in a new one.
const RUNTIME_SESSION: HeaderName =
    HeaderName::from_static("x-amzn-bedrock-agentcore-runtime-session-id");

/// Run `mcp-sigv4 proxy` to its end: until the host closes stdin or a signal
/// stops it, or a start-up failure, said on stderr.
pub fn main(args: Args) -> ExitCode {
    logging::init(args.log_level.as_deref());
    // One host, one endpoint: the work between reads is parsing and signing a
    // message, a few microseconds, so one thread keeps up; worker threads would
    // each bring a stack and an allocator arena of their own.
    // The thread blocked reading stdin cannot be interrupted: after a signal it
    // would hold an orderly runtime shutdown forever.
    let outcome = crate::runtime::Runtime::current_thread("proxy")
        .abandon_blocking_tasks()
        .block_on(run(args));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(message)) => {
            eprintln!("mcp-sigv4 proxy: {message}");
            ExitCode::from(2)
        }
        Err(code) => code,
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.secret_key.is_some() || args.session_token.is_some() {
        return Err("--secret-key and --session-token are refused: secrets on the command line show in `ps` and shell history. Use --profile NAME (or AWS_PROFILE), or set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the host's `env` for this server".to_owned());
    }
    let uri = crate::advice::check_url(&args.endpoint)?;
    let grant = oauth2_grant(&args)?;
    if let Some(profile) = args.profile.as_deref().filter(|_| !args.skip_auth) {
        // Said at start: the chain would only call its profile provider "not
        // enabled", on every request.
        let env = |name: &str| std::env::var(name).ok();
        if !crate::aws_profile::exists(profile, &env) {
            return Err(format!(
                "{}, or choose one that exists",
                crate::aws_profile::not_found(profile, " (--profile or AWS_PROFILE)", &env)
            ));
        }
    }
    let mut headers = parse_headers(&args.headers)?;
    if is_agentcore_runtime(&uri) && !headers.contains_key(&RUNTIME_SESSION) {
        headers.insert(RUNTIME_SESSION, runtime_session_id());
    }
    let policy = Policy::new(
        parse_metadata(&args.metadata)?,
        args.read_only,
        &args.allow_tools,
        &args.deny_tools,
    );
    let configure = |mut builder: tower_sigv4::SigV4Builder| {
        if let Some(service) = &args.service {
            builder = builder.service(service.as_str());
        }
        if let Some(region) = &args.region {
            builder = builder.region(region);
        }
        if let Some(profile) = &args.profile {
            builder = builder.profile(profile);
        }
        builder
            .max_body_size(args.max_body_size)
            .signed_headers(crate::telemetry::traces::signed_headers())
    };
    let signs = !args.skip_auth && grant.is_none();
    let signer = if signs {
        Some(
            configure(tower_sigv4::SigV4Layer::for_endpoint(&args.endpoint))
                .build_signer()
                .map_err(|e| crate::advice::library(&e))?,
        )
    } else {
        None
    };
    let signing = SigningContext {
        service: signer.as_ref().map(|s| s.service().to_string()),
        region: signer.as_ref().map(|s| s.region().to_owned()),
        inferred: endpoint::infer(&args.endpoint),
        credentials: match (&grant, &args.profile, args.skip_auth) {
            (Some(grant), _, _) => format!(
                "an OAuth2 client-credentials token of client `{}` from {}",
                grant.client_id,
                unstable::redact_query(&grant.token_url)
            ),
            (None, _, true) => "nowhere (--skip-auth)".to_owned(),
            (None, Some(profile), false) => {
                format!("profile `{profile}` of the default credential chain")
            }
            (None, None, false) => "the default credential chain".to_owned(),
        },
        settings: Settings::cli(),
    };
    if args.skip_auth && grant.is_none() {
        tracing::warn!("--skip-auth: requests are sent unsigned");
    }
    let unsigned = if grant.is_some() {
        "none (OAuth2 bearer token)"
    } else {
        "none (--skip-auth)"
    };
    tracing::info!(
        endpoint = %unstable::redact_query(&args.endpoint),
        service = %signing.service.as_deref().unwrap_or(unsigned),
        region = %signing.region.as_deref().unwrap_or(unsigned),
        "relaying stdio to {}",
        if grant.is_some() { "an OAuth2-authorized MCP endpoint" } else { "a SigV4-signed MCP endpoint" }
    );
    let service = TransportBuilder::new(args.endpoint.as_str())
        .signing(configure)
        .retry(RetryPolicy::default().max_attempts(args.retries.saturating_add(1)))
        .timeout(crate::flags::seconds(args.timeout))
        .connect_timeout(crate::flags::seconds(args.connect_timeout))
        .sign(signs)
        .build_service()
        .map_err(|e| e.to_string())?;
    let service = match &grant {
        Some(grant) => grant
            .authorize(uri.host().unwrap_or("proxy"), service)
            .map_err(|e| e.to_string())?,
        None => service,
    };
    let client = TowerHttpClient::new(service);
    let options = Options {
        request_timeout: crate::flags::seconds(args.tool_timeout),
        resume_attempts: 3,
        policy,
        signing,
    };
    let (output, output_queue) = mpsc::channel(stdio::OUTPUT_QUEUE);
    let upstream = Upstream::new(client, uri.to_string(), headers);
    let relay = Relay::new(upstream, options, output);
    stdio::serve(relay, output_queue, shutdown::on_signals()).await;
    Ok(())
}

/// The client-credentials grant of the `--oauth2-*` flags, if any. The secret
/// comes from an environment variable or a file, never the command line.
fn oauth2_grant(args: &Args) -> Result<Option<OAuth2ClientCredentials>, String> {
    if args.oauth2_client_secret.is_some() {
        return Err("--oauth2-client-secret is refused: a secret on the command line shows in `ps` and shell history. Put it in an environment variable and pass --oauth2-client-secret-env VAR, or in a file and pass --oauth2-client-secret-file FILE".to_owned());
    }
    let (Some(token_url), Some(client_id)) = (&args.oauth2_token_url, &args.oauth2_client_id)
    else {
        return Ok(None);
    };
    let secret = match (&args.oauth2_client_secret_env, &args.oauth2_client_secret_file) {
        (Some(var), _) => std::env::var(var).map_err(|_| {
            format!("--oauth2-client-secret-env {var}: the environment variable {var} is not set (or not UTF-8); set it to the client secret")
        })?,
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                format!(
                    "--oauth2-client-secret-file {}: cannot read it ({e}); give a readable file holding the client secret",
                    file.display()
                )
            })?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            text.strip_suffix('\r').unwrap_or(text).to_owned()
        }
        (None, None) => {
            return Err("--oauth2-token-url needs the client secret: pass --oauth2-client-secret-env VAR (an environment variable holding it) or --oauth2-client-secret-file FILE".to_owned());
        }
    };
    if secret.trim().is_empty() {
        return Err("the OAuth2 client secret is empty; check --oauth2-client-secret-env or --oauth2-client-secret-file".to_owned());
    }
    let scopes = args
        .oauth2_scopes
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    OAuth2ClientCredentials::new(token_url, client_id, Secret::from(secret), scopes)
        .map(Some)
        .map_err(|e| format!("--oauth2-token-url: {}", crate::advice::library(&e)))
}

fn parse_headers(raw: &[String]) -> Result<HashMap<HeaderName, HeaderValue>, String> {
    let mut headers = HashMap::new();
    for pair in raw {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--header `{pair}` is not NAME=VALUE"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header `{pair}`: `{name}` is not a header name"))?;
        if RESERVED.contains(&name.as_str()) {
            return Err(format!(
                "--header cannot set `{name}`: the signer or the MCP transport sets it; remove the flag"
            ));
        }
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header `{pair}`: the value is not a valid header value"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

fn parse_metadata(raw: &[String]) -> Result<Map<String, Value>, String> {
    raw.iter()
        .map(|pair| {
            pair.split_once('=')
                .filter(|(key, _)| !key.trim().is_empty())
                .map(|(key, value)| (key.trim().to_owned(), Value::String(value.to_owned())))
                .ok_or_else(|| format!("--metadata `{pair}` is not KEY=VALUE"))
        })
        .collect()
}

fn is_agentcore_runtime(uri: &http::Uri) -> bool {
    uri.path().starts_with("/runtimes/")
        && uri.host().is_some_and(|host| {
            host.starts_with("bedrock-agentcore.") || unstable::is_loopback(host)
        })
}

/// A random runtime session id: 36 characters (AgentCore wants at least 33).
fn runtime_session_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    HeaderValue::from_str(&id).unwrap_or_else(|_| unreachable!("a UUID is a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        assert!(parse_headers(&["x-tenant=acme".into()]).is_ok());
        for bad in [
            "authorization=x",
            "Mcp-Session-Id=x",
            "novalue",
            "bad name=x",
        ] {
            assert!(parse_headers(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn runtime_session_ids_are_long_enough_and_differ() {
        let (a, b) = (runtime_session_id(), runtime_session_id());
        assert!(a.len() >= 33);
        assert_ne!(a, b);
    }

    #[test]
    fn metadata_pairs() {
        let map = parse_metadata(&["tenant=acme".into(), "empty=".into()]).unwrap();
        assert_eq!(map["tenant"], "acme");
        assert_eq!(map["empty"], "");
        assert!(parse_metadata(&["=x".into()]).is_err());
        assert!(parse_metadata(&["x".into()]).is_err());
    }
}
