//! The demo's "try `ask` locally": the command line `demo --serve` prints, run by
//! a shell against the demo's two stand-ins (the MCP server behind SigV4 for
//! `bedrock-agentcore`, the scripted Converse endpoint behind SigV4 for
//! `bedrock`), with no AWS account.

use std::process::Stdio;

use tokio::process::Command;

use crate::without_proxies::WithoutProxies;
use tower_sigv4::verify::VerifyingKey;

use crate::converse_stand_in::{self, Signer, calls_the_tools};
use crate::demo_server::{self, AskCommand};
use crate::{LIMIT, read_all};

#[tokio::test]
async fn the_printed_ask_command_calls_the_stand_ins_tools_and_prints_the_answer() {
    let mcp = demo_server::start(false).await;
    let converse = converse_stand_in::start_on(
        0,
        calls_the_tools(),
        Signer {
            region: demo_server::REGION,
            access_key: demo_server::ACCESS_KEY,
            key: VerifyingKey::new(demo_server::SECRET_KEY)
                .with_session_token(demo_server::SESSION_TOKEN),
        },
    )
    .await
    .unwrap();
    // As the demo prints it: the absolute path of the checkout's binary, so
    // that nothing needs installing.
    let line = AskCommand::new(&mcp.url(), &converse.url())
        .program(env!("CARGO_BIN_EXE_mcp-sigv4"))
        .shell_line();

    // As a user pastes it: a shell, no `mcp-sigv4` on the PATH, no AWS set-up.
    let mut child = Command::new("sh")
        .args(["-c", &line])
        .env("PATH", "/usr/bin:/bin")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        .env_remove("MCP_SIGV4_LOG")
        .without_proxies()
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = tokio::spawn(read_all(child.stdout.take().unwrap()));
    let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("ask finished in time")
        .unwrap();
    let (stdout, stderr) = (stdout.await.unwrap(), stderr.await.unwrap());

    assert_eq!(
        status.code(),
        Some(0),
        "{line}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The model asked for echo and add once each; the MCP stand-in served both.
    assert_eq!(mcp.stats.tool_calls(), 2, "{stderr}");
    assert_eq!(mcp.stats.refused(), 0);
    // Two Converse calls, both signed for `bedrock` and verified.
    assert_eq!(converse.received().len(), 2);
    assert_eq!(converse.refused(), 0);
    // The final answer carries what the stand-in's tools returned.
    assert_eq!(
        stdout.trim(),
        format!(
            "The stand-in's tools answered: echo said {:?}; add said \"42\".",
            demo_server::QUESTION
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("tool call:").count(), 2, "{stderr}");
    assert!(!stderr.contains(demo_server::SECRET_KEY));
}
