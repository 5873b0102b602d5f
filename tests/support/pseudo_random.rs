//! Deterministic pseudo-random inputs for running a fuzz target's checks under
//! `cargo test`: the same bytes on every run. One generator for the library's
//! tests (`tests/fuzz_corpus.rs`) and the application's (`mcp-sigv4/tests/`,
//! which include this file by `#[path]`).
//!
//! The generator is xorshift64 (shifts 12, 25, 27) with each output scrambled
//! by a multiplication, as xorshift64* does. [`inputs_from`] is xorshift64*
//! proper; [`inputs`] keeps the stream the application's checks have always
//! run (another seed, and the golden-ratio multiplier), so that each test
//! still sees the bytes it was written against.

#![allow(dead_code)] // A test binary may use only one of the two streams.

/// The xorshift64* multiplier.
const XORSHIFT64_STAR: u64 = 0x2545_f491_4f6c_dd1d;
/// 2^64 divided by the golden ratio: the multiplier of [`inputs`].
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64* from `seed`: `count` inputs of 0 to `max_len - 1` bytes each.
pub fn inputs_from(seed: u64, count: u64, max_len: u64) -> impl Iterator<Item = Vec<u8>> {
    stream(seed, XORSHIFT64_STAR, count, max_len)
}

/// The application's stream: `count` inputs of 0 to `max_len - 1` bytes each.
pub fn inputs(count: u64, max_len: u64) -> impl Iterator<Item = Vec<u8>> {
    stream(XORSHIFT64_STAR, GOLDEN, count, max_len)
}

fn stream(seed: u64, multiplier: u64, count: u64, max_len: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut state = seed;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(multiplier)
    };
    (0..count).map(move |_| {
        let len = (next() % max_len) as usize;
        (0..len).map(|_| next() as u8).collect()
    })
}
