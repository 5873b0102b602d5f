//! Arbitrary strings through endpoint inference and the AgentCore ARN helpers: no
//! panic, and every URL built parses back to the same ARN and qualifier.

#![no_main]

#[path = "../checks/endpoint.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|input: check::Input| {
    check::check(input);
});
