//! A credentials cache that shares one load between concurrent requests and
//! refreshes ahead of expiry.
//!
//! - A load runs in its own Tokio task; callers only wait for its result, so a
//!   caller that gives up (a cancelled request) never aborts the load the others
//!   wait for, and every waiter of a failed load gets that one failure.
//! - Inside the refresh window (`refresh_before_expiry` before the expiry),
//!   callers get the cached, still valid credentials at once while one background
//!   load replaces them.
//! - Each set of loaded credentials has a *generation*, so a layer that saw AWS
//!   refuse a signature invalidates the credentials it signed with, not newer
//!   ones: [`CredentialsCache::invalidate_if_generation`].
//!
//! Why not `aws_smithy_runtime::expiring_cache::ExpiringCache`: it gives
//! single-flight loading, but not the rest of what a signing proxy needs: keeping
//! still-valid credentials when a refresh fails, handing one failed load to every
//! request that waited on it (instead of each waiter calling a broken provider
//! again), a bounded lifetime for credentials without an expiry, an explicit
//! `invalidate` after AWS rejects a token, and a clock tests can freeze. It also
//! pulls in the whole smithy runtime. The cache here is about 300 lines.
//!
//! ```
//! # async fn demo() -> Result<(), tower_sigv4::Error> {
//! use std::time::Duration;
//! use aws_credential_types::Credentials;
//! use tower_sigv4::credentials::CredentialsCache;
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
use tokio::sync::watch;
use tracing::Instrument as _;

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
/// policy can both hold it. Loads run on the current Tokio runtime.
#[derive(Clone)]
pub struct CredentialsCache {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Fixed(Credentials),
    Loading(Arc<Loader>),
}

/// Credentials with the generation they belong to.
pub(crate) type Generational = (Credentials, u64);

/// What one load hands to every caller that waited for it.
type Outcome = Result<Generational, CredentialsError>;

struct Loader {
    provider: SharedCredentialsProvider,
    source_name: Arc<str>,
    refresh_before_expiry: Duration,
    load_timeout: Duration,
    ttl_without_expiry: Duration,
    clock: SharedClock,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    // Bumped each time a load stores new credentials; 0 before the first.
    generation: u64,
    // After a failed refresh, keep serving still-valid credentials until then.
    retry_refresh_at: Option<SystemTime>,
    // The load in flight: its task publishes the outcome here.
    load: Option<watch::Receiver<Option<Outcome>>>,
    // The newest generation AWS refused although it was loaded to replace a
    // refused one: reloading again would not help.
    refused_after_reload: u64,
    last_provider: Option<Arc<str>>,
    counts: LoadCounts,
}

/// How often a [`CredentialsCache`] called its provider, from
/// [`CredentialsCache::load_counts`]: for a metric of loads and refreshes, say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadCounts {
    /// Loads that returned credentials when none valid were cached: the first,
    /// and those after an expiry or an [`invalidate`](CredentialsCache::invalidate).
    pub loads: u64,
    /// Loads that returned credentials ahead of the cached ones' expiry, in
    /// the refresh window.
    pub refreshes: u64,
    /// Loads that failed or timed out, of either kind.
    pub failures: u64,
}

struct Cached {
    credentials: Credentials,
    expires_at: SystemTime,
}

enum Freshness {
    Fresh(Generational),
    /// Still valid, but inside the refresh window.
    RefreshAhead(Generational),
    Stale,
}

