//! A credentials cache that shares one load between concurrent requests and
//! refreshes ahead of expiry.
//!
//! Why not `aws_smithy_runtime::expiring_cache::ExpiringCache`: it gives
//! single-flight loading, but not the rest of what a signing proxy needs: keeping
//! still-valid credentials when a refresh fails, handing one failed load to every
//! request that waited on it (instead of each waiter calling a broken provider
//! again), a bounded lifetime for credentials without an expiry, an explicit
//! `invalidate` after AWS rejects a token, and a clock tests can freeze. It also
//! pulls in the whole smithy runtime. The cache here is about 150 lines.
//!
//! ```
//! # async fn demo() -> Result<(), tower_sigv4::Error> {
//! use std::time::Duration;
//! use aws_credential_types::Credentials;
//! use tower_sigv4::CredentialsCache;
//!
//! // Static keys: never call a provider.
//! let fixed = CredentialsCache::fixed(Credentials::new("AKID", "SECRET", None, None, "example"));
//! assert_eq!(fixed.get().await?.access_key_id(), "AKID");
//!
//! // Any provider, refreshed 10 minutes before expiry, loads bounded to 2 s.
//! let cached = CredentialsCache::builder()
//!     .refresh_before_expiry(Duration::from_secs(600))
//!     .load_timeout(Duration::from_secs(2))
//!     .build(Credentials::new("AKID", "SECRET", None, None, "example"));
//! # let _ = cached;
//! # Ok(()) }
//! ```

#[cfg(feature = "default-credentials")]
mod default_chain;
mod error;

pub use error::CredentialsError;

#[cfg(feature = "default-credentials")]
pub(crate) use default_chain::DEFAULT_CHAIN_NAME;
#[cfg(feature = "default-credentials")]
pub use default_chain::DefaultChain;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::clock::{Clock, SharedClock};

/// Refresh this long before credentials expire, by default.
pub const DEFAULT_REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Give up loading credentials after this long, by default.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Reload credentials that carry no expiry after this long, by default.
pub const DEFAULT_TTL_WITHOUT_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// After a failed refresh while the cached credentials are still valid, keep
/// using them this long before trying the provider again.
const RETRY_FAILED_REFRESH_AFTER: Duration = Duration::from_secs(10);

/// Credentials shared by every clone, loaded once and refreshed ahead of expiry.
///
/// Clones share the cache, so a [`SigV4Layer`](crate::SigV4Layer) and a retry
/// policy can both hold it.
#[derive(Clone)]
pub struct CredentialsCache {
    inner: Arc<Inner>,
}

// One per cache, behind an `Arc`: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Fixed(Credentials),
    Loading(Loader),
}

struct Loader {
    provider: SharedCredentialsProvider,
    source_name: Arc<str>,
    refresh_before_expiry: Duration,
    load_timeout: Duration,
    ttl_without_expiry: Duration,
    clock: SharedClock,
    state: Mutex<State>,
    // Held while a load is in flight: later callers wait here, then take its result.
    load: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    // Bumped by every finished load, successful or not.
    generation: u64,
    last_error: Option<CredentialsError>,
    // After a failed refresh, keep serving still-valid credentials until then.
    retry_refresh_at: Option<SystemTime>,
}

struct Cached {
    credentials: Credentials,
    expires_at: SystemTime,
}

impl CredentialsCache {
    /// Static credentials: no provider is ever called.
    pub fn fixed(credentials: Credentials) -> Self {
        Self {
            inner: Arc::new(Inner::Fixed(credentials)),
        }
    }

    /// A cache around `provider` with default settings.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self::builder().build(provider)
    }

    /// Configure a cache.
    pub fn builder() -> CredentialsCacheBuilder {
        CredentialsCacheBuilder::default()
    }

    /// The credentials source, for logs and error messages: `static`, or the provider's name.
    pub fn source_name(&self) -> &str {
        match &*self.inner {
            Inner::Fixed(_) => "static credentials",
            Inner::Loading(l) => &l.source_name,
        }
    }

    /// The expiry of the cached credentials, if any are cached and carry one.
    pub fn cached_expiry(&self) -> Option<SystemTime> {
        match &*self.inner {
            Inner::Fixed(c) => c.expiry(),
            Inner::Loading(l) => l
                .lock()
                .cached
                .as_ref()
                .and_then(|c| c.credentials.expiry()),
        }
    }

    /// Credentials to sign with now: cached ones while they are fresh, otherwise
    /// one load shared by every caller that asks while it is in flight.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        match &*self.inner {
            Inner::Fixed(credentials) => Ok(credentials.clone()),
            Inner::Loading(loader) => loader.get().await,
        }
    }

    /// Forget the cached credentials so the next [`get`](Self::get) loads new ones
    /// (after AWS said the token expired or the signature does not match).
    /// Static credentials are unaffected.
    pub fn invalidate(&self) {
        if let Inner::Loading(loader) = &*self.inner {
            let mut state = loader.lock();
            state.cached = None;
            state.retry_refresh_at = None;
        }
    }

    /// Whether this cache holds static credentials.
    pub fn is_fixed(&self) -> bool {
        matches!(&*self.inner, Inner::Fixed(_))
    }
}

impl fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            // Credentials' own Debug redacts the secret and the token.
            Inner::Fixed(c) => f.debug_tuple("CredentialsCache::Fixed").field(c).finish(),
            Inner::Loading(l) => f
                .debug_struct("CredentialsCache")
                .field("source", &l.source_name)
                .field("refresh_before_expiry", &l.refresh_before_expiry)
                .field("load_timeout", &l.load_timeout)
                .field("cached_expiry", &self.cached_expiry())
                .finish(),
        }
    }
}

