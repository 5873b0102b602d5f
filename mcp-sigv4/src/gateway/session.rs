//! The gateway's `Mcp-Session-Id`: everything a replica needs to continue a
//! session, carried by the client and sealed with a key the replicas share, so
//! that no replica keeps a session table.
//!
//! A sealed id is `v2.` and the base64url of a random 24-byte nonce and the
//! XChaCha20-Poly1305 encryption of the session (the upstream session ids, the
//! client's `initialize`): the client can neither read nor alter it. The key is
//! derived from the secret with HMAC-SHA256. A session carries its expiry, a
//! digest of each upstream's URL (an id from before a configuration change is
//! refused rather than sent to a new endpoint), and a random session nonce that
//! every id resealed from it keeps, so that one DELETE ends them all on the
//! replica that served it ([`Tombstones`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::upstream::SessionState;

const VERSION: &str = "v2";
const NONCE_LEN: usize = 24;
/// What the key is derived for, so that the secret's other uses never share it.
const KEY_CONTEXT: &[u8] = b"mcp-sigv4 gateway session seal v2";
/// What the key of [`Sealer::seal_fixed`]'s nonces is derived for.
const NONCE_KEY_CONTEXT: &[u8] = b"mcp-sigv4 gateway fixed nonce v1";

/// The shortest secret a [`Sealer`] takes, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The longest session id opened, in characters; longer ones are refused unread.
pub const MAX_TOKEN_LEN: usize = 32 * 1024;

/// One upstream's part of a gateway session.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct UpstreamSession {
    /// The upstream's `Mcp-Session-Id`.
    #[serde(rename = "id", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The protocol version the upstream negotiated.
    #[serde(rename = "v", skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// A digest of the upstream's URL when the session began ([`url_digest`]).
    #[serde(rename = "u", default)]
    pub url: String,
}

/// A gateway session: the upstream sessions by server name, the client's
/// `initialize` (replayed when an upstream forgets its session), its nonce and
/// its expiry.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// Upstream sessions by server name.
    #[serde(rename = "s")]
    pub upstreams: BTreeMap<String, UpstreamSession>,
    /// The client's `initialize` request.
    #[serde(rename = "i")]
    pub initialize: Value,
    /// Random, the same in every id resealed from this session: what a DELETE
    /// tombstones.
    #[serde(rename = "n", default)]
    pub nonce: String,
    /// Seconds since the Unix epoch after which the session is refused.
    #[serde(rename = "e", default)]
    pub expires: u64,
    /// A digest of the identity that opened the session: any other is refused it.
    #[serde(rename = "w", default)]
    pub caller: String,
}

impl Session {
    /// A new session for the client's `initialize`, with a fresh nonce, that
    /// expires after `ttl`.
    pub fn new(initialize: Value, ttl: Duration) -> Self {
        Self {
            upstreams: BTreeMap::new(),
            initialize,
            nonce: hex::encode(random::<16>()),
            expires: now().saturating_add(ttl.as_secs().max(1)),
            caller: String::new(),
        }
    }

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

    /// Record an upstream's session as the relay left it, bound to its URL.
    pub fn record(&mut self, server: &str, url: &str, state: &SessionState) {
        self.upstreams.insert(
            server.to_owned(),
            UpstreamSession {
                session_id: state.session_id.as_deref().map(str::to_owned),
                protocol_version: state.protocol_version.clone(),
                url: url_digest(url),
            },
        );
    }

    /// The server whose recorded URL differs from `url_of(server)` (or which is
    /// no longer configured), if any.
    pub fn moved_upstream<'a>(
        &'a self,
        url_of: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<&'a str> {
        self.upstreams
            .iter()
            .find(|(server, upstream)| {
                url_of(server).is_none_or(|url| url_digest(url) != upstream.url)
            })
            .map(|(server, _)| server.as_str())
    }
}

/// A short digest of an upstream URL, to bind a session to it without carrying it.
pub fn url_digest(url: &str) -> String {
    hex::encode(&Sha256::digest(url.as_bytes())[..12])
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The operating system's generator failing is not something to go on from.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no randomness from the OS: {e}"));
    bytes
}

/// Seals and opens session ids.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    // Keys the nonce of a fixed seal ([`Sealer::seal_fixed`]).
    nonce_key: [u8; 32],
    // A random key: no other process can open this one's sessions.
    process_local: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key redacted>)")
    }
}

/// Why a session id was not accepted.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsealed {
    /// Not a gateway session id, or altered, or sealed with another key.
    Invalid,
    /// Sealed by this gateway, but past its expiry.
    Expired,
}

