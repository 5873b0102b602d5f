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

mod check;
mod explain;
mod layer;

pub use crate::canonical::{CanonicalError, CredentialScope};
pub use check::{Refusal, VerifiedIdentity, VerifyingKey};
pub use explain::{Explanation, ParsedAuthorization, PathHandling, explain, explain_with};
pub use layer::{VerifySigV4, VerifySigV4Layer};
