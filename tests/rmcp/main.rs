//! rmcp's streamable HTTP client over `TowerHttpClient`, against an in-process
//! rmcp server on 127.0.0.1 at an AgentCore-shaped path, plain and signed; and the
//! HTTP edge cases of the `StreamableHttpClient` contract against a scripted endpoint.

mod eras;
#[path = "../support/network.rs"]
mod net;
mod network;
mod scripted;
mod server;
mod sigv4;
#[path = "../../examples/demo/server.rs"]
mod stand_in;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientNotification, ClientRequest,
    InitializedNotification, PingRequest, ProgressNotificationParam, Request, RequestId,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::service::{ClientInitializeError, NotificationContext, PeerRequestOptions};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use rmcp::{ClientHandler, RoleClient, ServiceExt, object};
use tower::Layer;
use tower_sigv4::rejection::RejectionKind;
use tower_sigv4::rmcp::{HttpClientError, TowerHttpClient, TransportBuilder};
use tower_sigv4::{ServiceName, SigV4Layer};

use scripted::{Scripted, reply};
use server::{Options, Seen};

/// Every test is bounded: nothing here should take more than a few seconds.
const LIMIT: Duration = Duration::from_secs(20);

type Hyper = Client<HttpConnector, Full<Bytes>>;

fn hyper() -> Hyper {
    Client::builder(TokioExecutor::new()).build_http()
}

fn signing() -> SigV4Layer {
    SigV4Layer::builder()
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region(sigv4::REGION)
        .credentials(sigv4::credentials())
        .build()
        .unwrap()
}

/// A transport to `endpoint` signed with [`sigv4::credentials`] for
/// bedrock-agentcore in [`sigv4::REGION`].
fn builder(endpoint: &server::Endpoint) -> TransportBuilder {
    TransportBuilder::new(endpoint.url())
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region(sigv4::REGION)
        .credentials(sigv4::credentials())
}

/// A client that signs with [`signing`].
fn signed_client() -> TowerHttpClient<tower_sigv4::SigV4<Hyper>> {
    TowerHttpClient::new(signing().layer(hyper()))
}

fn transport<C: StreamableHttpClient>(client: C, url: &str) -> StreamableHttpClientTransport<C> {
    StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url),
    )
}

/// A client handler that notes when each progress notification arrives.
#[derive(Clone, Default)]
struct Progress(Arc<Mutex<Vec<(Instant, f64)>>>);

impl ClientHandler for Progress {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((Instant::now(), params.progress));
    }
}

fn text(result: &rmcp::model::CallToolResult) -> String {
    result.content[0].as_text().unwrap().text.clone()
}

/// initialize, tools/list, tools/call (echo, add, and `count`, which sends
/// progress notifications 150 ms apart before its result), then close.
async fn conversation<C: StreamableHttpClient>(transport: StreamableHttpClientTransport<C>) {
    let progress = Progress::default();
    let client = progress.clone().serve(transport).await.expect("initialize");

    assert_eq!(tool_names(&client).await, ["add", "count", "echo"]);

    let echoed = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(object!({ "text": "héllo" })))
        .await
        .unwrap();
    assert_eq!(text(&echoed), "héllo");
    let sum = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(object!({ "a": 40, "b": 2 })))
        .await
        .unwrap();
    assert_eq!(text(&sum), "42");

    let started = Instant::now();
    let call = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("count")
            .with_arguments(object!({ "steps": 4, "pause_ms": 150 })),
    ));
    let handle = client
        .send_cancellable_request(call, PeerRequestOptions::no_options())
        .await
        .unwrap();
    let result = handle.await_response().await.unwrap();
    let finished = Instant::now();
    let ServerResult::CallToolResult(result) = result else {
        panic!("not a tool result: {result:?}");
    };
    assert_eq!(text(&result), "counted to 4");

    // Streamed, not buffered: each notification arrived as it was sent, spread
    // over the call, and well before the result.
    let seen = progress.0.lock().unwrap().clone();
    let steps: Vec<f64> = seen.iter().map(|(_, p)| *p).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0, 4.0]);
    // The server sends them 150 ms apart and answers 150 ms after the last; the
    // bounds leave room for a loaded machine, not for buffering (which would
    // deliver all four together with the result).
    let at: Vec<Duration> = seen.iter().map(|(t, _)| *t - started).collect();
    for pair in at.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_millis(50), "{at:?}");
    }
    assert!(at[3] - at[0] >= Duration::from_millis(300), "{at:?}");
    assert!(finished - seen[0].0 >= Duration::from_millis(400), "{at:?}");

    client.cancel().await.unwrap();
}

