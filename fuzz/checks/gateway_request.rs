//! What the gateway parses from hostile clients, before any upstream is touched:
//! the request head checks (`Host`, `Origin`, method, content type), the routing
//! names, each JSON-RPC message of a body or batch, and the sealed-session opener.
//!
//! Shared by the cargo-fuzz target `fuzz_targets/gateway_request.rs` and by
//! `mcp-sigv4/tests/gateway/fuzz.rs`, which runs pseudo-random inputs through it
//! under `cargo test`.

use std::time::Duration;

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use mcp_sigv4::gateway::session::{Sealer, Session, now};
use mcp_sigv4::gateway::{AllowedHosts, guard};
use serde_json::Value;

const KNOWN: [&str; 3] = ["weather", "github", "weather-eu"];

#[derive(Arbitrary, Debug)]
pub struct Input {
    method: u8,
    path: String,
    query: Option<String>,
    host: Option<String>,
    origin: Option<String>,
    content_type: Option<String>,
    routing_header: Option<String>,
    allowed: Vec<String>,
    loopback: bool,
    body: Vec<u8>,
    token: String,
    /// A session to seal with the gateway's key, then alter.
    sealed: Option<Sealed>,
}

#[derive(Arbitrary, Debug)]
pub struct Sealed {
    /// Server names and upstream session ids.
    upstreams: Vec<(String, Option<String>)>,
    initialize: Option<String>,
    ttl: u16,
    /// Where one bit of the sealed id is flipped.
    flip: u8,
}

/// Run one input; panics on a violated property.
pub fn check(input: Input) {
    let allowed = AllowedHosts::new(input.loopback, &input.allowed);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &Option<String>| {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("host", &input.host);
    set("origin", &input.origin);
    set("content-type", &input.content_type);
    set("x-litellm-mcp-server", &input.routing_header);

    if guard::check_host_and_origin(&headers, None, &allowed).is_ok() {
        // A loopback gateway with no names answers only to the loopback names.
        if input.loopback && input.allowed.iter().all(|n| n.trim().is_empty()) {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let host = host.trim();
            let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            assert!(
                ["localhost", "127.0.0.1", "[::1]"].contains(&name.as_str()),
                "Host {host:?} passed on loopback"
            );
        }
    }
    let method = [
        Method::POST,
        Method::GET,
        Method::DELETE,
        Method::PUT,
        Method::OPTIONS,
    ][usize::from(input.method) % 5]
        .clone();
    let _ = guard::check_method_and_content_type(&method, &headers);

    if let Ok(Some(chosen)) = guard::routing_names(
        &input.path,
        &headers,
        input.query.as_deref(),
        &KNOWN,
        &KNOWN[..1],
    ) {
        assert!(
            !chosen.is_empty() && chosen.len() <= KNOWN.len(),
            "{chosen:?}"
        );
        for (i, index) in chosen.iter().enumerate() {
            assert!(*index < KNOWN.len());
            assert!(
                !chosen[..i].contains(index),
                "a repeated server: {chosen:?}"
            );
        }
    }

    if let Ok(message) = serde_json::from_slice::<Value>(&input.body) {
        match &message {
            Value::Array(batch) => batch.iter().for_each(check_message),
            single => check_message(single),
        }
    }

    let sealer = Sealer::new(&[7u8; 32]).unwrap();
    let _ = sealer.unseal(&input.token, now());
    if let Some(Sealed {
        upstreams,
        initialize,
        ttl,
        flip,
    }) = input.sealed
    {
        let mut session = Session::new(
            initialize.map_or(Value::Null, Value::String),
            Duration::from_secs(u64::from(ttl) + 1),
        );
        for (name, id) in upstreams {
            session.upstreams.insert(
                name,
                mcp_sigv4::gateway::session::UpstreamSession {
                    session_id: id,
                    ..Default::default()
                },
            );
        }
        let token = sealer.seal(&session);
        // It opens up to its expiry second included (the clock is a parameter,
        // so the property does not depend on how long the run takes), and not after.
        assert_eq!(
            sealer.unseal(&token, session.expires).as_ref(),
            Ok(&session)
        );
        assert!(sealer.unseal(&token, session.expires + 1).is_err());
        let mut altered = token.clone().into_bytes();
        let at = usize::from(flip) % altered.len();
        altered[at] ^= 0x01;
        if let Ok(altered) = String::from_utf8(altered)
            && altered.trim() != token
        {
            assert!(
                sealer.unseal(&altered, now()).is_err(),
                "an altered id opened"
            );
        }
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert!(
            other.unseal(&token, now()).is_err(),
            "another key opened it"
        );
    }
}

fn check_message(message: &Value) {
    if let Err(reply) = guard::check_message(message) {
        assert_eq!(reply["error"]["code"], -32600, "{reply}");
        assert_eq!(reply["jsonrpc"], "2.0");
    }
}
