//! Arbitrary inbound requests through the verifying layer: never a panic, and never
//! an acceptance unless the request was signed with the right key.

#![no_main]

#[path = "../checks/verify_request.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|input: check::Input| {
    check::check(input);
});