impl CredentialsCache {
    /// Static credentials: no provider is ever called.
    pub fn fixed(credentials: Credentials) -> Self {
        Self {
            inner: Inner::Fixed(credentials),
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
        match &self.inner {
            Inner::Fixed(_) => "static credentials",
            Inner::Loading(l) => &l.source_name,
        }
    }

    /// The name the provider gave the newest credentials it returned (for the
    /// default chain: `EnvironmentVariable`, `ProfileFile`, `SSO`, `WebIdentityToken`,
    /// `IMDSv2`, ...), or `None` before the first load. Where
    /// [`source_name`](Self::source_name) names the configured source (say, the
    /// default chain), this names the provider in it that answered.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tower_sigv4::Error> {
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::credentials::CredentialsCache;
    ///
    /// let cache = CredentialsCache::new(Credentials::new("AKID", "SECRET", None, None, "ProfileFile"));
    /// assert_eq!(cache.last_provider(), None);
    /// cache.get().await?;
    /// assert_eq!(cache.last_provider().as_deref(), Some("ProfileFile"));
    /// # Ok(()) }
    /// ```
    pub fn last_provider(&self) -> Option<String> {
        match &self.inner {
            Inner::Fixed(c) => provider_name_of(c),
            Inner::Loading(l) => l.lock().last_provider.as_deref().map(str::to_owned),
        }
    }

    /// The expiry of the cached credentials, if any are cached and carry one.
    pub fn cached_expiry(&self) -> Option<SystemTime> {
        match &self.inner {
            Inner::Fixed(c) => c.expiry(),
            Inner::Loading(l) => l
                .lock()
                .cached
                .as_ref()
                .and_then(|c| c.credentials.expiry()),
        }
    }

    /// How often the provider was called: loads, refreshes ahead of expiry and
    /// failures, since the cache was built. All zero for static credentials.
    /// With [`cached_expiry`](Self::cached_expiry) it tells how long the
    /// current credentials last, e.g. for a gauge computed when metrics are
    /// scraped.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tower_sigv4::Error> {
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::credentials::CredentialsCache;
    ///
    /// let cache = CredentialsCache::new(Credentials::new("AKID", "SECRET", None, None, "example"));
    /// assert_eq!(cache.load_counts().loads, 0);
    /// cache.get().await?;
    /// cache.get().await?; // cached: no second load
    /// let counts = cache.load_counts();
    /// assert_eq!((counts.loads, counts.refreshes, counts.failures), (1, 0, 0));
    /// # Ok(()) }
    /// ```
    pub fn load_counts(&self) -> LoadCounts {
        match &self.inner {
            Inner::Fixed(_) => LoadCounts::default(),
            Inner::Loading(l) => l.lock().counts,
        }
    }

    /// Credentials to sign with now: cached ones while they are valid (inside the
    /// refresh window a background load replaces them), otherwise the result of
    /// the one load shared by every caller that asks while it is in flight.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        self.get_with_generation().await.map(|(c, _)| c)
    }

    /// [`get`](Self::get), with the generation of the credentials returned.
    pub(crate) async fn get_with_generation(&self) -> Outcome {
        match &self.inner {
            Inner::Fixed(credentials) => Ok((credentials.clone(), 0)),
            Inner::Loading(loader) => loader.get().await,
        }
    }

    /// The generation of the newest credentials loaded: 0 before the first load
    /// and for static credentials, then one more per load that returned new
    /// credentials.
    pub fn generation(&self) -> u64 {
        match &self.inner {
            Inner::Fixed(_) => 0,
            Inner::Loading(l) => l.lock().generation,
        }
    }

    /// Forget the cached credentials so the next [`get`](Self::get) loads new ones
    /// (after AWS said the token expired or the signature does not match).
    /// Static credentials are unaffected.
    ///
    /// Where several requests may be refused at once, prefer
    /// [`invalidate_if_generation`](Self::invalidate_if_generation): it reloads
    /// once for all of them.
    pub fn invalidate(&self) {
        if let Inner::Loading(loader) = &self.inner {
            let mut state = loader.lock();
            state.cached = None;
            state.retry_refresh_at = None;
        }
    }

    /// Forget the cached credentials if they are still those of `generation`
    /// (the generation a refused request was signed with); `false` when they were
    /// already replaced or forgotten, or are static. The first of many requests
    /// refused with the same credentials causes one reload; the others find newer
    /// credentials (or the load in flight) when they are signed again.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tower_sigv4::Error> {
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::credentials::CredentialsCache;
    ///
    /// let cache = CredentialsCache::new(Credentials::new("AKID", "SECRET", None, None, "example"));
    /// cache.get().await?;
    /// let signed_with = cache.generation();
    /// assert!(cache.invalidate_if_generation(signed_with)); // the first refusal reloads
    /// assert!(!cache.invalidate_if_generation(signed_with)); // the others do not
    /// cache.get().await?;
    /// assert_eq!(cache.generation(), signed_with + 1);
    /// # Ok(()) }
    /// ```
    pub fn invalidate_if_generation(&self, generation: u64) -> bool {
        let Inner::Loading(loader) = &self.inner else {
            return false;
        };
        let mut state = loader.lock();
        if state.generation != generation || state.cached.is_none() {
            return false;
        }
        state.cached = None;
        state.retry_refresh_at = None;
        true
    }

