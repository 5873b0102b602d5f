//! Behaviour of the signing layer: body handling, header rules, errors, secrets,
//! and an end-to-end run through hyper-util's client to a local hyper server.

mod body;
mod credentials;
mod headers;
mod support;
