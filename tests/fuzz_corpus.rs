//! The fuzz targets' properties under `cargo test`: every committed seed
//! (`fuzz/corpus/<target>/seed-*`), every input that once made a target fail
//! (`fuzz/regressions/<target>/*`), and a fixed set of pseudo-random inputs go
//! through the same checks the cargo-fuzz targets run (`fuzz/checks/`).

use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};

#[path = "../fuzz/checks/endpoint.rs"]
mod endpoint;
#[path = "support/pseudo_random.rs"]
mod pseudo_random;
#[path = "../fuzz/checks/sign_request.rs"]
mod sign_request;
#[path = "../fuzz/checks/verify_request.rs"]
mod verify_request;

/// Pseudo-random inputs per target: enough to reach the signing and verifying
/// paths, few enough for a debug build.
const RANDOM_INPUTS: u64 = 300;

/// The committed inputs for `target`: seeds and regressions, sorted.
fn committed_inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut inputs = Vec::new();
    let seeds = fuzz.join("corpus").join(target);
    for entry in std::fs::read_dir(&seeds).unwrap_or_else(|e| panic!("{}: {e}", seeds.display())) {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            inputs.push(path);
        }
    }
    if let Ok(entries) = std::fs::read_dir(fuzz.join("regressions").join(target)) {
        inputs.extend(entries.map(|e| e.unwrap().path()));
    }
    inputs.sort();
    inputs
}

/// Decode `bytes` the way libfuzzer-sys does for a typed `fuzz_target!`.
fn decode<T: for<'a> Arbitrary<'a>>(bytes: &[u8]) -> Option<T> {
    T::arbitrary_take_rest(Unstructured::new(bytes)).ok()
}

/// Run every committed input and the pseudo-random ones through `check`, which
/// panics on a violated property and returns whether the input reached it (was
/// signed and verified, accepted, or round-tripped). Returns how many did.
fn replay<T: for<'a> Arbitrary<'a>>(target: &str, seed: u64, check: fn(T) -> bool) -> usize {
    let inputs = committed_inputs(target);
    assert!(!inputs.is_empty(), "no seeds for {target}");
    let mut reached = 0;
    for path in &inputs {
        let bytes = std::fs::read(path).unwrap();
        let input = decode::<T>(&bytes)
            .unwrap_or_else(|| panic!("{} does not decode as {target}'s input", path.display()));
        reached += usize::from(check(input));
    }
    assert!(
        reached > 0,
        "no committed {target} input reaches the property"
    );
    let mut decoded = 0;
    // Lengths 0 to 600.
    for bytes in pseudo_random::inputs_from(seed, RANDOM_INPUTS, 600) {
        if let Some(input) = decode::<T>(&bytes) {
            decoded += 1;
            reached += usize::from(check(input));
        }
    }
    assert!(
        decoded > RANDOM_INPUTS / 2,
        "only {decoded} random inputs decoded for {target}"
    );
    reached
}

#[test]
fn endpoint_inputs() {
    replay("endpoint", 0x5eed_0001, endpoint::check);
}

#[test]
fn sign_request_inputs() {
    replay("sign_request", 0x5eed_0002, sign_request::check);
}

#[test]
fn verify_request_inputs() {
    replay("verify_request", 0x5eed_0003, verify_request::check);
}
