//! An OTLP/HTTP trace receiver on 127.0.0.1 for the trace tests: it keeps what
//! it is sent and decodes it with opentelemetry-proto.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;

/// What the receiver was sent: each POST's path and body.
pub type Received = Arc<Mutex<Vec<(String, Bytes)>>>;

/// An OTLP/HTTP receiver: accepts every POST and answers an empty (valid)
/// export response.
pub async fn receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let kept = kept.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    kept.lock().unwrap().push((path, body));
                    let mut response = Response::new(Full::new(Bytes::new()));
                    response.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("application/x-protobuf"),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), received)
}

/// Every span received so far, with its resource's `service.name`.
pub fn spans(received: &Received) -> Vec<(String, Span)> {
    let mut all = Vec::new();
    for (path, body) in received.lock().unwrap().iter() {
        assert_eq!(path, "/v1/traces");
        let export = ExportTraceServiceRequest::decode(body.clone()).expect("OTLP protobuf");
        for resource in export.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| string_attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                all.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    all
}

pub fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|a| a.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

#[allow(dead_code)] // not every test binary waits
/// Every span received so far, waiting (bounded by `limit`) until one
/// satisfies `wanted`.
pub async fn wait_for(
    received: &Received,
    limit: std::time::Duration,
    wanted: impl Fn(&Span) -> bool,
) -> Vec<(String, Span)> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let spans = spans(received);
        if spans.iter().any(|(_, s)| wanted(s)) || tokio::time::Instant::now() > deadline {
            return spans;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// All that was exported, as text, to grep for secrets.
pub fn exported_text(received: &Received) -> String {
    let bytes: Vec<u8> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, body)| body.to_vec())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
