use bytes::Bytes;
use http_body_util::Full;
use tower_sigv4::{Error, SigV4Layer, SignedHeaders};

use crate::support::*;

fn post(uri: &str) -> http::request::Builder {
    http::Request::post(uri)
}

#[tokio::test]
async fn existing_signature_headers_are_replaced_not_duplicated() {
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("authorization", "Bearer stale")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=OLD")
        .header("x-amz-date", "20000101T000000Z")
        .header("x-amz-security-token", "old-token")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    // Without a session token now: the old token must go, not be re-signed.
    let (result, seen) = send(&layer(false), request).await;
    result.unwrap();
    let req = &seen.requests()[0];
    assert_eq!(req.headers().get_all("authorization").iter().count(), 1);
    assert_eq!(req.headers().get_all("x-amz-date").iter().count(), 1);
    assert!(req.headers().get("x-amz-security-token").is_none());
    assert!(header(req, "authorization").starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock-agentcore/aws4_request"
    ));
    assert_eq!(header(req, "x-amz-date"), "20150830T123600Z");
}

#[tokio::test]
async fn session_token_is_sent_and_signed() {
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (result, seen) = send(&layer(true), request).await;
    result.unwrap();
    let req = &seen.requests()[0];
    assert_eq!(header(req, "x-amz-security-token"), SESSION_TOKEN);
    assert!(
        header(req, "authorization")
            .contains("SignedHeaders=host;x-amz-date;x-amz-security-token,")
    );
    assert!(
        req.headers()
            .get("x-amz-security-token")
            .unwrap()
            .is_sensitive()
    );
}

#[tokio::test]
async fn host_header_carries_non_default_port_and_drops_default_one() {
    for (uri, host) in [
        ("http://127.0.0.1:8080/mcp", "127.0.0.1:8080"),
        ("https://localhost:8443/mcp", "localhost:8443"),
        (
            "https://aws-mcp.us-east-1.api.aws:443/mcp",
            "aws-mcp.us-east-1.api.aws",
        ),
        ("http://example.com:80/mcp", "example.com"),
        ("http://[::1]:3000/mcp", "[::1]:3000"),
    ] {
        // Plain http to example.com is refused unless allowed.
        let layer = SigV4Layer::builder()
            .region("us-east-1")
            .credentials(credentials(false))
            .allow_plain_http()
            .build()
            .unwrap();
        let request = post(uri).body(Full::new(Bytes::new())).unwrap();
        let (result, seen) = send(&layer, request).await;
        result.unwrap();
        assert_eq!(header(&seen.requests()[0], "host"), host, "{uri}");
    }
}

#[tokio::test]
async fn an_explicit_host_header_is_kept_and_signed() {
    let request = post("http://127.0.0.1:9000/mcp")
        .header("host", "aws-mcp.us-east-1.api.aws")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    result.unwrap();
    assert_eq!(
        header(&seen.requests()[0], "host"),
        "aws-mcp.us-east-1.api.aws"
    );
}

#[tokio::test]
async fn default_exclusions_leave_hop_and_tracing_headers_unsigned() {
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("user-agent", "agent/1.0")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
        )
        .header("connection", "keep-alive")
        .header("content-type", "application/json")
        .header("mcp-session-id", "abc")
        .header("mcp-protocol-version", "2025-06-18")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    result.unwrap();
    let auth = header(&seen.requests()[0], "authorization").to_owned();
    assert!(
        auth.contains(
            "SignedHeaders=content-type;host;mcp-protocol-version;mcp-session-id;x-amz-date,"
        ),
        "{auth}"
    );
}

#[tokio::test]
async fn allow_list_mode_signs_only_the_listed_headers() {
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials(false))
        .signed_headers(SignedHeaders::only(["content-type"]))
        .content_sha256_header(true)
        .build()
        .unwrap();
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("content-type", "application/json")
        .header("mcp-session-id", "abc")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let (result, seen) = send(&layer, request).await;
    result.unwrap();
    let req = &seen.requests()[0];
    assert!(
        header(req, "authorization")
            .contains("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,"),
        "{}",
        header(req, "authorization")
    );
    assert_eq!(
        header(req, "x-amz-content-sha256"),
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );
}

