use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use tower_sigv4::Error;

use crate::support::*;

#[tokio::test]
async fn body_over_limit_by_content_length_is_refused_before_reading() {
    let layer = tower_sigv4::SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials(false))
        .max_body_size(1024)
        .build()
        .unwrap();
    // A body that counts how many chunks were pulled out of it.
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    let chunks = stream::iter((0..1_000_000).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(&[b'x'; 1024])))
    }));
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("content-length", "1024000000")
        .body(StreamBody::new(chunks))
        .unwrap();
    let (result, seen) = send(&layer, request).await;
    let err = sign_error(result.unwrap_err());
    assert!(
        matches!(
            err,
            Error::BodyTooLarge {
                limit: 1024,
                declared: Some(1_024_000_000)
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_body_size"), "{err}");
    assert_eq!(polled.load(Ordering::SeqCst), 0, "the body was read");
    assert_eq!(seen.count(), 0);
}

#[tokio::test]
async fn streaming_body_over_limit_without_length_is_refused() {
    let layer = tower_sigv4::SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials(false))
        .max_body_size(10_000)
        .build()
        .unwrap();
    let chunks = stream::iter(
        (0..100).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from_static(&[b'x'; 1024])))),
    );
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .body(StreamBody::new(chunks))
        .unwrap();
    let (result, seen) = send(&layer, request).await;
    let err = sign_error(result.unwrap_err());
    assert!(
        matches!(
            err,
            Error::BodyTooLarge {
                limit: 10_000,
                declared: None
            }
        ),
        "{err:?}"
    );
    assert_eq!(seen.count(), 0);
}

#[tokio::test]
async fn multi_chunk_body_is_signed_over_all_bytes_and_forwarded_whole() {
    let parts: Vec<&'static [u8]> = vec![
        b"{\"jsonrpc\":",
        b"\"2.0\",\"id\":1,",
        b"\"method\":\"tools/list\"}",
    ];
    let whole: Vec<u8> = parts.concat();
    let chunks = stream::iter(
        parts
            .into_iter()
            .map(|p| Ok::<_, Infallible>(Frame::data(Bytes::from_static(p)))),
    );
    let streamed = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("content-type", "application/json")
        .body(StreamBody::new(chunks))
        .unwrap();
    let single = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(whole.clone())))
        .unwrap();
    let layer = layer(false);
    let (a, seen_a) = send(&layer, streamed).await;
    let (b, seen_b) = send(&layer, single).await;
    a.unwrap();
    b.unwrap();
    let (a, b) = (&seen_a.requests()[0], &seen_b.requests()[0]);
    assert_eq!(a.body().as_ref(), whole.as_slice());
    assert_eq!(header(a, "authorization"), header(b, "authorization"));
}

#[tokio::test]
async fn single_chunk_body_reaches_the_inner_service_without_a_copy() {
    let body = Bytes::from(vec![7u8; 64 * 1024]);
    let ptr = body.as_ptr();
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .body(Full::new(body))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    result.unwrap();
    // The recorder collects the forwarded `Full` body, which hands its `Bytes` over as is.
    assert_eq!(
        seen.requests()[0].body().as_ptr(),
        ptr,
        "the body was copied"
    );
}

#[tokio::test]
async fn body_read_failure_is_a_typed_error_and_nothing_is_sent() {
    let chunks = stream::iter(vec![
        Ok(Frame::data(Bytes::from_static(b"{\"partial\":"))),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "peer went away",
        )),
    ]);
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .body(StreamBody::new(chunks))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    let err = sign_error(result.unwrap_err());
    assert!(matches!(err, Error::BodyRead(_)), "{err:?}");
    assert!(err.to_string().contains("peer went away"), "{err}");
    assert!(err.to_string().contains("nothing was sent"), "{err}");
    assert_eq!(seen.count(), 0);
}

#[tokio::test]
async fn body_longer_than_content_length_is_refused() {
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("content-length", "3")
        .body(Full::new(Bytes::from_static(b"0123456789")))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    let err = sign_error(result.unwrap_err());
    assert!(
        matches!(
            err,
            Error::ContentLengthMismatch {
                declared: 3,
                actual: 10
            }
        ),
        "{err:?}"
    );
    assert_eq!(seen.count(), 0);
}

#[tokio::test]
async fn relative_uri_is_a_typed_error_not_a_panic() {
    for uri in ["/mcp", "/runtimes/x/invocations?qualifier=DEFAULT", "*"] {
        let request = http::Request::post(uri)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (result, seen) = send(&layer(false), request).await;
        let err = sign_error(result.unwrap_err());
        assert!(matches!(err, Error::RelativeUri { .. }), "{uri}: {err:?}");
        assert!(err.to_string().contains("needs a scheme and host"), "{err}");
        assert_eq!(seen.count(), 0);
    }
}

/// Found by the `sign_request` fuzz target: aws-sigv4 signed `?+uW` as `%20uW=`
/// while the SigV4 rules (and the verifying layer, and botocore) read a plus.
/// Queries that implementations canonicalise differently are refused, unsent.
#[tokio::test]
async fn ambiguous_query_is_a_typed_error_and_nothing_is_sent() {
    for (query, reason) in [
        ("+uW", "raw `+`"),
        ("q=a+b", "raw `+`"),
        ("k=%FF", "not UTF-8"),
    ] {
        let uri = format!("https://aws-mcp.us-east-1.api.aws/mcp?{query}");
        let request = http::Request::post(&uri)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (result, seen) = send(&layer(false), request).await;
        let err = sign_error(result.unwrap_err());
        assert!(
            matches!(err, Error::AmbiguousQuery { .. }),
            "{uri}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(reason), "{message}");
        assert!(message.contains("percent-encode"), "{message}");
        assert_eq!(seen.count(), 0, "{uri}");
    }
    // The error names the parameters, never their values: a query can carry a
    // session token (base64, so often with a raw `+`).
    let token = "FwoGZXIvYXdzEJr+SECRET+TOKEN/=";
    let uri = format!("https://aws-mcp.us-east-1.api.aws/mcp?X-Amz-Security-Token={token}&a=1");
    let request = http::Request::post(&uri)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (result, seen) = send(&layer(false), request).await;
    let err = sign_error(result.unwrap_err());
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("X-Amz-Security-Token=…&a=…"), "{shown}");
    }
    assert_eq!(seen.count(), 0);

    // Encoded forms of the same intent sign.
    for query in [
        "qualifier=DEFAULT",
        "q=a%2Bb",
        "q=a%20b",
        "%7B=2&%7C=1",
        "k=%C3%A9",
    ] {
        let uri = format!("https://aws-mcp.us-east-1.api.aws/mcp?{query}");
        let request = http::Request::post(&uri)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (result, seen) = send(&layer(false), request).await;
        assert!(result.is_ok(), "{uri}: {result:?}");
        assert_eq!(seen.count(), 1, "{uri}");
    }
}
