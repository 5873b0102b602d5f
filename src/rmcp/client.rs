use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, response};
use http_body::Body;
use http_body_util::Full;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, CustomResult, ErrorData, JsonRpcMessage, RequestId,
    ServerJsonRpcMessage, ServerResult,
};
use rmcp::transport::common::client_side_sse::BoxedSseResponse;
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_SESSION_ID, JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClient, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use tower::ServiceExt;
use tower_service::Service;

use super::error::StatusError;
use super::{HttpClientError, sse};
use crate::body::CollectError;
use crate::error::BoxError;

type Error = StreamableHttpError<HttpClientError>;
type EventStream = BoxedSseResponse;

/// How much of an error body is read for the GET and DELETE requests, which
/// rmcp gives no limit for: the same as rmcp's default for POST.
const DEFAULT_MAX_ERROR_BODY: usize = 64 * 1024;

/// Headers the transport sets itself; rmcp's clients refuse them as custom headers.
const RESERVED_HEADERS: [&str; 3] = ["accept", "mcp-session-id", "last-event-id"];

/// rmcp's [`StreamableHttpClient`] over any tower HTTP service, such as hyper-util's
/// client wrapped in [`SigV4Layer`](crate::SigV4Layer).
///
/// Each request is sent with [`oneshot`](tower::ServiceExt::oneshot) on a clone of
/// the service. Responses are never buffered beyond rmcp's limits: SSE events are
/// parsed and handed to rmcp as their bytes arrive, each bounded by the
/// transport's `max_sse_event_size`; JSON replies are bounded by
/// `max_json_response_size`; error bodies are read up to `max_error_response_size`
/// (64 KiB by default) to find AWS's error type and message.
///
/// Behaviour follows rmcp's own reqwest client: `Mcp-Session-Id` is captured
/// from replies and sent back, `Last-Event-Id` resumes a GET stream (rmcp waits
/// the server's `retry:` first, read as at most [`MAX_SSE_RETRY`](super::MAX_SSE_RETRY)), 202 and 204
/// are "accepted", 405 on the GET stream means the server has none, 404 on a
/// request with a session means the session expired, and a 401/403 with a
/// `WWW-Authenticate` challenge (and no AWS error type) becomes rmcp's
/// `AuthRequired`/`InsufficientScope`. HTTP errors are otherwise
/// [`StreamableHttpError::Client`] with an [`HttpClientError`] that keeps the
/// status, the AWS error type and message, rather than rmcp's body-less
/// `HttpStatus`.
///
/// A [`CustomRequest`](rmcp::model::CustomRequest) gets its JSON reply as a
/// [`ServerResult::CustomResult`] holding the result as the server sent it
/// (rmcp's typed results drop the fields they do not know), so that a proxy
/// sending what it received as custom requests passes replies on whole too. A
/// custom request named `server/discover` falls back as rmcp's own does.
///
/// # Note
///
/// The transport's `auth_header` is sent as `Authorization: Bearer ...`. Behind
/// the signing layer the `Authorization` header is the SigV4 signature, so leave
/// `auth_header` unset there.
///
/// # Example
///
/// ```no_run
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use rmcp::ServiceExt;
/// use rmcp::transport::StreamableHttpClientTransport;
/// use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
/// use tower::ServiceBuilder;
/// use tower_sigv4::SigV4Layer;
/// use tower_sigv4::rmcp::TowerHttpClient;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// // A local MCP server behind SigV4 (plain HTTP on loopback); for HTTPS, give
/// // the client a TLS connector such as hyper-rustls's `HttpsConnector`.
/// let url = "http://127.0.0.1:8080/mcp";
/// let connector = hyper_util::client::legacy::connect::HttpConnector::new();
/// let http = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
/// let service = ServiceBuilder::new()
///     .layer(SigV4Layer::builder().service("aws-mcp").region("us-east-1").build()?)
///     .service(http);
/// let transport = StreamableHttpClientTransport::with_client(
///     TowerHttpClient::new(service),
///     StreamableHttpClientTransportConfig::with_uri(url),
/// );
/// let client = ().serve(transport).await?;
/// println!("{:#?}", client.list_all_tools().await?);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TowerHttpClient<S> {
    inner: S,
}