/// What the endpoint saw of a conversation with sessions: the session id from the
/// initialize reply on every later request, the GET stream, and a final DELETE.
/// The names of every tool the server lists, sorted.
async fn tool_names(client: &rmcp::Peer<RoleClient>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// [`conversation`] through `client` with an endpoint set up by `options`;
/// what the endpoint saw.
async fn conversation_with<C: StreamableHttpClient>(options: Options, client: C) -> Vec<Seen> {
    let endpoint = server::start(options).await;
    conversation(transport(client, &endpoint.url())).await;
    endpoint.log.all()
}

fn assert_session_traffic(log: &[Seen]) {
    let path = format!("{}?qualifier=DEFAULT", server::invocation_path());
    assert!(log.iter().all(|s| s.path_and_query == path), "{log:#?}");
    assert!(log.iter().all(|s| s.status.is_success()), "{log:#?}");

    let (initialize, rest) = log.split_first().unwrap();
    assert_eq!(initialize.method, "POST");
    assert!(!initialize.headers.contains_key("mcp-session-id"));
    let session = initialize.response_headers["mcp-session-id"].clone();
    for seen in rest {
        assert_eq!(
            seen.headers.get("mcp-session-id"),
            Some(&session),
            "{} without the session id",
            seen.method
        );
    }
    assert!(
        rest.iter().any(|s| s.method == "GET"
            && s.headers["accept"]
                .to_str()
                .unwrap()
                .contains("text/event-stream")),
        "no GET stream: {log:#?}"
    );
    assert_eq!(log.last().unwrap().method, "DELETE", "{log:#?}");
    let posts = log.iter().filter(|s| s.method == "POST");
    assert!(posts.clone().count() >= 5, "{log:#?}");
    for post in posts {
        assert_eq!(post.headers["content-type"], "application/json");
    }
}

fn is_json_reply(seen: &Seen) -> bool {
    seen.response_headers
        .get("content-type")
        .is_some_and(|ct| ct.to_str().unwrap().starts_with("application/json"))
}

#[tokio::test]
async fn sse_replies_and_a_session_without_signing() {
    tokio::time::timeout(LIMIT, async {
        let unsigned = Options {
            sessions: true,
            verify_sigv4: false,
        };
        let log = conversation_with(unsigned, TowerHttpClient::new(hyper())).await;
        assert_session_traffic(&log);
        // Requests are answered with event streams in this mode.
        assert!(log.iter().any(
            |s| s.method == "POST" && s.response_headers["content-type"] == "text/event-stream"
        ));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn sse_replies_and_a_session_signed_and_verified() {
    tokio::time::timeout(LIMIT, async {
        let log = conversation_with(Options::SIGNED_SESSIONS, signed_client()).await;
        assert_session_traffic(&log);
        for seen in &log[1..] {
            let authorization = seen.headers["authorization"].to_str().unwrap();
            assert!(
                authorization.contains("/us-east-1/bedrock-agentcore/aws4_request"),
                "{authorization}"
            );
            // The session id is part of the signature.
            assert!(authorization.contains("mcp-session-id"), "{authorization}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn json_replies_from_a_stateless_server_signed_and_verified() {
    tokio::time::timeout(LIMIT, async {
        let log = conversation_with(Options::SIGNED_STATELESS, signed_client()).await;
        assert!(log.iter().all(|s| s.status.is_success()), "{log:#?}");
        assert!(log.iter().all(|s| s.headers.contains_key("x-amz-date")));
        // tools/list and the quick tools/call replies are plain JSON.
        let json_replies = log
            .iter()
            .filter(|s| s.method == "POST" && s.status == 200 && is_json_reply(s))
            .count();
        assert!(json_replies >= 3, "{log:#?}");
        // `count` sends notifications first, so rmcp answers it with a stream.
        assert!(log.iter().any(|s| s.response_headers.get("content-type")
            == Some(&HeaderValue::from_static("text/event-stream"))));
        // No session in this mode.
        assert!(
            log.iter()
                .all(|s| !s.headers.contains_key("mcp-session-id"))
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn transport_builder_over_loopback_http() {
    tokio::time::timeout(LIMIT, async {
        let endpoint = server::start(Options::SIGNED_SESSIONS).await;
        let transport = builder(&endpoint).build().unwrap();
        conversation(transport).await;
        assert_session_traffic(&endpoint.log.all());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unsigned_client_is_refused_with_what_aws_said() {
    tokio::time::timeout(LIMIT, async {
        let endpoint = server::start(Options::SIGNED_SESSIONS).await;
        let error =
            ().serve(transport(TowerHttpClient::new(hyper()), &endpoint.url()))
                .await
                .expect_err("an unsigned request is refused");
        let message = error.to_string();
        assert!(message.contains("HTTP 403 Forbidden"), "{message}");
        assert!(
            message.contains("Missing Authentication Token"),
            "{message}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_diagnosed() {
    tokio::time::timeout(LIMIT, async {
        let endpoint = server::start(Options::SIGNED_SESSIONS)
        .await;
        let wrong = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "not-the-secret",
            Some("session-token".to_owned()),
            None,
            "test",
        );
        // The full stack: the recovery layer's diagnosis reaches the message.
        let transport = TransportBuilder::new(endpoint.url())
            .service(ServiceName::BEDROCK_AGENTCORE)
            .region(sigv4::REGION)
            .credentials(wrong)
            .build()
            .unwrap();
        let message = ().serve(transport).await.unwrap_err().to_string();
        for part in [
            "HTTP 403 Forbidden: InvalidSignatureException: The request signature we calculated does not match",
            "signed for service `bedrock-agentcore` in `us-east-1`",
            "hint: ",
        ] {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
        // Static credentials cannot be reloaded: one attempt only.
        assert_eq!(endpoint.log.all().len(), 1);
    })
    .await
    .unwrap();
}

/// The README's rmcp quick start against the demo stand-in, changed as the README
/// says: the stand-in's URL and credentials, nothing else (no service, no region).
#[tokio::test]
async fn the_readme_rmcp_quick_start_runs_against_the_stand_in() {
    tokio::time::timeout(LIMIT, async {
        let stand_in = stand_in::start(false).await;
        let transport = TransportBuilder::new(stand_in.url())
            .credentials(stand_in::credentials())
            .build()
            .unwrap();
        let auto = rmcp::service::ClientLifecycleMode::Auto {
            preferred_versions: vec![rmcp::model::ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        };
        let client = rmcp::service::ClientServiceExt::serve_with_lifecycle((), transport, auto)
            .await
            .unwrap();
        assert_eq!(tool_names(&client).await, ["add", "count", "echo"]);
        client.cancel().await.unwrap();
        assert_eq!(stand_in.stats.refused(), 0);
        assert!(stand_in.stats.accepted() >= 2);
        assert!(stand_in::verifies().contains("`bedrock-agentcore` in region `us-east-1`"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn find_in_a_failed_serve_finds_a_wrong_region_with_its_diagnosis() {
    tokio::time::timeout(LIMIT, async {
        let endpoint = server::start(Options::SIGNED_STATELESS)
        .await;
        // The service is inferred from the runtime path; the region is wrong.
        let transport = TransportBuilder::new(endpoint.url())
            .region("eu-west-1")
            .credentials(sigv4::credentials())
            .build()
            .unwrap();
        let error = ().serve(transport).await.expect_err("the wrong region");
        let http = HttpClientError::find_in(&error).expect("an HttpClientError");
        assert_eq!(http.status(), Some(http::StatusCode::FORBIDDEN));
        assert_eq!(http.kind(), Some(RejectionKind::InvalidSignature));
        let diagnosis = http.status_error().unwrap().diagnosis.as_ref().unwrap();
        assert!(diagnosis.is_wrong_endpoint(), "{diagnosis}");
        assert_eq!(diagnosis.signing_region, "eu-west-1");
        let message = http.to_string();
        assert!(
            message.starts_with("HTTP 403 Forbidden: InvalidSignatureException: Credential should be scoped to a valid region"),
            "{message}"
        );
        assert_eq!(endpoint.log.all().len(), 1, "a wrong region is not retried");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn find_in_a_failed_serve_finds_missing_credentials() {
    #[derive(Debug)]
    struct NoCredentials;
    impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded(
                    "no profile, no environment variables",
                ),
            ))
        }
    }
    tokio::time::timeout(LIMIT, async {
        let endpoint = server::start(Options::SIGNED_STATELESS).await;
        let transport = TransportBuilder::new(endpoint.url())
            .credentials_provider(NoCredentials)
            .build()
            .unwrap();
        let error = ().serve(transport).await.expect_err("no credentials");
        let http = HttpClientError::find_in(&error).expect("an HttpClientError");
        let signing = http.signing_error().expect("the signing layer's error");
        assert!(
            matches!(signing, tower_sigv4::Error::Credentials(_)),
            "{signing:?}"
        );
        assert!(
            http.to_string().starts_with("the request was not sent: "),
            "{http}"
        );
        assert!(endpoint.log.all().is_empty(), "nothing was sent");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refused_signature_reports_status_error_type_and_message() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|_| {
            server::aws_error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            )
        })
        .await;
        let client = signed_client();
        let error = ()
            .serve(transport(client.clone(), &aws.url()))
            .await
            .expect_err("AWS refused the signature");
        let message = error.to_string();
        for part in [
            "HTTP 403 Forbidden",
            "InvalidSignatureException",
            "The request signature we calculated does not match",
            "hint: check that the signing service and region match the endpoint",
        ] {
            assert!(message.contains(part), "`{part}` not in: {message}");
        }
        // The signed request did go out.
        assert!(aws.header(0, "authorization").is_some());
        // The typed error is reachable through rmcp's wrappers.
        let ClientInitializeError::TransportError { error, .. } = &error else {
            panic!("not a transport error: {error}");
        };
        let http = HttpClientError::find_in(error).expect("an HttpClientError");
        assert_eq!(http.kind(), Some(RejectionKind::InvalidSignature));

        // At the client level, the error is typed.
        let post = client
            .post_message(aws.url().into(), ping(), None, None, HashMap::new())
            .await
            .unwrap_err();
        let http = HttpClientError::find_in(&post).expect("an HttpClientError");
        assert_eq!(http.status(), Some(http::StatusCode::FORBIDDEN));
        assert_eq!(http.kind(), Some(RejectionKind::InvalidSignature));
        assert!(http.is_signature_problem());
        let reply = http.reply().unwrap();
        assert_eq!(reply.error_type.as_deref(), Some("InvalidSignatureException"));
        assert!(reply.message.as_deref().unwrap().starts_with("The request signature"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_signing_error_is_reachable_from_the_rmcp_error() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|_| reply(200, "application/json", "{}")).await;
        let signing = SigV4Layer::builder()
            .service(ServiceName::BEDROCK_AGENTCORE)
            .region(sigv4::REGION)
            .credentials(sigv4::credentials())
            .max_body_size(16)
            .build()
            .unwrap();
        let client = TowerHttpClient::new(signing.layer(hyper()));
        let error = client
            .post_message(aws.url().into(), ping(), None, None, HashMap::new())
            .await
            .unwrap_err();
        let http = HttpClientError::find_in(&error).unwrap();
        assert!(matches!(
            http.signing_error(),
            Some(tower_sigv4::Error::BodyTooLarge { limit: 16, .. })
        ));
        assert!(
            error.to_string().contains("signing limit of 16 bytes"),
            "{error}"
        );
        assert!(aws.received.lock().unwrap().is_empty(), "nothing was sent");
    })
    .await
    .unwrap();
}

// ---- the StreamableHttpClient contract, case by case -----------------------

fn ping() -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::request(
        ClientRequest::PingRequest(PingRequest::default()),
        RequestId::Number(1),
    )
}

fn initialized() -> ClientJsonRpcMessage {
    ClientJsonRpcMessage::notification(ClientNotification::InitializedNotification(
        InitializedNotification::default(),
    ))
}

fn plain() -> TowerHttpClient<Hyper> {
    TowerHttpClient::new(hyper())
}

#[tokio::test]
async fn get_stream_sends_session_last_event_id_auth_and_custom_headers() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|_| {
            reply(
                200,
                "text/event-stream",
                "id: 43\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n",
            )
        })
        .await;
        let custom = HashMap::from([(
            HeaderName::from_static("x-custom"),
            HeaderValue::from_static("yes"),
        )]);
        let mut events = plain()
            .get_stream(
                aws.url().into(),
                Some("session-1".into()),
                Some("42".to_owned()),
                Some("token".to_owned()),
                custom,
            )
            .await
            .unwrap();
        let event = events.next().await.unwrap().unwrap();
        assert_eq!(event.id.as_deref(), Some("43"));
        assert!(events.next().await.is_none());
        assert_eq!(aws.header(0, "mcp-session-id").as_deref(), Some("session-1"));
        assert_eq!(aws.header(0, "last-event-id").as_deref(), Some("42"));
        assert_eq!(aws.header(0, "authorization").as_deref(), Some("Bearer token"));
        assert_eq!(aws.header(0, "x-custom").as_deref(), Some("yes"));
        assert!(aws.header(0, "accept").unwrap().contains("text/event-stream"));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn get_405_means_no_stream_and_delete_405_is_fine() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|_| reply(405, "", "")).await;
        let error = plain()
            .get_stream(
                aws.url().into(),
                Some("s".into()),
                None,
                None,
                HashMap::new(),
            )
            .await
            .err()
            .unwrap();
        assert!(
            matches!(error, StreamableHttpError::ServerDoesNotSupportSse),
            "{error}"
        );
        plain()
            .delete_session(aws.url().into(), "s".into(), None, HashMap::new())
            .await
            .unwrap();
        let received = aws.received.lock().unwrap();
        assert_eq!(received[1].method(), "DELETE");
        assert_eq!(received[1].headers()["mcp-session-id"], "s");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn accepted_expired_and_json_rpc_errors() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|request| {
            let body = std::str::from_utf8(request.body()).unwrap();
            if body.contains("notifications/initialized") {
                reply(202, "", "")
            } else if request.headers().contains_key("mcp-session-id") {
                reply(404, "text/plain", "no such session")
            } else {
                reply(
                    500,
                    "application/json",
                    r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"tool crashed"}}"#,
                )
            }
        })
        .await;
        let client = plain();
        let accepted = client
            .post_message(aws.url().into(), initialized(), None, None, HashMap::new())
            .await
            .unwrap();
        assert!(matches!(accepted, StreamableHttpPostResponse::Accepted));
        let expired = client
            .post_message(
                aws.url().into(),
                ping(),
                Some("s".into()),
                None,
                HashMap::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(expired, StreamableHttpError::SessionExpired),
            "{expired}"
        );
        let error = client
            .post_message(aws.url().into(), ping(), None, None, HashMap::new())
            .await
            .unwrap();
        let StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(error), _) = error else {
            panic!("expected a JSON-RPC error, got {error:?}");
        };
        assert_eq!(error.error.message, "tool crashed");
        let received = aws.received.lock().unwrap();
        assert_eq!(received[0].headers()["content-type"], "application/json");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn limits_content_types_and_reserved_headers() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|request| match request.headers().get("x-case").unwrap().to_str().unwrap() {
            "big-json" => reply(200, "application/json", r#"{"jsonrpc":"2.0","id":1,"result":{"padding":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#),
            "big-event" => reply(200, "text/event-stream", "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"padding\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}}\n\n"),
            "html" => reply(200, "text/html", "<html></html>"),
            "challenge" => http::Response::builder()
                .status(401)
                .header("www-authenticate", r#"Bearer resource_metadata="https://example.com/.well-known/oauth-protected-resource""#)
                .body(server::full(""))
                .unwrap(),
            _ => reply(500, "text/plain", "unexpected"),
        })
        .await;
        let case = |name: &'static str| {
            HashMap::from([(HeaderName::from_static("x-case"), HeaderValue::from_static(name))])
        };
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_json_response_size = 32;
        limits.max_sse_event_size = 32;
        let client = plain();
        let post = |name, limits| {
            client.post_message_with_response_limits(aws.url().into(), ping(), None, None, case(name), limits)
        };

        let too_big = post("big-json", limits).await.unwrap_err();
        assert!(matches!(too_big, StreamableHttpError::ResponseBodyTooLarge { max_size: 32 }), "{too_big}");

        let StreamableHttpPostResponse::Sse(mut events, _) = post("big-event", limits).await.unwrap() else {
            panic!("expected an event stream");
        };
        let error = events.next().await.unwrap().unwrap_err();
        assert!(error.to_string().contains("over the limit of 32 bytes"), "{error}");

        let html = post("html", limits).await.unwrap_err();
        assert!(matches!(html, StreamableHttpError::UnexpectedContentType(Some(ref ct)) if ct == "text/html"), "{html}");

        let challenge = post("challenge", limits).await.unwrap_err();
        assert!(matches!(challenge, StreamableHttpError::AuthRequired(_)), "{challenge}");

        let reserved = HashMap::from([(HeaderName::from_static("mcp-session-id"), HeaderValue::from_static("x"))]);
        let conflict = client
            .post_message(aws.url().into(), ping(), None, None, reserved)
            .await
            .unwrap_err();
        assert!(matches!(conflict, StreamableHttpError::ReservedHeaderConflict(_)), "{conflict}");
        assert_eq!(aws.received.lock().unwrap().len(), 4, "the conflicting request was not sent");

        let plain_500 = post("other", limits).await.unwrap_err();
        let http = HttpClientError::find_in(&plain_500).unwrap();
        assert_eq!(http.to_string(), "HTTP 500 Internal Server Error: unexpected");
    })
    .await
    .unwrap();
}

#[test]
fn endpoint_url_is_agentcore_shaped() {
    let arn: tower_sigv4::endpoint::RuntimeArn = server::ARN.parse().unwrap();
    let url = arn.invocation_url(None);
    assert!(
        url.ends_with(&format!("{}?qualifier=DEFAULT", server::invocation_path())),
        "{url}"
    );
}

/// A `CustomRequest` goes out as it is, and its JSON reply comes back as a
/// `CustomResult` holding every field the server sent (rmcp's typed results
/// drop the ones they do not know); a sessionless `server/discover` sent as one
/// is still answered with the fallback error when the server refuses it.
#[tokio::test]
async fn a_custom_request_and_its_json_reply_keep_every_field() {
    tokio::time::timeout(LIMIT, async {
        let aws = Scripted::start(|request| {
            if String::from_utf8_lossy(request.body()).contains("server/discover") {
                return reply(400, "text/plain", "no such method");
            }
            reply(
                200,
                "application/json",
                r#"{"jsonrpc":"2.0","id":7,"result":{"content":[],"x_ext":{"kept":[1]},"_meta":{"io.example/k":1}}}"#,
            )
        })
        .await;
        let client = TowerHttpClient::new(hyper());
        let params = serde_json::json!({
            "name": "t", "task": {"ttl": 60000}, "x_ext": {"a": null},
            "_meta": {"io.example/trace": "t-0"},
        });
        let call = ClientJsonRpcMessage::request(
            ClientRequest::CustomRequest(rmcp::model::CustomRequest::new(
                "tools/call",
                Some(params.clone()),
            )),
            RequestId::Number(7),
        );
        let posted = client
            .post_message(aws.url().into(), call, None, None, HashMap::new())
            .await
            .unwrap();
        let StreamableHttpPostResponse::Json(answer, _) = posted else {
            panic!("not a JSON reply: {posted:?}");
        };
        let ServerJsonRpcMessage::Response(response) = &answer else {
            panic!("not a response: {answer:?}");
        };
        let ServerResult::CustomResult(result) = &response.result else {
            panic!("typed: {answer:?}");
        };
        assert_eq!(
            result.0,
            serde_json::json!({"content": [], "x_ext": {"kept": [1]}, "_meta": {"io.example/k": 1}})
        );
        let sent: serde_json::Value =
            serde_json::from_slice(aws.received.lock().unwrap()[0].body()).unwrap();
        assert_eq!(sent["params"], params);

        let discover = ClientJsonRpcMessage::request(
            ClientRequest::CustomRequest(rmcp::model::CustomRequest::new(
                "server/discover",
                None,
            )),
            RequestId::Number(8),
        );
        let posted = client
            .post_message(aws.url().into(), discover, None, None, HashMap::new())
            .await
            .unwrap();
        assert!(
            matches!(
                posted,
                StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(_), _)
            ),
            "{posted:?}"
        );
    })
    .await
    .unwrap();
}