/// A secret too short to seal sessions with.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShortSecret {
    /// Its length in bytes.
    pub len: usize,
}

impl std::fmt::Display for ShortSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the session secret has {} bytes; it needs at least {MIN_SECRET_LEN}: generate one with `openssl rand -hex 32`",
            self.len
        )
    }
}

impl std::error::Error for ShortSecret {}

impl Sealer {
    /// A sealer whose key is derived from `secret` (at least [`MIN_SECRET_LEN`]
    /// bytes; `openssl rand -hex 32` makes one).
    pub fn new(secret: &[u8]) -> Result<Self, ShortSecret> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ShortSecret { len: secret.len() });
        }
        let key = derive(secret, KEY_CONTEXT);
        Ok(Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
            nonce_key: derive(secret, NONCE_KEY_CONTEXT),
            process_local: false,
        })
    }

    /// A sealer with a random key: sessions continue only on this process.
    pub fn random() -> Self {
        let sealer =
            Self::new(&random::<32>()).unwrap_or_else(|_| unreachable!("32 bytes is long enough"));
        Self {
            process_local: true,
            ..sealer
        }
    }

    /// Whether its key is random ([`Sealer::random`]), so that every request of
    /// its sessions reaches this process.
    pub fn is_process_local(&self) -> bool {
        self.process_local
    }

    /// The session as a session id: `v2.<base64url(nonce ‖ ciphertext)>`.
    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).unwrap_or_default();
        self.encrypt(VERSION, &json, random::<NONCE_LEN>())
    }

    /// The session a session id carries, if this gateway sealed it unaltered and
    /// it has not expired at `now` (seconds since the Unix epoch).
    pub fn unseal(&self, token: &str, now: u64) -> Result<Session, Unsealed> {
        let json = self.decrypt(VERSION, token)?;
        let session: Session = serde_json::from_slice(&json).map_err(|_| Unsealed::Invalid)?;
        // Valid through its expiry second: a session of `ttl` seconds lasts at
        // least `ttl` seconds, however close to a second's end it was sealed.
        if now > session.expires {
            return Err(Unsealed::Expired);
        }
        Ok(session)
    }

    /// `plain` sealed as `{label}.<base64url(nonce ‖ ciphertext)>`, the same
    /// token each time: the nonce is a keyed digest of the label and `plain`
    /// (deterministic authenticated encryption, which shows only that two
    /// tokens hold the same text). For ids a client compares, such as a task
    /// id sealed in every message that names the task. The label is
    /// authenticated too, so a token of one label never opens as another's
    /// (nor as a session id).
    pub fn seal_fixed(&self, label: &str, plain: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.nonce_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(plain);
        let digest = mac.finalize().into_bytes();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&digest[..NONCE_LEN]);
        self.encrypt(label, plain, nonce)
    }

    /// What [`Sealer::seal_fixed`] sealed under `label`, if this gateway's key
    /// sealed `token` unaltered.
    pub fn open_fixed(&self, label: &str, token: &str) -> Option<Vec<u8>> {
        self.decrypt(label, token).ok()
    }

    fn encrypt(&self, label: &str, plain: &[u8], nonce: [u8; NONCE_LEN]) -> String {
        let payload = Payload {
            msg: plain,
            aad: label.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_else(|_| unreachable!("encryption fails only past 256 GiB"));
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{label}.{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    fn decrypt(&self, label: &str, token: &str) -> Result<Vec<u8>, Unsealed> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_LEN {
            return Err(Unsealed::Invalid);
        }
        let encoded = token
            .strip_prefix(label)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or(Unsealed::Invalid)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| Unsealed::Invalid)?;
        if bytes.len() < NONCE_LEN {
            return Err(Unsealed::Invalid);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let payload = Payload {
            msg: sealed,
            aad: label.as_bytes(),
        };
        self.cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| Unsealed::Invalid)
    }
}

/// A key for `context`, derived from `secret` with HMAC-SHA256.
fn derive(secret: &[u8], context: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(context);
    mac.finalize().into_bytes().into()
}

/// The session nonces DELETEd on this replica, each kept until its session
/// expires (at most [`Tombstones::CAPACITY`]; past that the soonest to expire
/// are forgotten first). Replicas share nothing: another replica does not know
/// of a DELETE it did not serve.
#[derive(Debug, Default)]
pub struct Tombstones {
    buried: Mutex<HashMap<String, u64>>,
}

impl Tombstones {
    /// The most nonces remembered.
    pub const CAPACITY: usize = 100_000;

