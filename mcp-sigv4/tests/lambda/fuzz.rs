//! The `agent_event` fuzz target's properties under `cargo test`: pseudo-random
//! inputs and the committed corpus through the same checks
//! (`fuzz/checks/agent_event.rs`).

use arbitrary::{Arbitrary, Unstructured};

#[path = "../../../fuzz/checks/agent_event.rs"]
mod agent_event;

#[test]
fn pseudo_random_inputs_hold_the_agent_event_properties() {
    let mut checked = 0;
    for bytes in super::pseudo_random::inputs(500, 1200) {
        if let Ok(input) = agent_event::Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
            agent_event::check(input);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} inputs decoded");
}

#[test]
fn every_committed_agent_event_input_holds_the_properties() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut inputs = 0;
    for dir in [
        fuzz.join("regressions/agent_event"),
        fuzz.join("corpus/agent_event"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.starts_with("seed-") || dir.ends_with("regressions/agent_event")) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            if let Ok(input) = agent_event::Input::arbitrary_take_rest(Unstructured::new(&bytes)) {
                agent_event::check(input);
                inputs += 1;
            }
        }
    }
    let _ = inputs;
}
