//! docs/bedrock-agents.md's "Try it on your machine", run as written: its
//! `export` and `mcp-sigv4` lines, by a shell, against the demo's stand-in,
//! with the stand-in's URL and credentials where the page says to put them.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::{TempDir, credentials, server};

/// The lines of the page's second code block under the heading.
fn try_it_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let page = std::fs::read_to_string(root.join("docs/bedrock-agents.md")).unwrap();
    let section = page
        .split("## Try it on your machine")
        .nth(1)
        .expect("docs/bedrock-agents.md has the section")
        .split("\n## ")
        .next()
        .unwrap();
    let block = section
        .split("```sh\n")
        .nth(2)
        .expect("the section's second sh block")
        .split("```")
        .next()
        .unwrap();
    block.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn the_try_it_section_runs_as_written_against_the_stand_in() {
    let stand_in = server::start(false).await;
    let lines = try_it_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("mcp-sigv4 agent-schema"))
            && lines
                .iter()
                .any(|l| l.starts_with("mcp-sigv4 lambda --event")),
        "{lines:?}"
    );
    // What the reader types where the page says "the URL it printed".
    let script = lines
        .join("\n")
        .replace("the URL it printed", &stand_in.url());
    let script = format!("set -e\n{script}\n");
    let bin = Path::new(env!("CARGO_BIN_EXE_mcp-sigv4")).parent().unwrap();
    let dir = TempDir::new("docs");
    let mut command = tokio::process::Command::new("sh");
    command
        .args(["-c", &script])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        // The three lines the stand-in prints, exported.
        .envs(credentials())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(crate::LIMIT, command.output())
        .await
        .expect("the lines finish within the limit")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // agent-schema's JSON first, then lambda's: two documents.
    let documents: Vec<Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(documents.len(), 2, "{stdout}");
    let names: Vec<&str> = documents[0]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["add", "count", "echo"], "{stdout}");
    assert_eq!(
        documents[1]["response"]["functionResponse"]["responseBody"]["TEXT"]["body"], "42",
        "{stdout}"
    );
    assert_eq!(documents[1]["response"]["function"], "add");
    // Both commands' requests were signed and verified; one tool call.
    assert_eq!(stand_in.stats.refused(), 0);
    assert_eq!(stand_in.stats.tool_calls(), 1);
}
