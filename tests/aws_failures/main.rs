//! Behaviour under AWS's own failures, against a scripted endpoint on 127.0.0.1:
//! throttling, transient errors, rejected signatures, stale credentials, clock skew.

mod retry;
#[path = "../support/serve.rs"]
mod serve;
mod server;
mod verified;