    /// Remember that the session `nonce`, expiring at `expires`, was ended.
    pub fn bury(&self, nonce: &str, expires: u64, now: u64) {
        let mut buried = self.buried.lock().unwrap_or_else(PoisonError::into_inner);
        if buried.len() >= Self::CAPACITY {
            buried.retain(|_, expires| *expires > now);
        }
        if buried.len() >= Self::CAPACITY
            && let Some(soonest) = buried
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(nonce, _)| nonce.clone())
        {
            buried.remove(&soonest);
        }
        buried.insert(nonce.to_owned(), expires);
    }

    /// Whether the session `nonce` was ended here.
    pub fn is_buried(&self, nonce: &str) -> bool {
        self.buried
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session() -> Session {
        let mut session = Session::new(
            json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"clientInfo":{"name":"visible-name"}}}),
            Duration::from_secs(60),
        );
        session.upstreams.insert(
            "weather".into(),
            UpstreamSession {
                session_id: Some("upstream-session-abc".into()),
                protocol_version: Some("2025-06-18".into()),
                url: url_digest("https://example.com/mcp"),
            },
        );
        session
    }

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_sealed_session_round_trips_and_is_not_readable() {
        let session = session();
        let token = sealer(b'k').seal(&session);
        assert!(token.starts_with("v2."));
        let bytes = URL_SAFE_NO_PAD.decode(&token[3..]).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("upstream-session-abc") && !text.contains("visible-name"));
        assert_eq!(sealer(b'k').unseal(&token, now()), Ok(session.clone()));
        assert_ne!(
            sealer(b'k').seal(&session),
            token,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn altered_foreign_expired_or_v1_tokens_are_refused() {
        let session = session();
        let token = sealer(b'k').seal(&session);
        let mut altered = URL_SAFE_NO_PAD.decode(&token[3..]).unwrap();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        for bad in [
            format!("v2.{}", URL_SAFE_NO_PAD.encode(&altered)),
            sealer(b'o').seal(&session),
            "v1.e30.AAAA".into(),
            "v2.".into(),
            "v2.AAAA".into(),
            format!("v2.{}", "A".repeat(MAX_TOKEN_LEN)),
            String::new(),
        ] {
            assert_eq!(
                sealer(b'k').unseal(&bad, now()),
                Err(Unsealed::Invalid),
                "{bad}"
            );
        }
        let expires = session.expires;
        assert!(sealer(b'k').unseal(&token, expires).is_ok());
        assert_eq!(
            sealer(b'k').unseal(&token, expires + 1),
            Err(Unsealed::Expired)
        );
    }

    #[test]
    fn a_fixed_seal_is_stable_opens_under_its_label_only_and_hides_its_text() {
        let token = sealer(b'k').seal_fixed("t1", b"upstream-task-abc");
        assert_eq!(sealer(b'k').seal_fixed("t1", b"upstream-task-abc"), token);
        assert_ne!(sealer(b'k').seal_fixed("t1", b"upstream-task-abd"), token);
        assert!(token.starts_with("t1.") && !token.contains("upstream"));
        assert_eq!(
            sealer(b'k').open_fixed("t1", &token).as_deref(),
            Some(&b"upstream-task-abc"[..])
        );
        assert_eq!(sealer(b'o').open_fixed("t1", &token), None);
        let relabelled = format!("t2{}", &token[2..]);
        assert_eq!(sealer(b'k').open_fixed("t2", &relabelled), None);
        assert_eq!(
            sealer(b'k').unseal(&format!("v2{}", &token[2..]), now()),
            Err(Unsealed::Invalid)
        );
    }

    #[test]
    fn only_a_random_key_is_process_local() {
        assert!(Sealer::random().is_process_local());
        assert!(!sealer(b'k').is_process_local());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(Sealer::new(b"").unwrap_err(), ShortSecret { len: 0 });
        assert!(Sealer::new(&[1; 31]).is_err());
    }

    #[test]
    fn a_moved_upstream_is_found() {
        let session = session();
        assert_eq!(
            session.moved_upstream(|_| Some("https://example.com/mcp")),
            None
        );
        assert_eq!(
            session.moved_upstream(|_| Some("https://example.org/mcp")),
            Some("weather")
        );
        assert_eq!(session.moved_upstream(|_| None), Some("weather"));
    }

    #[test]
    fn tombstones_are_bounded() {
        let tombstones = Tombstones::default();
        tombstones.bury("a", 10, 0);
        assert!(tombstones.is_buried("a") && !tombstones.is_buried("b"));
    }
}
