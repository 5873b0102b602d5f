//! `mcp-sigv4 proxy ENDPOINT`: relay MCP JSON-RPC between stdin/stdout and a
//! signed streamable-HTTP endpoint.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower_sigv4::rejection::RejectionKind;
use tower_sigv4::retry::RetryPolicy;
use tower_sigv4::rmcp::{HttpClientError, TransportBuilder};
use tower_sigv4::{ErrorChain, endpoint};

/// Arguments of `mcp-sigv4 proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 10.0)]
    connect_timeout: f64,
    /// Retries for throttling (429), 503 and connection failures; each retry is signed again.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Send requests unsigned (for public endpoints during development).
    #[arg(long)]
    skip_auth: bool,
    /// Log level for stderr: error, warn, info, debug, trace.
    #[arg(long, default_value = "info", env = "MCP_SIGV4_LOG")]
    log_level: String,
}

pub(crate) fn main(args: Args) -> ExitCode {
    init_logging(&args.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp-sigv4: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("mcp-sigv4: {message}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// What a proxy needs to know to explain failures.
struct Context {
    service: String,
    region: String,
    inferred: Option<endpoint::Endpoint>,
    credentials: String,
}

const RESERVED: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "host",
];

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
                "--header cannot set `{name}`: the signer sets it; remove the flag"
            ));
        }
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header `{pair}`: the value is not a valid header value"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

async fn run(args: Args) -> Result<(), String> {
    let uri = endpoint::check_url(&args.endpoint).map_err(|e| e.to_string())?;
    let custom_headers = parse_headers(&args.headers)?;
    let inferred = endpoint::infer(&args.endpoint);
    // The same configuration twice: once to report it, once inside the transport.
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
    };
    let signer = configure(tower_sigv4::SigV4Layer::for_endpoint(&args.endpoint))
        .build_signer()
        .map_err(|e| format!("{e} (use --service and --region)"))?;
    let context = Arc::new(Context {
        service: signer.service().to_string(),
        region: signer.region().to_owned(),
        inferred,
        credentials: if args.skip_auth {
            "nowhere (--skip-auth)".to_owned()
        } else {
            signer.credentials().source_name().to_owned()
        },
    });
    if args.skip_auth {
        tracing::warn!("--skip-auth: requests are sent unsigned");
    }
    tracing::info!(
        endpoint = %args.endpoint,
        service = %context.service,
        region = %context.region,
        "proxying stdio to a SigV4-signed MCP endpoint"
    );
    let client = TransportBuilder::new(args.endpoint.as_str())
        .signing(configure)
        .retry(RetryPolicy::default().max_attempts(args.retries.saturating_add(1)))
        .timeout(Duration::from_secs_f64(args.timeout.max(0.001)))
        .connect_timeout(Duration::from_secs_f64(args.connect_timeout.max(0.001)))
        .sign(!args.skip_auth)
        .build_client()
        .map_err(|e| e.to_string())?;
    Proxy {
        client,
        uri: Arc::from(uri.to_string()),
        custom_headers,
        context,
    }
    .run()
    .await
}

struct Proxy<C> {
    client: C,
    uri: Arc<str>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
    context: Arc<Context>,
}

impl<C> Proxy<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    async fn run(self) -> Result<(), String> {
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let writer = tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            while let Some(line) = out_rx.recv().await {
                if stdout.write_all(line.as_bytes()).await.is_err()
                    || stdout.write_all(b"\n").await.is_err()
                    || stdout.flush().await.is_err()
                {
                    break;
                }
            }
        });

        let mut session: Option<Arc<str>> = None;
        let mut tasks = tokio::task::JoinSet::new();
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        loop {
            let line = match lines.next_line().await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("reading stdin failed: {e}");
                    break;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            self.relay(&line, &mut session, &out, &mut tasks).await;
        }

        tracing::info!("stdin closed; ending the session");
        if let Some(session) = session {
            match self
                .client
                .delete_session(self.uri.clone(), session, None, self.custom_headers.clone())
                .await
            {
                Ok(()) | Err(StreamableHttpError::ServerDoesNotSupportDeleteSession) => {}
                Err(e) => tracing::warn!("ending the session failed: {e}"),
            }
        }
        tasks.abort_all();
        drop(out);
        let _ = writer.await;
        Ok(())
    }

    async fn relay(
        &self,
        line: &str,
        session: &mut Option<Arc<str>>,
        out: &mpsc::UnboundedSender<String>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                let _ = out.send(error_reply(
                    &Value::Null,
                    -32700,
                    &format!("parse error: {e}"),
                    None,
                ));
                return;
            }
        };
        let id = value.get("id").cloned();
        let method = value
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message: ClientJsonRpcMessage = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                if let Some(id) = &id {
                    let _ = out.send(error_reply(
                        id,
                        -32600,
                        &format!("invalid request: {e}"),
                        None,
                    ));
                }
                return;
            }
        };
        let result = self
            .client
            .post_message(
                self.uri.clone(),
                message,
                session.clone(),
                None,
                self.custom_headers.clone(),
            )
            .await;
        match result {
            Ok(StreamableHttpPostResponse::Accepted) => {}
            Ok(StreamableHttpPostResponse::Json(reply, sid)) => {
                remember(session, sid);
                if let Ok(text) = serde_json::to_string(&reply) {
                    let _ = out.send(text);
                }
            }
            Ok(StreamableHttpPostResponse::Sse(mut stream, sid)) => {
                remember(session, sid);
                let out = out.clone();
                tasks.spawn(async move {
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(event) => forward_event(event.data, &out),
                            Err(e) => {
                                tracing::warn!("response stream failed: {e}");
                                break;
                            }
                        }
                    }
                });
            }
            Ok(other) => tracing::warn!("unexpected reply shape from the endpoint: {other:?}"),
            Err(e) => {
                let (message, data) = describe(&e, &self.context);
                tracing::error!("{message}");
                if let Some(id) = &id {
                    let _ = out.send(error_reply(id, -32000, &message, Some(data)));
                }
            }
        }
        if method.as_deref() == Some("notifications/initialized") {
            self.open_server_stream(session.clone(), out.clone(), tasks);
        }
    }

    fn open_server_stream(
        &self,
        session: Option<Arc<str>>,
        out: mpsc::UnboundedSender<String>,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let client = self.client.clone();
        let uri = self.uri.clone();
        let headers = self.custom_headers.clone();
        tasks.spawn(async move {
            let stream = client.get_stream(uri, session, None, None, headers).await;
            let mut stream = match stream {
                Ok(stream) => stream,
                Err(StreamableHttpError::ServerDoesNotSupportSse) => {
                    tracing::debug!("the server offers no GET event stream");
                    return;
                }
                Err(e) => {
                    tracing::warn!("opening the server's event stream failed: {e}");
                    return;
                }
            };
            while let Some(event) = stream.next().await {
                match event {
                    Ok(event) => forward_event(event.data, &out),
                    Err(e) => {
                        tracing::warn!("the server's event stream failed: {e}");
                        return;
                    }
                }
            }
        });
    }
}