    /// Whether this cache holds static credentials.
    pub fn is_fixed(&self) -> bool {
        matches!(&self.inner, Inner::Fixed(_))
    }

    /// Remember that AWS refused credentials of `generation` that were loaded to
    /// replace refused ones.
    pub(crate) fn refused_after_reload(&self, generation: u64) {
        if let Inner::Loading(loader) = &self.inner {
            let mut state = loader.lock();
            state.refused_after_reload = state.refused_after_reload.max(generation);
        }
    }

    /// Whether reloading already failed to help for credentials of `generation`.
    pub(crate) fn reload_did_not_help(&self, generation: u64) -> bool {
        match &self.inner {
            Inner::Fixed(_) => true,
            Inner::Loading(loader) => generation <= loader.lock().refused_after_reload,
        }
    }
}

impl fmt::Debug for CredentialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            // Credentials' own Debug redacts the secret and the token.
            Inner::Fixed(c) => f.debug_tuple("CredentialsCache::Fixed").field(c).finish(),
            Inner::Loading(l) => f
                .debug_struct("CredentialsCache")
                .field("source", &l.source_name)
                .field("refresh_before_expiry", &l.refresh_before_expiry)
                .field("load_timeout", &l.load_timeout)
                .field("cached_expiry", &self.cached_expiry())
                .field("generation", &self.generation())
                .finish(),
        }
    }
}

impl Loader {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn freshness(&self, state: &State, now: SystemTime) -> Freshness {
        let Some(cached) = state.cached.as_ref().filter(|c| now < c.expires_at) else {
            return Freshness::Stale;
        };
        let current = (cached.credentials.clone(), state.generation);
        let refresh_at = cached
            .expires_at
            .checked_sub(self.refresh_before_expiry)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let backing_off = state.retry_refresh_at.is_some_and(|t| now < t);
        if now < refresh_at || backing_off {
            Freshness::Fresh(current)
        } else {
            Freshness::RefreshAhead(current)
        }
    }

    async fn get(self: &Arc<Self>) -> Outcome {
        let mut load = {
            let mut state = self.lock();
            match self.freshness(&state, self.clock.now()) {
                Freshness::Fresh(current) => return Ok(current),
                Freshness::RefreshAhead(current) => {
                    self.start_load(&mut state, true);
                    return Ok(current);
                }
                Freshness::Stale => self.start_load(&mut state, false),
            }
        };
        let outcome = load.wait_for(Option::is_some).await.map(|o| o.clone());
        match outcome {
            Ok(Some(outcome)) => outcome,
            // The task ended without a result: its runtime shut down.
            _ => {
                let mut state = self.lock();
                if state.load.as_ref().is_some_and(|l| l.same_channel(&load)) {
                    state.load = None;
                }
                Err(self.error(
                    None,
                    Some("the credentials load was stopped before it finished".into()),
                ))
            }
        }
    }

