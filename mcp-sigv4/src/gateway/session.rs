//! The gateway's `Mcp-Session-Id`: everything a replica needs to continue a
//! session, carried by the client and authenticated with an HMAC key the replicas
//! share, so that no replica keeps a session table.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::relay::SessionState;

const VERSION: &str = "v1";

/// One upstream's part of a gateway session.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct UpstreamSession {
    /// The upstream's `Mcp-Session-Id`.
    #[serde(rename = "id", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The protocol version the upstream negotiated.
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

/// A gateway session: the upstream sessions by server name, and the client's
/// `initialize` (replayed when an upstream forgets its session).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// Upstream sessions by server name.
    #[serde(rename = "s")]
    pub upstreams: BTreeMap<String, UpstreamSession>,
    /// The client's `initialize` request.
    #[serde(rename = "i")]
    pub initialize: Value,
}

impl Session {
    /// The relay's view of one upstream's session.
    pub fn state_for(&self, server: &str) -> SessionState {
        let upstream = self.upstreams.get(server).cloned().unwrap_or_default();
        SessionState {
            session_id: upstream.session_id.map(Into::into),
            protocol_version: upstream.protocol_version,
            initialize: Some(self.initialize.clone()),
            generation: 0,
        }
    }

    /// Record an upstream's session as the relay left it.
    pub fn record(&mut self, server: &str, state: &SessionState) {
        self.upstreams.insert(
            server.to_owned(),
            UpstreamSession {
                session_id: state.session_id.as_deref().map(str::to_owned),
                protocol_version: state.protocol_version.clone(),
            },
        );
    }
}

/// Signs and checks session tokens.
#[derive(Clone)]
pub struct Sealer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

/// Why a session id was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsealed {
    /// Not a gateway session id, or altered, or sealed with another key.
    Invalid,
}

impl Sealer {
    /// A sealer with this key (any length; 32 random bytes or more is right).
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(VERSION.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac
    }

    /// The session as a session id: `v1.<payload>.<hmac>`, base64url.
    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{VERSION}.{payload}.{tag}")
    }

    /// The session a session id carries, if this gateway sealed it unaltered.
    pub fn unseal(&self, token: &str) -> Result<Session, Unsealed> {
        let mut parts = token.trim().split('.');
        let (Some(VERSION), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Unsealed::Invalid);
        };
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Unsealed::Invalid)?;
        // verify_slice compares in constant time.
        self.mac(payload)
            .verify_slice(&tag)
            .map_err(|_| Unsealed::Invalid)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| Unsealed::Invalid)?;
        serde_json::from_slice(&json).map_err(|_| Unsealed::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session() -> Session {
        let mut session = Session {
            initialize: json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}),
            ..Session::default()
        };
        session.upstreams.insert(
            "weather".into(),
            UpstreamSession {
                session_id: Some("abc".into()),
                protocol_version: Some("2025-06-18".into()),
            },
        );
        session
    }

    #[test]
    fn a_sealed_session_round_trips() {
        let sealer = Sealer::new(b"k".repeat(32));
        let token = sealer.seal(&session());
        assert!(token.starts_with("v1."));
        assert_eq!(sealer.unseal(&token), Ok(session()));
        let state = sealer.unseal(&token).unwrap().state_for("weather");
        assert_eq!(state.session_id.as_deref(), Some("abc"));
    }

    #[test]
    fn altered_forged_or_foreign_tokens_are_refused() {
        let sealer = Sealer::new(b"k".repeat(32));
        let token = sealer.seal(&session());
        let (head, tag) = token.rsplit_once('.').unwrap();
        let mut forged = session();
        forged.upstreams.get_mut("weather").unwrap().session_id = Some("someone-else".into());
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        for bad in [
            format!("v1.{forged_payload}.{tag}"),
            format!("{head}.{}", URL_SAFE_NO_PAD.encode([0u8; 32])),
            Sealer::new(b"other".to_vec()).seal(&session()),
            "v2.x.y".into(),
            "not a token".into(),
            String::new(),
        ] {
            assert_eq!(sealer.unseal(&bad), Err(Unsealed::Invalid), "{bad}");
        }
    }
}
