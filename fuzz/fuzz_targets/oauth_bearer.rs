//! Hostile credentials: `Authorization` / `x-litellm-api-key` values and bearer
//! tokens through the OAuth resource server (see `checks/oauth_bearer.rs`).

#![no_main]

#[path = "../checks/oauth_bearer.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|input: check::Input| {
    check::check(input);
});