    /// The load in flight, or a new one in its own task (`refresh`: ahead of
    /// the cached credentials' expiry). The task runs in a `credentials.load`
    /// span, a child of the caller's (the `sign` span when a signer asks).
    fn start_load(
        self: &Arc<Self>,
        state: &mut State,
        refresh: bool,
    ) -> watch::Receiver<Option<Outcome>> {
        // A closed channel is a task that ended without a result (it panicked, or
        // its runtime shut down): start another.
        if let Some(load) = state.load.as_ref().filter(|l| l.has_changed().is_ok()) {
            return load.clone();
        }
        let (publish, load) = watch::channel(None);
        let loader = Arc::clone(self);
        let span = tracing::debug_span!(
            target: crate::SPANS,
            "credentials.load",
            credentials.source = %self.source_name,
            credentials.refresh = refresh,
            credentials.provider = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let task = async move {
            let outcome = loader.load(refresh).await;
            publish.send_replace(Some(outcome));
        }
        .instrument(span);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                // Detached: the load finishes even if every waiter goes away.
                drop(runtime.spawn(task));
                state.load = Some(load.clone());
            }
            Err(_) => {
                let (publish, load) = watch::channel(Some(Err(self.error(
                    None,
                    Some("credentials are loaded on a Tokio runtime, and none is running".into()),
                ))));
                drop(publish);
                return load;
            }
        }
        load
    }

    fn error(
        &self,
        timeout: Option<Duration>,
        source: Option<crate::error::BoxError>,
    ) -> CredentialsError {
        CredentialsError {
            source_name: self.source_name.clone(),
            timeout,
            source: source.map(Arc::from),
        }
    }

    async fn load(&self, refresh: bool) -> Outcome {
        let started = self.clock.now();
        let result =
            tokio::time::timeout(self.load_timeout, self.provider.provide_credentials()).await;
        let result = match result {
            Ok(Ok(credentials)) => Ok(credentials),
            Ok(Err(e)) => Err(self.error(None, Some(Box::new(e)))),
            Err(_elapsed) => Err(self.error(Some(self.load_timeout), None)),
        };

        let now = self.clock.now();
        let mut state = self.lock();
        state.load = None;
        match result {
            Ok(credentials) => {
                let expires_at = credentials
                    .expiry()
                    .unwrap_or(started + self.ttl_without_expiry);
                state.generation += 1;
                if refresh {
                    state.counts.refreshes += 1;
                } else {
                    state.counts.loads += 1;
                }
                state.last_provider = provider_name_of(&credentials).map(Arc::from);
                if let Some(provider) = state.last_provider.as_deref() {
                    tracing::Span::current().record("credentials.provider", provider);
                }
                tracing::debug!(
                    source = %self.source_name,
                    provider = state.last_provider.as_deref().unwrap_or_default(),
                    generation = state.generation,
                    expires_at = ?credentials.expiry(),
                    "loaded AWS credentials"
                );
                state.cached = Some(Cached {
                    credentials: credentials.clone(),
                    expires_at,
                });
                // Credentials that arrive inside the refresh window already would
                // start the next background load at once, and so on: pause first.
                let refresh_at = expires_at
                    .checked_sub(self.refresh_before_expiry)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                state.retry_refresh_at =
                    (now >= refresh_at).then(|| now + RETRY_FAILED_REFRESH_AFTER);
                Ok((credentials, state.generation))
            }
            Err(err) => {
                state.counts.failures += 1;
                let span = tracing::Span::current();
                span.record("otel.status_code", "error");
                span.record(
                    "error.type",
                    if err.timeout.is_some() {
                        "timeout"
                    } else {
                        "provider_error"
                    },
                );
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
                        Ok((credentials, state.generation))
                    }
                    None => Err(err),
                }
            }
        }
    }
}

/// The `provider_name` the provider gave `credentials`. aws-credential-types has
/// no getter for it, but its `Debug` (which redacts the secret) starts with it.
fn provider_name_of(credentials: &Credentials) -> Option<String> {
    let debug = format!("{credentials:?}");
    let rest = debug.split_once("provider_name: \"")?.1;
    rest.split('"')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
}
/// Settings for a [`CredentialsCache`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
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
        let source_name = self.source_name.clone();
        let source_name = source_name.unwrap_or_else(|| provider_name(&provider));
        self.source_name(source_name)
            .build_shared(SharedCredentialsProvider::new(provider))
    }

    /// A cache around a provider that is already shared.
    pub(crate) fn build_shared(self, provider: SharedCredentialsProvider) -> CredentialsCache {
        let source_name = self
            .source_name
            .unwrap_or_else(|| provider_name(provider.as_ref()));
        CredentialsCache {
            inner: Inner::Loading(Arc::new(Loader {
                provider,
                source_name: source_name.into(),
                refresh_before_expiry: self.refresh_before_expiry,
                load_timeout: self.load_timeout,
                ttl_without_expiry: self.ttl_without_expiry,
                clock: self.clock,
                state: Mutex::new(State::default()),
            })),
        }
    }
}

pub(crate) fn provider_name(provider: &dyn ProvideCredentials) -> String {
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
