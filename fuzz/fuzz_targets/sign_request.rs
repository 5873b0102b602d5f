//! Arbitrary method, URI, headers and body through the signing layer with fixed
//! credentials and clock: never a panic, and whatever it signs, the verifying layer
//! accepts.

#![no_main]

#[path = "../checks/sign_request.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|input: check::Input| {
    check::check(input);
});
