//! A scripted endpoint on 127.0.0.1 for the HTTP edge cases: answers every
//! request with a function of it, and records what it received.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::server::{self, Served};

type ResBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

pub struct Scripted {
    served: Served,
    pub received: Arc<Mutex<Vec<Request<Bytes>>>>,
}

impl Scripted {
    pub async fn start<F>(reply: F) -> Self
    where
        F: Fn(&Request<Bytes>) -> Response<ResBody> + Clone + Send + Sync + 'static,
    {
        let received = Arc::new(Mutex::new(Vec::new()));
        let service = {
            let received = received.clone();
            tower::service_fn(move |request: Request<Incoming>| {
                let reply = reply.clone();
                let received = received.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default();
                    let request = Request::from_parts(parts, body);
                    let response = reply(&request);
                    received.lock().unwrap().push(request);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        Self {
            served: server::serve(service).await,
            received,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.served.addr())
    }

    pub fn header(&self, i: usize, name: &str) -> Option<String> {
        self.received.lock().unwrap()[i]
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub fn reply(status: u16, content_type: &str, body: &'static str) -> Response<ResBody> {
    let mut response = Response::builder().status(status);
    if !content_type.is_empty() {
        response = response.header("content-type", content_type);
    }
    response.body(server::full(body)).unwrap()
}
