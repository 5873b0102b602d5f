//! The issuer's signing keys: found by discovery (OpenID Connect's
//! `/.well-known/openid-configuration`, then RFC 8414's
//! `/.well-known/oauth-authorization-server`), fetched from its `jwks_uri`, kept
//! in memory, and fetched again when a token names a `kid` the set lacks, at
//! most once per `jwks_refetch_floor`.
//!
//! An issuer that cannot be reached at start is tried again in the background,
//! from one second apart doubling up to [`MAX_BACKOFF`]; until its keys are
//! known, [`Keys::current`] is `None` and [`Keys::retry_after`] says when the
//! next attempt is due.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_sigv4::rmcp::{SignedHttpService, TransportBuilder};

/// The longest wait between two attempts to reach an unreachable issuer.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest a discovery or JWKS request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest discovery document or JWKS read.
const MAX_DOCUMENT: usize = 1024 * 1024;
/// The most keys kept from one JWKS.
const MAX_KEYS: usize = 64;

/// One verification key of the issuer.
pub(super) struct Key {
    pub(super) decoding: DecodingKey,
    /// The JWK's `alg`, when it names one the gateway knows.
    pub(super) alg: Option<Algorithm>,
}

/// The issuer's keys at one fetch.
#[derive(Default)]
pub(super) struct KeySet {
    by_kid: HashMap<String, Key>,
    without_kid: Vec<Key>,
}

impl KeySet {
    /// The key a token's `kid` names; without a `kid`, the only key of the set.
    pub(super) fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None => match (self.by_kid.len(), self.without_kid.as_slice()) {
                (0, [only]) => Some(only),
                (1, []) => self.by_kid.values().next(),
                _ => None,
            },
        }
    }

    fn len(&self) -> usize {
        self.by_kid.len() + self.without_kid.len()
    }

    /// The signature keys of a JWKS document; keys for encryption, HMAC
    /// (`oct`) keys and keys this crate cannot read are left out.
    fn from_document(document: &Value) -> Result<Self, String> {
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS has no `keys` array")?;
        let mut set = KeySet::default();
        for key in keys.iter().take(MAX_KEYS) {
            let Ok(jwk) = serde_json::from_value::<Jwk>(key.clone()) else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
                || key.get("kty").and_then(Value::as_str) == Some("oct")
            {
                continue;
            }
            let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let alg = key
                .get("alg")
                .and_then(|alg| serde_json::from_value::<Algorithm>(alg.clone()).ok());
            let entry = Key { decoding, alg };
            match jwk.common.key_id {
                Some(kid) => {
                    set.by_kid.insert(kid, entry);
                }
                None => set.without_kid.push(entry),
            }
        }
        if set.len() == 0 {
            return Err(
                "the JWKS holds no signature key the gateway can use (RSA, EC or OKP)".into(),
            );
        }
        Ok(set)
    }
}

