//! The `gateway_request` fuzz target's properties under `cargo test`: pseudo-random
//! inputs through the same checks (`fuzz/checks/gateway_request.rs`).

use arbitrary::{Arbitrary, Unstructured};

#[path = "../../../fuzz/checks/gateway_request.rs"]
mod gateway_request;

#[test]
fn pseudo_random_inputs_hold_the_gateway_request_properties() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut checked = 0;
    for _ in 0..500 {
        let len = (next() % 800) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Ok(input) = gateway_request::Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
            gateway_request::check(input);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} inputs decoded");
}
