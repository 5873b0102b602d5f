//! A server-side layer that verifies SigV4 signatures on incoming requests
//! (feature `verify`): for private MCP servers behind SigV4, and as a local
//! stand-in for AgentCore in tests.
//!
//! [`VerifySigV4<S>`] buffers the request body (bounded), looks up the secret key
//! by access key id, checks the credential scope (region, service, date) and the
//! clock skew, recomputes the signature with the crate's own SigV4 implementation
//! (written from AWS's specification, independent of aws-sigv4) over the received method, path,
//! query, signed headers and body hash, and compares in constant time. Accepted
//! requests reach the inner service with a [`VerifiedIdentity`] extension and the
//! buffered body; responses stream through. Refused requests never reach it: they
//! get a 403 with an AWS-style JSON body that says which part did not match.
//!
//! It is as strict as AWS where AWS's rules are known: a request with two
//! `authorization`, `x-amz-date`, `x-amz-security-token`, `x-amz-content-sha256` or
//! `host` headers is refused (with two, the first would silently win); the session
//! token and the signature are compared in constant time. Over HTTP/2, where the
//! host travels in `:authority` and hyper makes no `host` header of it, the signed
//! `host` is the request URI's authority. Header values are canonicalised as
//! botocore and AWS CRT do it: SP and HT trimmed, inner runs of them folded to one
//! space, any other byte (obs-text included) kept.
//!
//! # Unsigned headers
//!
//! SigV4 covers only the headers the client listed in `SignedHeaders`. Any other
//! header (`mcp-session-id`, `content-type`, anything) reaches the inner service
//! as it arrived, unchecked: whoever can change a request on its way can add or
//! change it. [`VerifiedIdentity::signed_headers`] says which headers were signed.
//! [`VerifySigV4Layer::require_signed`] refuses a request that carries a named
//! header without signing it, and [`VerifySigV4Layer::strip_unsigned_headers`]
//! removes unsigned headers before the inner service sees the request.
//!
//! # Replay
//!
//! A signature proves who signed a request and that it was not changed, not that
//! it is the first time it is seen: a captured request verifies again for as long
//! as its `x-amz-date` stays within [`max_clock_skew`](VerifySigV4Layer::max_clock_skew)
//! of the server's clock (5 minutes by default, either way). AWS has the same
//! window. Where a replay would do harm (a `tools/call` that acts), either
//!
//! - make the window short (`max_clock_skew(Duration::from_secs(30))`, with clocks
//!   kept in sync), or
//! - have clients send a unique nonce header, require it to be signed with
//!   [`require_signed`](VerifySigV4Layer::require_signed), and have the
//!   application refuse a request without it or with one it has already seen in
//!   the window (it needs to remember nonces only for the window).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, service_fn};
//! use tower_sigv4::verify::{VerifiedIdentity, VerifySigV4Layer, VerifyingKey};
//!
//! let layer = VerifySigV4Layer::with_keys(
//!     "us-east-1",
//!     "bedrock-agentcore",
//!     [("AKIDEXAMPLE", VerifyingKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))],
//! );
//! let service = ServiceBuilder::new().layer(layer).service(service_fn(
//!     |req: http::Request<Full<Bytes>>| async move {
//!         let who = req.extensions().get::<VerifiedIdentity>().unwrap().access_key_id.clone();
//!         Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(who))))
//!     },
//! ));
//! # let _ = service;
//! ```
//!
//! # Example: a key lookup, a session token, a frozen clock
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tower_sigv4::clock::FixedClock;
//! use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};
//!
//! let layer = VerifySigV4Layer::new("us-west-2", "aws-mcp", |access_key_id: &str| {
//!     (access_key_id == "ASIAEXAMPLE")
//!         .then(|| VerifyingKey::new("secret").with_session_token("token"))
//! })
//! .max_clock_skew(Duration::from_secs(60))
//! .max_body_size(1024 * 1024)
//! .clock(FixedClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
//! # let _ = layer;
//! ```
//!
//! # Example: a nonce against replay, unsigned headers dropped
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, service_fn};
//! use tower_sigv4::verify::{VerifiedIdentity, VerifySigV4Layer, VerifyingKey};
//!
//! let layer = VerifySigV4Layer::with_keys(
//!     "us-east-1",
//!     "aws-mcp",
//!     [("AKIDEXAMPLE", VerifyingKey::new("secret"))],
//! )
//! .max_clock_skew(Duration::from_secs(60))
//! .require_signed(["x-request-nonce", "mcp-session-id"])
//! .strip_unsigned_headers(true);
//! let service = ServiceBuilder::new().layer(layer).service(service_fn(
//!     |req: http::Request<Full<Bytes>>| async move {
//!         let identity = req.extensions().get::<VerifiedIdentity>().unwrap();
//!         // Signed if present; the application checks it is present and new.
//!         let fresh = req.headers().contains_key("x-request-nonce")
//!             && identity.is_signed("x-request-nonce"); // && not seen in the last minute
//!         let status = if fresh { 200 } else { 403 };
//!         let mut response = http::Response::new(Full::new(Bytes::new()));
//!         *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
//!         Ok::<_, std::convert::Infallible>(response)
//!     },
//! ));
//! # let _ = service;
//! ```

mod check;
/// Rebuilding what a request was signed over: the application's `explain` and
/// `sign` commands reach it through `tower_sigv4::unstable` (feature `unstable`).
#[cfg_attr(not(feature = "unstable"), allow(unreachable_pub, dead_code))]
pub(crate) mod explain;
pub mod future;
mod layer;

pub use check::{Refusal, VerifiedIdentity, VerifyingKey};
pub use layer::{VerifySigV4, VerifySigV4Layer};
