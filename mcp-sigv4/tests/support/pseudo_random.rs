//! Deterministic pseudo-random inputs (xorshift64*) for running a fuzz
//! target's checks under `cargo test`: the same bytes on every run.

/// `count` inputs of 0 to `max_len - 1` bytes each.
pub fn inputs(count: usize, max_len: u64) -> impl Iterator<Item = Vec<u8>> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    };
    (0..count).map(move |_| {
        let len = (next() % max_len) as usize;
        (0..len).map(|_| next() as u8).collect()
    })
}