impl<S> TowerHttpClient<S> {
    /// Send requests with `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consume `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> StreamableHttpClient for TowerHttpClient<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Error = HttpClientError;

    fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> impl Future<Output = Result<StreamableHttpPostResponse, Error>> + Send + '_ {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
    }

    fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> impl Future<Output = Result<StreamableHttpPostResponse, Error>> + Send + '_ {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
    }

    fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> impl Future<Output = Result<StreamableHttpPostResponse, Error>> + Send + '_ {
        let message = Post {
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
        };
        post(self.inner.clone(), message, limits)
    }

    fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        delete(
            self.inner.clone(),
            uri,
            session_id,
            auth_header,
            custom_headers,
        )
    }

    fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> impl Future<Output = Result<EventStream, Error>> + Send + '_ {
        let limits = StreamableHttpResponseLimits::default();
        get(
            self.inner.clone(),
            Get {
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
            },
            limits.max_sse_event_size,
        )
    }

    fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> impl Future<Output = Result<EventStream, Error>> + Send + '_ {
        get(
            self.inner.clone(),
            Get {
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
            },
            max_sse_event_size,
        )
    }
}

/// A POST's arguments, as rmcp passes them.
struct Post {
    uri: Arc<str>,
    message: ClientJsonRpcMessage,
    session_id: Option<Arc<str>>,
    auth_header: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
}

/// A GET's arguments, as rmcp passes them.
struct Get {
    uri: Arc<str>,
    session_id: Option<Arc<str>>,
    last_event_id: Option<String>,
    auth_header: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
}

async fn post<S, B>(
    service: S,
    post: Post,
    limits: StreamableHttpResponseLimits,
) -> Result<StreamableHttpPostResponse, Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let body = serde_json::to_vec(&post.message)
        .map_err(|e| StreamableHttpError::Client(HttpClientError::invalid_request(e)))?;
    let request = RequestHead::new(Method::POST, &post.uri)
        .header(ACCEPT, accept_both())
        .header(CONTENT_TYPE, HeaderValue::from_static(JSON_MIME_TYPE))
        .auth(post.auth_header)
        .custom(post.custom_headers)?
        .optional(HEADER_SESSION_ID, post.session_id.as_deref())?
        .body(Bytes::from(body))?;
    let session_was_attached = post.session_id.is_some();
    let (parts, body) = send(service, request).await?.into_parts();
    if let Some(challenge) = auth_challenge(&parts) {
        return Err(challenge);
    }
    match parts.status {
        StatusCode::ACCEPTED | StatusCode::NO_CONTENT => Ok(StreamableHttpPostResponse::Accepted),
        StatusCode::NOT_FOUND if session_was_attached => Err(StreamableHttpError::SessionExpired),
        status if !status.is_success() => {
            post_failure(&post.message, session_was_attached, parts, body, limits).await
        }
        _ => post_success(&post.message, parts, body, limits).await,
    }
}

/// A POST's 2xx: an event stream, one JSON-RPC message, or nothing.
async fn post_success<B>(
    message: &ClientJsonRpcMessage,
    parts: response::Parts,
    body: B,
    limits: StreamableHttpResponseLimits,
) -> Result<StreamableHttpPostResponse, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let session_id = session_id_of(&parts);
    // A POST of notifications or responses leaves no request waiting for a reply.
    let awaits_no_response = !matches!(message, ClientJsonRpcMessage::Request(_));
    let content_length = content_length(&parts.headers, &body);
    // The spec asks for 202 here, but some servers send an empty 200.
    if content_length == Some(0) && awaits_no_response {
        return Ok(StreamableHttpPostResponse::Accepted);
    }
    let content_type = parts.headers.get(CONTENT_TYPE);
    if content_type.is_some_and(|ct| media_type_is(ct, EVENT_STREAM_MIME_TYPE)) {
        let events = sse::events(body, limits.max_sse_event_size);
        return Ok(StreamableHttpPostResponse::Sse(events, session_id));
    }
    if content_type.is_some_and(|ct| media_type_is(ct, JSON_MIME_TYPE)) {
        let body = read_complete(&parts.headers, body, limits.max_json_response_size).await?;
        if let Some(reply) = custom_reply(message, &body) {
            return Ok(StreamableHttpPostResponse::Json(reply, session_id));
        }
        return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
            Ok(message) => Ok(StreamableHttpPostResponse::Json(message, session_id)),
            Err(e) if awaits_no_response => {
                tracing::warn!("ignoring a JSON reply that is not JSON-RPC to a notification: {e}");
                Ok(StreamableHttpPostResponse::Accepted)
            }
            Err(e) => Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
                format!(
                    "the JSON reply is not a JSON-RPC message: {e}: {}",
                    preview(&body)
                ),
            ))),
        };
    }
    let content_type = content_type.map(|ct| String::from_utf8_lossy(ct.as_bytes()).into_owned());
    if awaits_no_response {
        tracing::warn!(
            ?content_type,
            "ignoring an unexpected content type in the reply to a notification"
        );
        return Ok(StreamableHttpPostResponse::Accepted);
    }
    Err(StreamableHttpError::UnexpectedContentType(content_type))
}

