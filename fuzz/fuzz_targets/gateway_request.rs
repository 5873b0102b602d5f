//! Hostile gateway requests: head checks, routing names, JSON-RPC messages and
//! batches, and sealed session ids (see `checks/gateway_request.rs`).

#![no_main]

#[path = "../checks/gateway_request.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|input: check::Input| {
    check::check(input);
});
