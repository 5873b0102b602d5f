//! The proxy keeps the host's order (issue #27): the host's requests after
//! `notifications/initialized` reach the server only once the server has
//! answered the GET of its event stream, so a server that sends its sampling
//! request on that stream finds it open for the host's first call.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{Cli, LIMIT, credentials_env, ordered_server};

/// Proxies started, one session each.
const SESSIONS: usize = 20;

const HOLDING: &str = "holding the host's messages until the server's event stream opens";

#[tokio::test]
async fn the_hosts_first_call_waits_for_the_servers_event_stream() {
    let (server, mut gets) = ordered_server::start_gated().await;
    let url = server.url();
    for round in 0..SESSIONS {
        let mut cli = Cli::proxy(
            &url,
            "bedrock-agentcore",
            &[],
            &[
                credentials_env().as_slice(),
                &[("MCP_SIGV4_LOG", "info,mcp_sigv4::relay=debug")],
            ]
            .concat(),
        );
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(cli.child.stderr.take().unwrap()).lines();
        let log = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        cli.send(&crate::initialize(0)).await;
        let (reply, _) = cli.recv_id(0).await;
        assert!(reply["result"].is_object(), "{reply}");
        // The host writes both at once, without waiting for anything.
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "sample", "arguments": {}}});
        cli.send(&format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}\n{call}"
        ))
        .await;
        // The server has the GET and has not answered it. Either the call
        // reaches it now (and is refused: the host gets an error), or the
        // proxy holds it.
        let held = tokio::time::timeout(LIMIT, gets.recv())
            .await
            .expect("the GET reached the server in time")
            .unwrap();
        tokio::select! {
            early = cli.recv() => panic!("round {round}: the call reached the server before its GET stream was open: {early}"),
            () = async {
                while !stderr.lock().unwrap().contains(HOLDING) {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            } => {}
            () = tokio::time::sleep(LIMIT) => panic!("round {round}: the call was neither held nor answered"),
        }
        held.send(()).unwrap();
        let ask = cli.recv().await;
        assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
        let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
            "role": "assistant", "model": "stand-in",
            "content": {"type": "text", "text": format!("round {round}")}}});
        cli.send(&answer.to_string()).await;
        let (reply, _): (Value, _) = cli.recv_id(1).await;
        assert_eq!(
            reply["result"]["content"][0]["text"],
            format!("sampled: round {round}"),
            "{reply}"
        );
        let (code, _) = cli.finish().await;
        assert_eq!(code, 0);
    }
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), SESSIONS);
    for (session, arrived) in arrivals {
        assert_eq!(arrived, ["open", "call"], "{session}");
    }
}