/// A POST's error status: a JSON-RPC error in the body goes to rmcp as a message;
/// anything else is an [`HttpClientError::Status`] with what AWS said.
async fn post_failure<B>(
    message: &ClientJsonRpcMessage,
    session_was_attached: bool,
    parts: response::Parts,
    body: B,
    limits: StreamableHttpResponseLimits,
) -> Result<StreamableHttpPostResponse, Error>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let is_json = parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|ct| media_type_is(ct, JSON_MIME_TYPE));
    // 401/403 are about authentication, never a JSON-RPC error: keep their status.
    let is_auth_failure = matches!(
        parts.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    );
    let body = if is_json && !is_auth_failure {
        // An unreadable or oversized body still leaves the status and headers.
        let body = read_complete(&parts.headers, body, limits.max_json_response_size)
            .await
            .unwrap_or_default();
        if let Ok(error @ JsonRpcMessage::Error(_)) =
            serde_json::from_slice::<ServerJsonRpcMessage>(&body)
        {
            if let Some(reply) =
                discover_fallback(message, session_was_attached, parts.status, &body)
            {
                return Ok(reply);
            }
            return Ok(StreamableHttpPostResponse::Json(
                error,
                session_id_of(&parts),
            ));
        }
        body.slice(..body.len().min(limits.max_error_response_size))
    } else {
        crate::body::prefix(body, limits.max_error_response_size).await
    };
    if let Some(reply) = discover_fallback(message, session_was_attached, parts.status, &body) {
        return Ok(reply);
    }
    Err(status_error(Method::POST, &parts, &body))
}

async fn get<S, B>(service: S, get: Get, max_sse_event_size: usize) -> Result<EventStream, Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let request = RequestHead::new(Method::GET, &get.uri)
        .header(ACCEPT, accept_both())
        .auth(get.auth_header)
        .custom(get.custom_headers)?
        .optional(HEADER_SESSION_ID, get.session_id.as_deref())?
        .optional(HEADER_LAST_EVENT_ID, get.last_event_id.as_deref())?
        .body(Bytes::new())?;
    let (parts, body) = send(service, request).await?.into_parts();
    if parts.status == StatusCode::METHOD_NOT_ALLOWED {
        return Err(StreamableHttpError::ServerDoesNotSupportSse);
    }
    if let Some(challenge) = auth_challenge(&parts) {
        return Err(challenge);
    }
    if !parts.status.is_success() {
        let body = crate::body::prefix(body, DEFAULT_MAX_ERROR_BODY).await;
        return Err(status_error(Method::GET, &parts, &body));
    }
    // As rmcp's clients: an event stream, or JSON from servers that label it so.
    match parts.headers.get(CONTENT_TYPE) {
        Some(ct)
            if media_type_is(ct, EVENT_STREAM_MIME_TYPE) || media_type_is(ct, JSON_MIME_TYPE) =>
        {
            Ok(sse::events(body, max_sse_event_size))
        }
        other => Err(StreamableHttpError::UnexpectedContentType(
            other.map(|ct| String::from_utf8_lossy(ct.as_bytes()).into_owned()),
        )),
    }
}

