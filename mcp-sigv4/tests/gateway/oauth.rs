//! The gateway as an OAuth 2.1 resource server, against a real authorization
//! server on 127.0.0.1 (node-oidc-provider, `tests/support/oauth_as/`, issuing
//! JWT access tokens by the client-credentials grant with resource
//! indicators), and the Python MCP SDK's own OAuth client provider.
//!
//! Needs Node 20+ with npm (the server's packages are installed from its lock
//! file by `npm ci` when missing) and, for the SDK test, the conformance venv
//! (`target/conformance/venv` with mcp 2.3.0, made here when missing).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{
    Gateway, LIMIT, MASTER_KEY, SESSION_SECRET, Upstreams, client, free_port, initialize, post,
    rpc, send, upstreams,
};

pub(super) const CLIENT: (&str, &str) = ("agent", "agent-client-secret-EXAMPLE");
const NO_SCOPE_CLIENT: (&str, &str) = ("unscoped", "unscoped-client-secret-EXAMPLE");
pub(super) const SCOPE: &str = "mcp:tools";

fn support() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

/// The authorization server's packages, from its lock file, once.
fn install_authorization_server() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let dir = support().join("oauth_as");
        if dir.join("node_modules/oidc-provider").is_dir() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node 20+) runs the authorization server; install Node");
        assert!(status.success(), "npm ci in {}", dir.display());
    });
}

/// A running authorization server.
pub(super) struct AuthServer {
    _child: Child,
    pub(super) issuer: String,
}

impl AuthServer {
    pub(super) async fn start(port: u16) -> Self {
        install_authorization_server();
        let clients = json!([
            {"client_id": CLIENT.0, "client_secret": CLIENT.1, "scope": SCOPE},
            {"client_id": NO_SCOPE_CLIENT.0, "client_secret": NO_SCOPE_CLIENT.1},
        ]);
        let mut child = Command::new("node")
            .arg(support().join("oauth_as/server.mjs"))
            .arg(port.to_string())
            .arg(clients.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the authorization server");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = tokio::time::timeout(LIMIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening ") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await
        .unwrap()
        .expect("the authorization server started");
        Self {
            _child: child,
            issuer,
        }
    }

    /// A token of the client-credentials grant for `resource`.
    pub(super) async fn token(
        &self,
        (id, secret): (&str, &str),
        resource: &str,
        scope: Option<&str>,
    ) -> String {
        let mut form = format!(
            "grant_type=client_credentials&resource={}",
            percent_encoding::utf8_percent_encode(resource, percent_encoding::NON_ALPHANUMERIC)
        );
        if let Some(scope) = scope {
            form.push_str(&format!("&scope={}", scope.replace(':', "%3A")));
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let request = Request::post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", format!("Basic {basic}"))
            .body(Full::new(Bytes::from(form)))
            .unwrap();
        let reply = json_of(request).await;
        reply["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {reply}"))
            .to_owned()
    }

    /// Claims signed with the server's own key (a token that verifies against
    /// its JWKS, with whatever claims a refusal needs).
    pub(super) async fn sign(&self, header: Value, claims: Value) -> String {
        let request = Request::post(format!("{}/_test/sign", self.issuer))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                json!({"header": header, "claims": claims}).to_string(),
            )))
            .unwrap();
        json_of(request).await["token"].as_str().unwrap().to_owned()
    }

    /// How often `path` was requested.
    async fn count(&self, path: &str) -> u64 {
        let request = Request::get(format!("{}/_test/counts", self.issuer))
            .body(Full::new(Bytes::new()))
            .unwrap();
        json_of(request).await[path].as_u64().unwrap_or(0)
    }

    async fn jwks(&self) -> Bytes {
        let request = Request::get(format!("{}/jwks", self.issuer))
            .body(Full::new(Bytes::new()))
            .unwrap();
        body_of(request).await
    }
}