impl Loader {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cached credentials that need no refresh at `now`.
    fn fresh(&self, state: &State, now: SystemTime) -> Option<Credentials> {
        let cached = state.cached.as_ref()?;
        let refresh_at = cached
            .expires_at
            .checked_sub(self.refresh_before_expiry)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let backing_off = state.retry_refresh_at.is_some_and(|t| now < t);
        (now < refresh_at || (backing_off && now < cached.expires_at))
            .then(|| cached.credentials.clone())
    }

    async fn get(&self) -> Result<Credentials, CredentialsError> {
        let now = self.clock.now();
        let seen_generation = {
            let state = self.lock();
            if let Some(credentials) = self.fresh(&state, now) {
                return Ok(credentials);
            }
            state.generation
        };

        let _loading = self.load.lock().await;
        let now = self.clock.now();
        {
            let state = self.lock();
            if let Some(credentials) = self.fresh(&state, now) {
                return Ok(credentials);
            }
            // A load finished while we waited: share its outcome instead of
            // calling the provider again.
            if state.generation != seen_generation {
                if let Some(cached) = state.cached.as_ref().filter(|c| now < c.expires_at) {
                    return Ok(cached.credentials.clone());
                }
                if let Some(err) = &state.last_error {
                    return Err(err.clone());
                }
            }
        }
        self.load(now).await
    }

    async fn load(&self, started: SystemTime) -> Result<Credentials, CredentialsError> {
        let result = match tokio::time::timeout(
            self.load_timeout,
            self.provider.provide_credentials(),
        )
        .await
        {
            Ok(Ok(credentials)) => Ok(credentials),
            Ok(Err(e)) => Err(CredentialsError {
                source_name: self.source_name.clone(),
                timeout: None,
                source: Some(Arc::new(e)),
            }),
            Err(_elapsed) => Err(CredentialsError {
                source_name: self.source_name.clone(),
                timeout: Some(self.load_timeout),
                source: None,
            }),
        };

        let now = self.clock.now();
        let mut state = self.lock();
        state.generation += 1;
        match result {
            Ok(credentials) => {
                let expires_at = credentials
                    .expiry()
                    .unwrap_or(started + self.ttl_without_expiry);
                tracing::debug!(
                    source = %self.source_name,
                    expires_at = ?credentials.expiry(),
                    "loaded AWS credentials"
                );
                state.cached = Some(Cached {
                    credentials: credentials.clone(),
                    expires_at,
                });
                state.last_error = None;
                state.retry_refresh_at = None;
                Ok(credentials)
            }
            Err(err) => {
                state.last_error = Some(err.clone());
                let still_valid = state
                    .cached
                    .as_ref()
                    .filter(|c| now < c.expires_at)
                    .map(|c| c.credentials.clone());
                match still_valid {
                    Some(credentials) => {
                        tracing::warn!(
                            error = %err,
                            expires_at = ?credentials.expiry(),
                            "refreshing AWS credentials failed; using the cached credentials until they expire"
                        );
                        state.retry_refresh_at = Some(now + RETRY_FAILED_REFRESH_AFTER);
                        Ok(credentials)
                    }
                    None => Err(err),
                }
            }
        }
    }
}

/// Settings for a [`CredentialsCache`].
#[derive(Clone, Debug)]
pub struct CredentialsCacheBuilder {
    refresh_before_expiry: Duration,
    load_timeout: Duration,
    ttl_without_expiry: Duration,
    clock: SharedClock,
    source_name: Option<String>,
}

impl Default for CredentialsCacheBuilder {
    fn default() -> Self {
        Self {
            refresh_before_expiry: DEFAULT_REFRESH_BEFORE_EXPIRY,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            ttl_without_expiry: DEFAULT_TTL_WITHOUT_EXPIRY,
            clock: SharedClock::default(),
            source_name: None,
        }
    }
}

impl CredentialsCacheBuilder {
    /// Refresh this long before the credentials expire (default 5 minutes).
    pub fn refresh_before_expiry(mut self, buffer: Duration) -> Self {
        self.refresh_before_expiry = buffer;
        self
    }

    /// Fail a load that takes longer than this (default 5 seconds).
    pub fn load_timeout(mut self, timeout: Duration) -> Self {
        self.load_timeout = timeout;
        self
    }

    /// Reload credentials that carry no expiry after this long (default 15 minutes).
    pub fn ttl_without_expiry(mut self, ttl: Duration) -> Self {
        self.ttl_without_expiry = ttl;
        self
    }

    /// The clock used to decide freshness (tests freeze it).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = SharedClock::new(clock);
        self
    }

    /// How the source is named in logs and errors (default: the provider's `Debug`).
    pub fn source_name(mut self, name: impl Into<String>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// A cache around `provider`.
    pub fn build(self, provider: impl ProvideCredentials + 'static) -> CredentialsCache {
        let source_name = self.source_name.unwrap_or_else(|| provider_name(&provider));
        CredentialsCache {
            inner: Arc::new(Inner::Loading(Loader {
                provider: SharedCredentialsProvider::new(provider),
                source_name: source_name.into(),
                refresh_before_expiry: self.refresh_before_expiry,
                load_timeout: self.load_timeout,
                ttl_without_expiry: self.ttl_without_expiry,
                clock: self.clock,
                state: Mutex::new(State::default()),
                load: tokio::sync::Mutex::new(()),
            })),
        }
    }
}

fn provider_name(provider: &dyn ProvideCredentials) -> String {
    // Debug of a provider may print whatever it holds; keep only the type-ish prefix
    // so a secret in a hand-written provider's Debug never reaches a log.
    let debug = format!("{provider:?}");
    let name: String = debug
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    if name.is_empty() {
        "credentials provider".to_owned()
    } else {
        name
    }
}