/// The issuer's keys, as last fetched.
pub(super) struct Keys {
    issuer: String,
    http: SignedHttpService,
    floor: Duration,
    known: RwLock<Known>,
    // One fetch at a time; holds when the last one started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Known {
    jwks_uri: Option<String>,
    keys: Option<Arc<KeySet>>,
    next_attempt: Option<Instant>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("issuer", &self.issuer)
            .field("floor", &self.floor)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// The keys of `issuer`, not fetched yet: [`Keys::start`] fetches them.
    pub(super) fn new(issuer: &str, floor: Duration) -> Result<Self, String> {
        let http = TransportBuilder::new(issuer)
            .sign(false)
            .timeout(FETCH_TIMEOUT)
            .build_service()
            .map_err(|e| format!("general_settings.oauth.issuer: {e}"))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            http,
            floor,
            known: RwLock::default(),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// Discover and fetch the keys in the background, trying again with
    /// backoff until they are known. The task ends once they are, or when
    /// the gateway drops its keys.
    pub(super) fn start(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                let Some(keys) = weak.upgrade() else { return };
                match keys.refresh().await {
                    Ok(count) => {
                        tracing::info!(issuer = %keys.issuer, "OAuth: {count} signing keys of the issuer are known");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(issuer = %keys.issuer, "OAuth: the issuer's keys could not be fetched: {e}; trying again in {} s (tokens are answered 503 meanwhile)", wait.as_secs());
                        keys.write().next_attempt = Some(Instant::now() + wait);
                    }
                }
                drop(keys);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        });
    }

    /// Whether the first attempt to fetch the keys has ended, either way.
    pub(super) fn tried(&self) -> bool {
        let known = self.read();
        known.keys.is_some() || known.next_attempt.is_some()
    }

    /// The keys as last fetched; `None` until the first fetch succeeds.
    pub(super) fn current(&self) -> Option<Arc<KeySet>> {
        self.read().keys.clone()
    }

    /// How long until the next attempt to reach the issuer (at least a second).
    pub(super) fn retry_after(&self) -> Duration {
        let next = self.read().next_attempt;
        next.map_or(Duration::from_secs(1), |at| {
            at.saturating_duration_since(Instant::now())
        })
        .max(Duration::from_secs(1))
    }

    /// Fetch the JWKS again for a token whose `kid` the set lacks, unless a
    /// fetch started less than `jwks_refetch_floor` ago; then the keys.
    pub(super) async fn refetch(&self) -> Option<Arc<KeySet>> {
        // Nothing to refetch before the first fetch (the background task's).
        self.read().keys.as_ref()?;
        let mut last = self.fetching.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.floor) {
            return self.current();
        }
        let Some(uri) = self.read().jwks_uri.clone() else {
            return self.current();
        };
        *last = Some(Instant::now());
        match self.fetch_keys(&uri).await {
            Ok(set) => {
                tracing::info!(issuer = %self.issuer, "OAuth: refetched the JWKS for an unknown kid: {} keys", set.len());
                self.write().keys = Some(Arc::new(set));
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, "OAuth: refetching the JWKS failed: {e}; the keys fetched before stay in use")
            }
        }
        self.current()
    }

    /// Discovery, then the JWKS; the number of keys.
    /// It does not start the refetch floor: a key rotated just after start is
    /// fetched at its first token.
    async fn refresh(&self) -> Result<usize, String> {
        let _one_at_a_time = self.fetching.lock().await;
        let uri = self.discover().await?;
        let set = self.fetch_keys(&uri).await?;
        let count = set.len();
        let mut known = self.write();
        known.jwks_uri = Some(uri);
        known.keys = Some(Arc::new(set));
        known.next_attempt = None;
        Ok(count)
    }

    /// The `jwks_uri` of the issuer's metadata: OpenID Connect discovery
    /// first, then RFC 8414 (the well-known path before the issuer's path).
    async fn discover(&self) -> Result<String, String> {
        let issuer = self.issuer.trim_end_matches('/');
        let openid = format!("{issuer}/.well-known/openid-configuration");
        let rfc8414 = match issuer.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                let path = if path.is_empty() {
                    String::new()
                } else {
                    format!("/{path}")
                };
                format!("{scheme}://{host}/.well-known/oauth-authorization-server{path}")
            }
            None => return Err(String::from("the issuer is not a URL")),
        };
        let mut failures = Vec::new();
        for url in [openid, rfc8414] {
            match self.document(&url).await {
                Ok(metadata) => {
                    let named = metadata.get("issuer").and_then(Value::as_str);
                    if named != Some(self.issuer.as_str()) {
                        failures.push(format!(
                            "{url} names issuer {:?}, not the configured {:?}; set general_settings.oauth.issuer to the issuer exactly as the server names it",
                            named.unwrap_or_default(),
                            self.issuer
                        ));
                        continue;
                    }
                    let Some(jwks) = metadata.get("jwks_uri").and_then(Value::as_str) else {
                        failures.push(format!("{url} has no jwks_uri"));
                        continue;
                    };
                    tower_sigv4::unstable::check_url(jwks)
                        .map_err(|e| format!("the jwks_uri of {url}: {e}"))?;
                    return Ok(jwks.to_owned());
                }
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        // Not `join`: its `Join<&str>` bound makes the task's future not `Send`.
        Err(failures
            .into_iter()
            .reduce(|all, one| all + "; " + &one)
            .unwrap_or_default())
    }

    async fn fetch_keys(&self, uri: &str) -> Result<KeySet, String> {
        let document = self.document(uri).await?;
        KeySet::from_document(&document).map_err(|e| format!("{uri}: {e}"))
    }

    /// GET a JSON document.
    async fn document(&self, url: &str) -> Result<Value, String> {
        // A parsed `Uri`: `Request::get(&str)`'s `TryFrom` bound would make the
        // future not `Send` for every lifetime.
        let uri: http::Uri = url.parse().map_err(|_| String::from("not a URL"))?;
        let request = Request::get(uri)
            .header(
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/json"),
            )
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let response = self
            .http
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| format!("unreachable ({e})"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("answered {status}"));
        }
        // Frame by frame rather than `Limited`: its `Into<BoxError>` bound
        // makes the future not `Send` for every lifetime.
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("its answer could not be read ({e})"))?;
            if let Some(data) = frame.data_ref() {
                bytes.extend_from_slice(data);
            }
            if bytes.len() > MAX_DOCUMENT {
                return Err(format!("its answer is over {MAX_DOCUMENT} bytes"));
            }
        }
        let body = bytes;
        serde_json::from_slice(&body).map_err(|e| format!("not JSON ({e})"))
    }

    /// The keys of `jwks`, as if fetched (never fetched again: there is no
    /// `jwks_uri` to fetch).
    pub(super) fn install(&self, jwks: &Value) -> Result<(), String> {
        self.write().keys = Some(Arc::new(KeySet::from_document(jwks)?));
        Ok(())
    }

    /// Keys as if fetched from `jwks_uri`, for the validator's unit tests.
    #[cfg(test)]
    pub(super) fn install_for_test(&self, jwks: &Value, jwks_uri: &str) {
        self.install(jwks).unwrap();
        self.write().jwks_uri = Some(jwks_uri.to_owned());
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        self.known.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Known> {
        self.known.write().unwrap_or_else(PoisonError::into_inner)
    }
}
