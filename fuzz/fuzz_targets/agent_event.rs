//! Bedrock Agents events, parameter conversion, function names and bounded
//! bodies of `mcp-sigv4 lambda` (see `checks/agent_event.rs`).

#![no_main]

#[path = "../checks/agent_event.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|input: check::Input| {
    check::check(input);
});