fn remember(session: &mut Option<Arc<str>>, sid: Option<String>) {
    if let Some(sid) = sid.filter(|sid| session.as_deref() != Some(sid.as_str())) {
        tracing::debug!("session established");
        *session = Some(Arc::from(sid));
    }
}

fn forward_event(data: Option<String>, out: &mpsc::UnboundedSender<String>) {
    let Some(data) = data else { return };
    let data = data.trim();
    // Priming events and keep-alives carry no message.
    if data.is_empty() {
        return;
    }
    match serde_json::from_str::<Value>(data) {
        Ok(value) => {
            let _ = out.send(value.to_string());
        }
        Err(e) => tracing::warn!("dropping a server event that is not JSON: {e}"),
    }
}

fn error_reply(id: &Value, code: i64, message: &str, data: Option<Value>) -> String {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error}).to_string()
}

/// The message and data of the JSON-RPC error for a failed HTTP exchange.
fn describe(error: &StreamableHttpError<HttpClientError>, context: &Context) -> (String, Value) {
    let status_error = match error {
        StreamableHttpError::Client(e) => e.status_error(),
        _ => None,
    };
    if let Some(diagnosis) = status_error.and_then(|s| s.diagnosis.as_ref()) {
        // The recovery layer saw the refusal: it knows what was signed and how.
        let message = diagnosis.to_string();
        let data = json!({
            "status": diagnosis.reply.status.as_u16(),
            "aws_error_type": diagnosis.reply.error_type,
            "aws_message": diagnosis.reply.message,
            "kind": format!("{:?}", diagnosis.kind()),
            "hint": diagnosis.hint(),
            "signing_service": diagnosis.signing_service.as_str(),
            "signing_region": diagnosis.signing_region,
            "credentials": diagnosis.credentials_source,
        });
        return (message, data);
    }
    let reply = status_error.map(|s| &s.reply);
    let Some(reply) = reply else {
        return (
            format!("MCP endpoint request failed: {}", ErrorChain(error)),
            json!({}),
        );
    };
    let kind = reply.kind();
    let hint = match kind {
        RejectionKind::Throttling => {
            "the endpoint is throttling; lower concurrency or raise --retries".to_owned()
        }
        _ if reply.status.as_u16() == 401 || reply.status.as_u16() == 403 => {
            let inferred = context
                .inferred
                .as_ref()
                .map(|e| format!("`{}` in `{}`", e.service, e.region))
                .unwrap_or_else(|| "unknown".to_owned());
            let mismatch = context.inferred.as_ref().is_some_and(|e| {
                e.service.as_str() != context.service || e.region != context.region
            });
            format!(
                "signed for service `{}` in region `{}`; the endpoint's host belongs to {}; credentials from {}. {}",
                context.service,
                context.region,
                inferred,
                context.credentials,
                if mismatch {
                    "The signing service or region does not match the endpoint: fix --service/--region.".to_owned()
                } else {
                    kind.hint().to_owned()
                }
            )
        }
        _ => kind.hint().to_owned(),
    };
    let message = format!("{reply}. Hint: {hint}");
    let data = json!({
        "status": reply.status.as_u16(),
        "aws_error_type": reply.error_type,
        "aws_message": reply.message,
        "kind": format!("{kind:?}"),
        "hint": hint,
        "signing_service": context.service,
        "signing_region": context.region,
    });
    (message, data)
}
