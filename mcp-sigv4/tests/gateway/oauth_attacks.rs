//! The attacks of `security.rs` against a gateway that is an OAuth 2.1
//! resource server (issue #31), each sent with a valid access token so that
//! authentication does not mask the defence under test, and a bounded load of
//! calls with one token. Each refusal has a control beside it: the same request
//! without the attack passes with the same token.

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::oauth::{AuthServer, CLIENT, SCOPE, now, oauth_gateway};
use super::security::upstream_requests;
use super::{
    Answer, Gateway, SESSION_SECRET, Upstreams, client, initialize, open, post, rpc, send, text,
    upstreams,
};

/// A gateway with OAuth in front of the two upstreams, its authorization
/// server, and a valid token (scope `mcp:tools`, so the server `tools`) for
/// the gateway's audience, accepted on every route.
struct Protected {
    up: Upstreams,
    auth: AuthServer,
    gateway: Gateway,
    public: String,
    token: String,
}

impl Protected {
    async fn start(extra: &[&str]) -> Self {
        let up = upstreams().await;
        let auth = AuthServer::start(0).await;
        let (gateway, public) = oauth_gateway(&up, &auth.issuer, extra).await;
        let token = auth
            .token(CLIENT, &format!("{public}/mcp"), Some(SCOPE))
            .await;
        // The gateway fetches the issuer's keys after it starts listening:
        // until then a token gets 503. `agent` is not granted to the token,
        // so the probe is refused (403) without reaching an upstream.
        let bearer = format!("Bearer {token}");
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..100 {
            status = post(
                &format!("{public}/mcp/agent"),
                &[("authorization", &bearer)],
                &initialize(),
            )
            .await
            .status;
            if status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", gateway.stderr());
        assert_eq!(upstream_requests(&up), 0);
        Self {
            up,
            auth,
            gateway,
            public,
            token,
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// A tools/list at `url` with `bearer` and `session`.
async fn list(url: &str, bearer: &str, session: &str) -> Answer {
    post(
        url,
        &[("authorization", bearer), ("mcp-session-id", session)],
        &rpc(7, "tools/list", json!({})),
    )
    .await
}

fn error_message(answer: &Answer) -> &str {
    answer.messages[0]["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {answer:?}"))
}

#[tokio::test]
async fn with_a_valid_token_foreign_hosts_cross_site_posts_oversized_requests_and_fan_out_are_refused()
 {
    let p = Protected::start(&["--max-body-size", "2048", "--max-batch", "3"]).await;
    let bearer = p.bearer();
    let auth = ("authorization", bearer.as_str());
    let url = format!("{}/mcp", p.public);

    // DNS rebinding: a page's own name, resolved to 127.0.0.1.
    let rebound = post(
        &url,
        &[
            auth,
            ("host", "attacker.example:4000"),
            ("origin", "http://attacker.example:4000"),
        ],
        &initialize(),
    )
    .await;
    assert_eq!(rebound.status, StatusCode::FORBIDDEN, "{rebound:?}");
    let foreign_host = post(&url, &[auth, ("host", "attacker.example")], &initialize()).await;
    assert_eq!(
        foreign_host.status,
        StatusCode::FORBIDDEN,
        "{foreign_host:?}"
    );
    for origin in [
        "https://attacker.example",
        "null",
        "http://localhost.attacker.example",
    ] {
        let cross_site = post(&url, &[auth, ("origin", origin)], &initialize()).await;
        assert_eq!(
            cross_site.status,
            StatusCode::FORBIDDEN,
            "{origin}: {cross_site:?}"
        );
    }
    // A cross-site "simple" POST needs no preflight: text/plain, with the
    // page's Origin and no Authorization header (a browser never adds one to
    // a simple request). The Origin check refuses it (403) before
    // authentication would (401).
    let simple = |origin: Option<&str>| {
        let mut request = Request::post(&url).header("content-type", "text/plain");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let request = request
            .body(Full::new(Bytes::from(initialize().to_string())))
            .unwrap();
        async move {
            tokio::time::timeout(super::LIMIT, client().request(request))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let cross_site = simple(Some("https://attacker.example")).await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    // Without an Origin, it carries no token: 401 with the challenge.
    let anonymous = simple(None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        anonymous
            .headers()
            .get(http::header::WWW_AUTHENTICATE)
            .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer resource_metadata=")),
        "{anonymous:?}"
    );
    // With the token, the POST is not "simple": a browser must first send a
    // preflight, which is refused for a foreign origin and allows nothing.
    let preflight = Request::options(&url)
        .header("origin", "https://attacker.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let preflight = tokio::time::timeout(super::LIMIT, client().request(preflight))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::FORBIDDEN);
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{preflight:?}"
    );

    // Fan-out: more names than servers, and an oversized routing header.
    let three = post(
        &url,
        &[auth, ("x-litellm-mcp-server", "tools,tools,tools")],
        &initialize(),
    )
    .await;
    assert_eq!(three.status, StatusCode::BAD_REQUEST, "{three:?}");
    assert!(
        error_message(&three).contains("more than the 2"),
        "{three:?}"
    );
    let thousand = vec!["tools"; 1000].join(",");
    let header = post(
        &url,
        &[auth, ("x-litellm-mcp-server", &thousand)],
        &initialize(),
    )
    .await;
    assert_eq!(
        header.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "{header:?}"
    );
    // An oversized body.
    let big = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "x".repeat(4096), "version": "1"}}),
    );
    let too_large = post(&format!("{url}/tools"), &[auth], &big).await;
    assert_eq!(
        too_large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{too_large:?}"
    );
    assert_eq!(
        upstream_requests(&p.up),
        0,
        "a refused request reached an upstream"
    );

    // Controls: with the same token, the loopback origin and a name given
    // twice (one server) pass; each reaches `tools` once.
    let port = p.public.rsplit(':').next().unwrap().to_owned();
    let local = format!("http://localhost:{port}");
    let same_host = post(
        &format!("{url}/tools"),
        &[auth, ("origin", &local)],
        &initialize(),
    )
    .await;
    assert_eq!(same_host.status, StatusCode::OK, "{same_host:?}");
    let twice = post(
        &url,
        &[auth, ("x-litellm-mcp-server", "tools, tools")],
        &initialize(),
    )
    .await;
    assert_eq!(twice.status, StatusCode::OK, "{twice:?}");
    assert_eq!(p.up.tools.initializes.load(Ordering::SeqCst), 2);

    // A batch over --max-batch: refused whole, none of it upstream.
    let session = open(&p.gateway, "/mcp/tools", &[auth]).await;
    let headers = [auth, ("mcp-session-id", session.as_str())];
    let call = |id| rpc(id, "tools/call", json!({"name": "whoami"}));
    let before = upstream_requests(&p.up);
    let four = json!([call(1), call(2), call(3), call(4)]);
    let refused = post(&format!("{url}/tools"), &headers, &four).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    assert_eq!(refused.messages[0]["error"]["code"], -32600, "{refused:?}");
    assert!(
        error_message(&refused).contains("--max-batch"),
        "{refused:?}"
    );
    assert_eq!(
        upstream_requests(&p.up),
        before,
        "part of a refused batch reached the upstream"
    );
    let three = json!([call(1), call(2), call(3)]);
    let answered = post(&format!("{url}/tools"), &headers, &three).await;
    assert_eq!(answered.status, StatusCode::OK, "{answered:?}");
    assert_eq!(answered.messages[0].as_array().unwrap().len(), 3);
    assert_eq!(upstream_requests(&p.up), before + 3);
    assert_eq!(
        p.up.agent.stats.accepted() + p.up.agent.stats.refused(),
        0,
        "the token's rules grant `tools` only"
    );
}

/// The session-binding digest the gateway computes for an OAuth identity
/// (`caller.rs`, `Caller::digest`), from the token's own `iss` and `sub`.
fn oauth_caller_digest(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    let bound = format!(
        "oauth:{} {}",
        claims["iss"].as_str().unwrap(),
        claims["sub"].as_str().unwrap()
    );
    Sha256::digest(bound.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn with_a_valid_token_forged_deleted_and_another_subjects_sessions_are_refused() {
    use mcp_sigv4::gateway::Session;
    use mcp_sigv4::gateway::session::Sealer;
    let p = Protected::start(&[]).await;
    let bearer = p.bearer();
    let auth = ("authorization", bearer.as_str());
    let url = format!("{}/mcp/tools", p.public);
    let session = open(&p.gateway, "/mcp/tools", &[auth]).await;
    assert_eq!(list(&url, &bearer, &session).await.status, StatusCode::OK);

    // Forged: a session bound to this very identity, sealed with a guessed
    // key. Control: sealed with the gateway's key, the same session passes,
    // so only the seal refuses the forgery.
    let mut made = Session::new(initialize(), Duration::from_secs(600));
    made.caller = oauth_caller_digest(&p.token);
    let genuine = Sealer::new(SESSION_SECRET.as_bytes()).unwrap().seal(&made);
    let control = list(&url, &bearer, &genuine).await;
    assert_eq!(control.status, StatusCode::OK, "{control:?}");
    let forged = Sealer::new(&[b'x'; 32]).unwrap().seal(&made);
    let before = upstream_requests(&p.up);
    let refused = list(&url, &bearer, &forged).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{refused:?}");
    assert_eq!(upstream_requests(&p.up), before);

    // Another subject with the same scope: a valid token that opens its own
    // sessions (control) but not this one.
    let intruder = p
        .auth
        .sign(
            json!({}),
            json!({
                "iss": p.auth.issuer, "sub": "intruder", "aud": format!("{}/mcp", p.public),
                "scope": SCOPE, "iat": now(), "exp": now() + 300,
            }),
        )
        .await;
    let intruder = format!("Bearer {intruder}");
    let own = open(&p.gateway, "/mcp/tools", &[("authorization", &intruder)]).await;
    assert_eq!(list(&url, &intruder, &own).await.status, StatusCode::OK);
    let before = upstream_requests(&p.up);
    let stolen = list(&url, &intruder, &session).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{stolen:?}");
    assert_eq!(
        upstream_requests(&p.up),
        before,
        "another subject's request reached the upstream"
    );
    assert_eq!(list(&url, &bearer, &session).await.status, StatusCode::OK);

    // Replayed after DELETE, with the token that opened it.
    let deleted = send(
        "DELETE",
        &url,
        &[auth, ("mcp-session-id", session.as_str())],
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{deleted:?}");
    let (before, started) = (upstream_requests(&p.up), p.up.tools.started());
    let replayed = list(&url, &bearer, &session).await;
    assert_eq!(replayed.status, StatusCode::NOT_FOUND, "{replayed:?}");
    assert!(error_message(&replayed).contains("DELETE"), "{replayed:?}");
    assert_eq!(upstream_requests(&p.up), before);
    assert_eq!(p.up.tools.started(), started);
}

#[tokio::test]
async fn two_hundred_calls_with_one_token_from_eight_tasks_all_succeed_once_each_upstream() {
    const TASKS: usize = 8;
    const CALLS: usize = 200;
    let p = Protected::start(&[]).await;
    let bearer = p.bearer();
    let session = open(&p.gateway, "/mcp/tools", &[("authorization", &bearer)]).await;
    let url = format!("{}/mcp/tools", p.public);
    let before = p.up.tools.seen.load(Ordering::SeqCst);
    let tasks = (0..TASKS).map(|task| {
        let (url, bearer, session) = (url.clone(), bearer.clone(), session.clone());
        tokio::spawn(async move {
            let mut answered = 0;
            for call in (task..CALLS).step_by(TASKS) {
                let answer = post(
                    &url,
                    &[("authorization", &bearer), ("mcp-session-id", &session)],
                    &rpc(call as i64, "tools/call", json!({"name": "whoami"})),
                )
                .await;
                assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
                assert_eq!(answer.reply()["id"], call, "{answer:?}");
                assert_eq!(text(&answer), "the bearer-protected server");
                answered += 1;
            }
            answered
        })
    });
    let answered: usize = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert_eq!(answered, CALLS);
    assert_eq!(
        p.up.tools.seen.load(Ordering::SeqCst) - before,
        CALLS,
        "each call reached the upstream exactly once"
    );
    assert_eq!(p.up.tools.refused.load(Ordering::SeqCst), 0);
}