async fn delete<S, B>(
    service: S,
    uri: Arc<str>,
    session_id: Arc<str>,
    auth_header: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
) -> Result<(), Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let request = RequestHead::new(Method::DELETE, &uri)
        .auth(auth_header)
        .custom(custom_headers)?
        .optional(HEADER_SESSION_ID, Some(&*session_id))?
        .body(Bytes::new())?;
    let (parts, body) = send(service, request).await?.into_parts();
    if parts.status == StatusCode::METHOD_NOT_ALLOWED {
        tracing::debug!("the server does not support ending sessions with DELETE");
        return Ok(());
    }
    if !parts.status.is_success() {
        let body = crate::body::prefix(body, DEFAULT_MAX_ERROR_BODY).await;
        return Err(status_error(Method::DELETE, &parts, &body));
    }
    Ok(())
}

async fn send<S, B>(service: S, request: Request<Full<Bytes>>) -> Result<Response<B>, Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    service
        .oneshot(request)
        .await
        .map_err(|e| StreamableHttpError::Client(HttpClientError::transport(e)))
}

/// A request under construction; the first invalid value is kept as the error.
struct RequestHead {
    builder: http::request::Builder,
}

impl RequestHead {
    fn new(method: Method, uri: &str) -> Self {
        Self {
            builder: Request::builder().method(method).uri(uri),
        }
    }

    fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    fn auth(self, token: Option<String>) -> Self {
        match token {
            Some(token) => Self {
                builder: self
                    .builder
                    .header(AUTHORIZATION, format!("Bearer {token}")),
            },
            None => self,
        }
    }

    fn custom(mut self, headers: HashMap<HeaderName, HeaderValue>) -> Result<Self, Error> {
        for (name, value) in headers {
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(StreamableHttpError::ReservedHeaderConflict(
                    name.to_string(),
                ));
            }
            self.builder = self.builder.header(name, value);
        }
        Ok(self)
    }

    fn optional(mut self, name: &'static str, value: Option<&str>) -> Result<Self, Error> {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value).map_err(|e| {
                StreamableHttpError::Client(HttpClientError::invalid_request(format!(
                    "the {name} value cannot be sent as a header: {e}"
                )))
            })?;
            self.builder = self.builder.header(name, value);
        }
        Ok(self)
    }

    fn body(self, body: Bytes) -> Result<Request<Full<Bytes>>, Error> {
        self.builder
            .body(Full::new(body))
            .map_err(|e| StreamableHttpError::Client(HttpClientError::invalid_request(e)))
    }
}

fn session_id_of(parts: &response::Parts) -> Option<String> {
    parts
        .headers
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn accept_both() -> HeaderValue {
    HeaderValue::from_static("text/event-stream, application/json")
}

/// rmcp's `AuthRequired`/`InsufficientScope` for a 401/403 with a
/// `WWW-Authenticate` challenge, unless AWS labelled the reply with an error
/// type: that one is about the signature and keeps AWS's message.
fn auth_challenge(parts: &response::Parts) -> Option<Error> {
    if parts.headers.contains_key("x-amzn-errortype") {
        return None;
    }
    let challenge = parts.headers.get(WWW_AUTHENTICATE)?;
    let Ok(challenge) = challenge.to_str() else {
        return Some(StreamableHttpError::UnexpectedServerResponse(
            Cow::Borrowed("the WWW-Authenticate header is not visible ASCII"),
        ));
    };
    match parts.status {
        StatusCode::UNAUTHORIZED => Some(StreamableHttpError::AuthRequired(
            AuthRequiredError::new(challenge.to_owned()),
        )),
        StatusCode::FORBIDDEN => Some(StreamableHttpError::InsufficientScope(
            InsufficientScopeError::new(challenge.to_owned(), scope_of(challenge)),
        )),
        _ => None,
    }
}

/// The `scope` parameter of a `WWW-Authenticate` challenge, quoted or not.
fn scope_of(challenge: &str) -> Option<String> {
    let start = challenge.to_ascii_lowercase().find("scope=")? + "scope=".len();
    let rest = &challenge[start..];
    let scope = match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => rest
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .next()
            .unwrap_or_default(),
    };
    (!scope.is_empty()).then(|| scope.to_owned())
}

