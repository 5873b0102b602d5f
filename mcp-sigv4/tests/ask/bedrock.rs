//! The scripted Converse stand-in of the demo (`examples/demo/bedrock.rs`),
//! accepting the tests' credentials.

pub use crate::converse_stand_in::{BedrockStandIn, Script, Turn, play, tool_use};
use crate::converse_stand_in::{Signer, start_on};
use tower_sigv4::verify::VerifyingKey;

use crate::{ACCESS_KEY, REGION, SECRET_KEY};

/// A stand-in that plays `turns` in order (and fails past the end).
pub async fn scripted(turns: Vec<Turn>) -> BedrockStandIn {
    start(play(turns)).await
}

pub async fn start(script: Script) -> BedrockStandIn {
    start_on(
        0,
        script,
        Signer {
            region: REGION,
            access_key: ACCESS_KEY,
            key: VerifyingKey::new(SECRET_KEY),
        },
    )
    .await
    .expect("binding 127.0.0.1 on a free port")
}
