//! The `gateway_request` fuzz target's properties under `cargo test`: every input
//! that once made it fail (`fuzz/regressions/gateway_request/`) and pseudo-random
//! inputs through the same checks (`fuzz/checks/gateway_request.rs`).

use arbitrary::{Arbitrary, Unstructured};

#[path = "../../../fuzz/checks/gateway_request.rs"]
mod gateway_request;

#[test]
fn pseudo_random_inputs_hold_the_gateway_request_properties() {
    let mut checked = 0;
    for bytes in super::pseudo_random::inputs_from(0x9e37_79b9_7f4a_7c15, 500, 800) {
        if let Ok(input) = gateway_request::Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
            gateway_request::check(input);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} inputs decoded");
}

#[test]
fn every_committed_gateway_request_input_holds_the_properties() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = Vec::new();
    for dir in [
        fuzz.join("regressions/gateway_request"),
        fuzz.join("corpus/gateway_request"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if dir.ends_with("regressions/gateway_request") || name.starts_with("seed-") {
                inputs.push(path);
            }
        }
    }
    let mut replayed = 0;
    for path in inputs {
        let bytes = std::fs::read(path).unwrap();
        let input = gateway_request::Input::arbitrary_take_rest(Unstructured::new(&bytes))
            .expect("a regression input decodes");
        gateway_request::check(input);
        replayed += 1;
    }
    assert!(replayed >= 4, "the regression and the three seeds");
}

#[path = "../../../fuzz/checks/oauth_bearer.rs"]
mod oauth_bearer;

#[test]
fn pseudo_random_inputs_hold_the_oauth_bearer_properties() {
    let mut checked = 0;
    for bytes in super::pseudo_random::inputs(500, 600) {
        if let Ok(input) = oauth_bearer::Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
            oauth_bearer::check(input);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} inputs decoded");
}