/// Values HTTP allows but that are not UTF-8 (latin-1 obs-text) cannot be handed
/// to aws-sigv4, which takes `&str`, and botocore refuses them too: a typed error
/// that says why, and nothing is sent.
#[tokio::test]
async fn a_signed_value_that_is_not_utf8_is_a_typed_error() {
    let value = http::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("x-note", value.clone())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    let err = sign_error(result.unwrap_err());
    assert!(
        matches!(&err, Error::InvalidHeader { name, reason } if name == "x-note" && reason.contains("not UTF-8")),
        "{err:?}"
    );
    assert!(err.to_string().contains("botocore refuses"), "{err}");
    assert_eq!(seen.count(), 0);

    // The same value in an excluded header is fine: it is not signed.
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("user-agent", value)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (result, _) = send(&layer(false), request).await;
    result.unwrap();
}

#[test]
fn build_errors_say_what_to_set() {
    let err = SigV4Layer::for_endpoint("https://example.com/mcp")
        .credentials(credentials(false))
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot infer the SigV4 service"),
        "{err}"
    );
    let err = SigV4Layer::for_endpoint("https://example.com/mcp")
        .service("aws-mcp")
        .region("")
        .credentials(credentials(false))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("must not be empty"), "{err}");
    let layer = SigV4Layer::for_endpoint(
        "https://gw-1.gateway.bedrock-agentcore.ap-southeast-2.amazonaws.com/mcp",
    )
    .credentials(credentials(false))
    .build()
    .unwrap();
    assert_eq!(layer.signer().service().as_str(), "bedrock-agentcore");
    assert_eq!(layer.signer().region(), "ap-southeast-2");
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let layer = layer(true);
    let debug = format!(
        "{layer:?} {:?} {:?}",
        layer.signer(),
        layer.signer().credentials()
    );
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(!debug.contains(secret), "secret in Debug: {debug}");
    }
    assert!(debug.contains(ACCESS_KEY));
}

#[tokio::test]
async fn trace_logs_never_show_secrets() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Includes a service mismatch, so the warning path logs too.
    let layer = SigV4Layer::builder()
        .region("us-west-2")
        .credentials(credentials(true))
        .build()
        .unwrap();
    let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}")))
        .unwrap();
    let (result, _) = send(&layer, request).await;
    result.unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("signed request"), "no debug event: {logs}");
    assert!(
        logs.contains("inferred_service=aws-mcp"),
        "no mismatch warning: {logs}"
    );
    assert!(logs.contains("signing_service=bedrock-agentcore"), "{logs}");
    for secret in [SECRET_KEY, SESSION_TOKEN] {
        assert!(!logs.contains(secret), "secret in logs: {logs}");
    }
}

/// Found by the `sign_request` fuzz target, once refused: a tab inside a signed
/// value. botocore and AWS CRT sign it folded into a space, so the layer does too,
/// and sends the value as the caller set it.
#[tokio::test]
async fn whitespace_in_a_signed_value_is_signed_folded_and_sent_unchanged() {
    let signed_with = |value: &'static str| async move {
        let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
            .header("x-note", value)
            .header("x-note", "  second\t ")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (result, seen) = send(&layer(false), request).await;
        result.unwrap();
        seen.requests().remove(0)
    };
    let tabbed = signed_with(" \t.p\t \tPO  ").await;
    let folded = signed_with(".p PO").await;
    assert_eq!(
        header(&tabbed, "authorization"),
        header(&folded, "authorization")
    );
    let sent: Vec<&[u8]> = tabbed
        .headers()
        .get_all("x-note")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    assert_eq!(sent, [&b" \t.p\t \tPO  "[..], b"  second\t "]);
}

/// UTF-8 text (obs-text on the wire) is signed as its bytes, as botocore and AWS
/// CRT sign it; U+00A0 is not HTTP whitespace, so it is not folded (CRT's rule).
#[tokio::test]
async fn utf8_values_are_signed_as_their_bytes() {
    let sign = |value: &'static str| async move {
        let request = post("https://aws-mcp.us-east-1.api.aws/mcp")
            .header("x-note", value)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (result, seen) = send(&layer(false), request).await;
        result.unwrap();
        let req = seen.requests().remove(0);
        assert_eq!(req.headers()["x-note"].as_bytes(), value.as_bytes());
        header(&req, "authorization").to_owned()
    };
    assert_ne!(sign("a\u{a0}b").await, sign("a b").await);
    assert_eq!(
        sign("caf\u{e9}\t au lait").await,
        sign("caf\u{e9} au lait").await
    );
}