/// A sessionless `server/discover` refused with a 4xx by a server that predates
/// it: answer rmcp with a JSON-RPC error carrying the request's id, so that its
/// lifecycle falls back to `initialize` (as rmcp's own clients do).
fn discover_fallback(
    message: &ClientJsonRpcMessage,
    session_was_attached: bool,
    status: StatusCode,
    body: &[u8],
) -> Option<StreamableHttpPostResponse> {
    if session_was_attached
        || !status.is_client_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    // A proxy sends `server/discover` as a `CustomRequest`, to pass it on as it came.
    if request.request.method() != "server/discover" {
        return None;
    }
    let error = match serde_json::from_slice::<ServerJsonRpcMessage>(body) {
        Ok(JsonRpcMessage::Error(error)) => error.error,
        _ => ErrorData::invalid_request(
            format!(
                "server/discover rejected with HTTP {status}: {}",
                String::from_utf8_lossy(body)
            ),
            None,
        ),
    };
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

/// The reply to a [`CustomRequest`](rmcp::model::CustomRequest) with its result
/// as the server sent it ([`ServerResult::CustomResult`]): rmcp's typed results
/// drop every field they do not know, and a caller that sent its request
/// untyped (a proxy passing messages on) wants the reply untyped too. `None` for
/// any other request, or a body that is no JSON-RPC response with a result.
fn custom_reply(message: &ClientJsonRpcMessage, body: &[u8]) -> Option<ServerJsonRpcMessage> {
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::CustomRequest(_)) {
        return None;
    }
    let serde_json::Value::Object(mut response) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let id = serde_json::from_value::<RequestId>(response.remove("id")?).ok()?;
    let result = response.remove("result")?;
    Some(ServerJsonRpcMessage::response(
        ServerResult::CustomResult(CustomResult(result)),
        id,
    ))
}

fn status_error(method: Method, parts: &response::Parts, body: &[u8]) -> Error {
    let status = StatusError::from_response(method, parts, body);
    StreamableHttpError::Client(HttpClientError::Status(Box::new(status)))
}

/// Whether a `Content-Type` value has the media type `expected`, ignoring case
/// and parameters such as `charset`.
fn media_type_is(value: &HeaderValue, expected: &str) -> bool {
    let essence = value
        .as_bytes()
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(expected.as_bytes())
}

fn content_length<B: Body>(headers: &HeaderMap, body: &B) -> Option<u64> {
    crate::body::declared_length(headers).or_else(|| body.size_hint().exact())
}

/// Read the whole body within `limit`, as the client's errors.
async fn read_complete<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Error>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    crate::body::collect(headers, body, limit)
        .await
        .map_err(|e| match e {
            CollectError::TooLarge { .. } => {
                StreamableHttpError::ResponseBodyTooLarge { max_size: limit }
            }
            CollectError::LengthMismatch { declared, actual } => {
                StreamableHttpError::Client(HttpClientError::body(format!(
                    "the response ended after {actual} of the {declared} bytes it declared"
                )))
            }
            CollectError::Read(e) => StreamableHttpError::Client(HttpClientError::body(e)),
        })
}

/// The start of an unusable body, for an error message.
fn preview(body: &[u8]) -> Cow<'_, str> {
    const PREVIEW: usize = 256;
    if body.is_empty() {
        return Cow::Borrowed("<empty>");
    }
    String::from_utf8_lossy(&body[..body.len().min(PREVIEW)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Sync` is not required of the service: a `BoxCloneService` will do.
    #[test]
    fn any_cloneable_send_service_will_do() {
        fn is_client<C: StreamableHttpClient>() {}
        is_client::<
            TowerHttpClient<
                tower::util::BoxCloneService<Request<Full<Bytes>>, Response<Full<Bytes>>, BoxError>,
            >,
        >();
    }

    #[test]
    fn media_types_ignore_case_and_parameters() {
        let ct = HeaderValue::from_static("Application/JSON; charset=utf-8");
        assert!(media_type_is(&ct, JSON_MIME_TYPE));
        assert!(!media_type_is(&ct, EVENT_STREAM_MIME_TYPE));
    }

    #[test]
    fn scopes_from_challenges() {
        assert_eq!(
            scope_of(r#"Bearer error="insufficient_scope", scope="files:read files:write""#)
                .as_deref(),
            Some("files:read files:write")
        );
        assert_eq!(
            scope_of("Bearer scope=read:data, x=y").as_deref(),
            Some("read:data")
        );
        assert_eq!(scope_of("Bearer realm=x"), None);
    }
}
