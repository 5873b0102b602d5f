//! Arbitrary strings through endpoint inference and the AgentCore ARN helpers: no
//! panic, and every URL built parses back to the same ARN and qualifier.
//!
//! Shared by the cargo-fuzz target `fuzz_targets/endpoint.rs` and by
//! `tests/fuzz_corpus.rs`, which replays the seeds and every regression input under
//! `cargo test`.

use arbitrary::Arbitrary;
use tower_sigv4::endpoint::{self, RuntimeArn};

#[derive(Arbitrary, Debug)]
pub struct Input {
    url: String,
    arn: String,
    qualifier: Option<String>,
    region: String,
    runtime_id: String,
}

/// Run one input; panics on a violated property. Returns whether an ARN parsed
/// and its invocation URL was checked.
pub fn check(input: Input) -> bool {
    let mut round_tripped = false;
    let _ = endpoint::infer(&input.url);
    let _ = RuntimeArn::from_invocation_url(&input.url);
    // A free-form ARN, and one assembled from fuzzed parts so valid ones are common.
    let assembled = format!(
        "arn:aws:bedrock-agentcore:{}:123456789012:runtime/{}",
        input.region, input.runtime_id
    );
    for candidate in [input.arn.as_str(), assembled.as_str()] {
        if let Ok(arn) = candidate.parse::<RuntimeArn>() {
            let url = arn.invocation_url(input.qualifier.as_deref());
            let (back, qualifier) = RuntimeArn::from_invocation_url(&url)
                .unwrap_or_else(|| panic!("{url} does not parse back"));
            assert_eq!(back, arn, "{url}");
            let expected = input
                .qualifier
                .as_deref()
                .unwrap_or(endpoint::DEFAULT_QUALIFIER);
            assert_eq!(qualifier.as_deref(), Some(expected), "{url}");
            let inferred = endpoint::infer(&url).expect("a runtime URL infers");
            assert_eq!(inferred.region, arn.region());
            round_tripped = true;
        }
    }
    round_tripped
}