async fn body_of(request: Request<Full<Bytes>>) -> Bytes {
    let response = tokio::time::timeout(LIMIT, client().request(request))
        .await
        .unwrap()
        .unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

async fn json_of(request: Request<Full<Bytes>>) -> Value {
    serde_json::from_slice(&body_of(request).await).unwrap()
}

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// general_settings for a gateway at `public` that trusts `issuer`: the master
/// key, `required_scopes: [mcp:tools]`, and access rules that grant `tools` to
/// the scope `mcp:tools` and `agent` to the group `ops` only.
pub(super) fn oauth_settings(public: &str, issuer: &str) -> String {
    format!(
        "  master_key: os.environ/MASTER\n  session_secret: {SESSION_SECRET}\n  public_url: {public}\n  oauth:\n    issuer: {issuer}\n    required_scopes: [\"{SCOPE}\"]\n  access:\n    - claim: scope\n      value: \"{SCOPE}\"\n      servers: [tools]\n    - claim: groups\n      value: ops\n      servers: [agent]\n"
    )
}

/// A gateway in front of `up` at a port of its own that trusts `issuer`
/// ([`oauth_settings`]), started with `extra` flags; and its public URL.
pub(super) async fn oauth_gateway(
    up: &Upstreams,
    issuer: &str,
    extra: &[&str],
) -> (Gateway, String) {
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let config = up.config(&oauth_settings(&public, issuer));
    let gateway = Gateway::start_listening(&config, &format!("127.0.0.1:{port}"), extra, &[]).await;
    (gateway, public)
}

/// A response's status and `WWW-Authenticate`, for a POST of `initialize`
/// to `url` with `token` (if any).
async fn challenge_for(url: &str, token: Option<&str>) -> (StatusCode, String, Option<String>) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut request = Request::post(url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(bearer) = &bearer {
        request = request.header("authorization", bearer);
    }
    let response = tokio::time::timeout(
        LIMIT,
        client().request(
            request
                .body(Full::new(Bytes::from(initialize().to_string())))
                .unwrap(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    (
        response.status(),
        header(http::header::WWW_AUTHENTICATE).unwrap_or_default(),
        header(http::header::RETRY_AFTER),
    )
}

fn forged(header: Value, claims: &Value, sign: impl FnOnce(&str) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = sign(&input);
    format!("{input}.{}", B64.encode(signature))
}

#[tokio::test]
async fn tokens_of_the_issuer_open_the_gateway_and_bad_ones_never_reach_an_upstream() {
    let up = upstreams().await;
    let auth = AuthServer::start(0).await;
    let (gateway, public) = oauth_gateway(&up, &auth.issuer, &[]).await;
    let route = format!("{public}/mcp/tools");
    let metadata = format!("{public}/.well-known/oauth-protected-resource/mcp/tools");

    // RFC 9728: each route's document names the route as its resource.
    for (path, resource) in [
        ("", public.clone()),
        ("/mcp", format!("{public}/mcp")),
        ("/mcp/tools", route.clone()),
        ("/tools/mcp", format!("{public}/tools/mcp")),
    ] {
        let url = format!("{public}/.well-known/oauth-protected-resource{path}");
        let answer = send("GET", &url, &[], None).await;
        assert_eq!(answer.status, StatusCode::OK, "{url}");
        let document = &answer.messages[0];
        assert_eq!(document["resource"], json!(resource), "{document}");
        assert_eq!(document["authorization_servers"], json!([auth.issuer]));
        assert_eq!(document["bearer_methods_supported"], json!(["header"]));
        assert_eq!(document["scopes_supported"], json!([SCOPE]));
    }
    let unknown = format!("{public}/.well-known/oauth-protected-resource/mcp/nope");
    assert_eq!(
        send("GET", &unknown, &[], None).await.status,
        StatusCode::NOT_FOUND
    );

    // No credentials: 401 with the metadata and scope, no error code.
    let (status, challenge, _) = challenge_for(&route, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        format!(r#"Bearer resource_metadata="{metadata}", scope="{SCOPE}""#)
    );

    // A token for the route, and one for the gateway's audience, both pass.
    let good = auth.token(CLIENT, &route, Some(SCOPE)).await;
    let for_audience = auth
        .token(CLIENT, &format!("{public}/mcp"), Some(SCOPE))
        .await;
    for token in [&good, &for_audience] {
        let bearer = format!("Bearer {token}");
        let session = super::open(&gateway, "/mcp/tools", &[("authorization", &bearer)]).await;
        let call = post(
            &route,
            &[("authorization", &bearer), ("mcp-session-id", &session)],
            &rpc(2, "tools/call", json!({"name": "whoami"})),
        )
        .await;
        assert_eq!(call.status, StatusCode::OK, "{call:?}");
        assert!(
            call.reply()["result"]["content"][0]["text"].is_string(),
            "{call:?}"
        );
    }

    // The access rules hold for tokens: `agent` is the `ops` group's only, so
    // a valid token without it is refused there (403), and the server never
    // sees the request.
    let agent_route = format!("{public}/mcp/agent");
    let (status, _, _) = challenge_for(&agent_route, Some(&for_audience)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let reached = up.agent.stats.accepted() + up.agent.stats.refused();
    assert_eq!(reached, 0, "a refused request reached agent");

    // Refusals: each before any upstream is touched.
    let seen = up.tools.seen.load(std::sync::atomic::Ordering::SeqCst);
    let claims = |extra: Value| {
        let mut claims = json!({
            "iss": auth.issuer, "sub": "agent", "aud": route, "scope": SCOPE,
            "iat": now(), "exp": now() + 300,
        });
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        claims
    };
    let expired = auth
        .sign(
            json!({}),
            claims(json!({"iat": now() - 7200, "exp": now() - 3600})),
        )
        .await;
    let not_yet = auth
        .sign(
            json!({}),
            claims(json!({"nbf": now() + 3600, "exp": now() + 7200})),
        )
        .await;
    let wrong_iss = auth
        .sign(
            json!({}),
            claims(json!({"iss": "https://login.example.com"})),
        )
        .await;
    let unknown_kid = auth
        .sign(json!({"kid": "rotated-away"}), claims(json!({})))
        .await;
    let wrong_aud = auth
        .token(CLIENT, "https://other.example.com/mcp", Some(SCOPE))
        .await;
    let alg_none = forged(
        json!({"alg": "none", "typ": "at+jwt"}),
        &claims(json!({})),
        |_| Vec::new(),
    );
    let alg_none = alg_none.trim_end_matches('.').to_owned() + ".";
    let jwks = auth.jwks().await;
    // After the test's own fetch of the JWKS just above.
    let jwks_before = auth.count("/jwks").await;
    let hs256 = forged(
        json!({"alg": "HS256", "typ": "at+jwt", "kid": "as-key-1"}),
        &claims(json!({})),
        |input| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&jwks).unwrap();
            mac.update(input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        },
    );
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = json!("admin");
        format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(payload.to_string()),
            parts[2]
        )
    };
    for (name, token) in [
        ("expired", expired.as_str()),
        ("not yet valid", &not_yet),
        ("wrong iss", &wrong_iss),
        ("wrong aud", &wrong_aud),
        ("unknown kid", &unknown_kid),
        ("alg none", &alg_none),
        ("HS256 with the public key", &hs256),
        ("tampered payload", &tampered),
        ("not a token", "sk-not-a-key"),
    ] {
        let (status, challenge, _) = challenge_for(&route, Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#)
                && challenge.contains(&format!(r#"resource_metadata="{metadata}""#)),
            "{name}: {challenge}"
        );
    }
    // The unknown kid cost one JWKS fetch (and the floor holds off another).
    assert_eq!(auth.count("/jwks").await, jwks_before + 1);
    let (status, ..) = challenge_for(&route, Some(&unknown_kid)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(auth.count("/jwks").await, jwks_before + 1);

    let unscoped = auth.token(NO_SCOPE_CLIENT, &route, None).await;
    let (status, challenge, _) = challenge_for(&route, Some(&unscoped)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge,
        format!(
            r#"Bearer error="insufficient_scope", resource_metadata="{metadata}", scope="{SCOPE}""#
        )
    );
    assert_eq!(
        up.tools.seen.load(std::sync::atomic::Ordering::SeqCst),
        seen,
        "a refused request reached the upstream"
    );

    // The master key still opens the gateway.
    let master = format!("Bearer {MASTER_KEY}");
    super::open(&gateway, "/mcp/tools", &[("authorization", &master)]).await;

    // The client's token never went upstream, nor into the log.
    let sent = up.tools.authorizations.lock().unwrap().clone();
    assert!(!sent.is_empty());
    for value in &sent {
        assert_eq!(value, &format!("Bearer {}", super::upstream::TOKEN));
    }
    let log = gateway.stderr();
    for token in [&good, &for_audience, &unscoped] {
        assert!(!log.contains(token.as_str()), "a token reached the log");
    }
}

#[tokio::test]
async fn an_unreachable_issuer_gets_503_with_retry_after_until_its_keys_are_known() {
    let up = upstreams().await;
    let issuer_port = free_port();
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let (gateway, public) = oauth_gateway(&up, &issuer, &[]).await;
    let route = format!("{public}/mcp/tools");
    let shaped = forged(
        json!({"alg": "RS256", "kid": "k"}),
        &json!({"sub": "x"}),
        |_| vec![1],
    );
    let (status, _, retry_after) = challenge_for(&route, Some(&shaped)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let (status, challenge, _) = challenge_for(&route, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!challenge.contains("error="), "{challenge}");

    // The issuer comes up; the gateway's next attempt (at most 30 s apart)
    // finds its keys.
    let auth = AuthServer::start(issuer_port).await;
    let token = auth.token(CLIENT, &route, Some(SCOPE)).await;
    let mut last = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..90 {
        (last, ..) = challenge_for(&route, Some(&token)).await;
        if last != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(last, StatusCode::OK, "{}", gateway.stderr());
}

/// The conformance venv's Python with the MCP SDK (mcp 2.3.0), made once.
fn sdk_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/conformance/venv");
    let python = venv.join("bin/python");
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let has_sdk = std::process::Command::new(&python)
            .args([
                "-c",
                "import importlib.metadata as m; assert m.version('mcp') == '2.3.0'",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if !has_sdk {
            let made = std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success());
            assert!(made, "python3 -m venv {}", venv.display());
            let installed = std::process::Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "mcp==2.3.0",
                ])
                .status()
                .is_ok_and(|s| s.success());
            assert!(installed, "pip install mcp==2.3.0");
        }
    });
    python
}

#[tokio::test]
async fn the_python_sdk_gets_from_401_to_a_session_by_discovery_in_both_eras() {
    let up = upstreams().await;
    let auth = AuthServer::start(0).await;
    let (gateway, public) = oauth_gateway(&up, &auth.issuer, &[]).await;
    let route = format!("{public}/mcp/tools");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Command::new(sdk_python())
            .arg(support().join("oauth_client.py"))
            .args([&route, &auth.issuer, CLIENT.0, CLIENT.1, SCOPE, "whoami"])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("oauth-client: 2 passed, 0 failed"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        gateway.stderr()
    );
    assert!(stdout.contains("ok   auto: 2026-07-28"), "{stdout}");
    // The SDK found everything from the 401: metadata, then a token.
    assert!(auth.count("/token").await >= 1);
    for value in up.tools.authorizations.lock().unwrap().iter() {
        assert_eq!(value, &format!("Bearer {}", super::upstream::TOKEN));
    }
}
