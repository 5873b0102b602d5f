//! The connector under hyper-util's client: TCP (with keepalive), an HTTP
//! CONNECT tunnel through a proxy when the proxy settings say so, and a bound on
//! the whole connection set-up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::ServiceExt;
use tower_service::Service;

use crate::Error;
use crate::endpoint::redact_query;
use crate::error::{BoxError, ConfigErrorKind, config};

/// Where environment variables are read from: the process environment, or a
/// lookup given to the builder (tests, or a configuration that is not the
/// process's).
#[derive(Clone)]
pub(super) struct Env(Arc<Lookup>);

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Env {
    pub(super) fn process() -> Self {
        Self(Arc::new(|name| std::env::var(name).ok()))
    }

    pub(super) fn new(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    /// The first of `names` that is set and not empty, with its name.
    pub(super) fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|name| Some((*name, (self.0)(name).filter(|v| !v.trim().is_empty())?)))
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env")
    }
}

/// How requests reach the endpoint.
#[derive(Clone, Debug)]
pub(super) enum ProxySetting {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either case).
    FromEnv,
    /// Every request through this proxy.
    Url(String),
    /// No proxy.
    Direct,
}

/// The proxy rules: hyper-util's matcher, built from validated values.
pub(super) fn proxy_matcher(
    setting: &ProxySetting,
    no_proxy: Option<&str>,
    env: &Env,
) -> Result<Option<Matcher>, Error> {
    let (https, http) = match setting {
        ProxySetting::Direct => return Ok(None),
        ProxySetting::Url(url) => {
            let url = checked_proxy(url, "the builder's proxy")?;
            (Some(url.clone()), Some(url))
        }
        ProxySetting::FromEnv => {
            let all = env.first(&["ALL_PROXY", "all_proxy"]);
            let https = env
                .first(&["HTTPS_PROXY", "https_proxy"])
                .or_else(|| all.clone());
            let http = env.first(&["HTTP_PROXY", "http_proxy"]).or(all);
            let check = |found: Option<(&'static str, String)>| {
                found
                    .map(|(name, url)| checked_proxy(&url, name))
                    .transpose()
            };
            (check(https)?, check(http)?)
        }
    };
    if https.is_none() && http.is_none() {
        return Ok(None);
    }
    let no_proxy = match no_proxy {
        Some(list) => list.to_owned(),
        None => env
            .first(&["NO_PROXY", "no_proxy"])
            .map(|(_, list)| list)
            .unwrap_or_default(),
    };
    Ok(Some(
        Matcher::builder()
            .https(https.unwrap_or_default())
            .http(http.unwrap_or_default())
            .no(no_proxy)
            .build(),
    ))
}

/// `url` as an `http://host:port` proxy URL, or a clear error naming where it
/// came from. Only plain-HTTP proxies are spoken to (with CONNECT).
fn checked_proxy(url: &str, origin: &str) -> Result<String, Error> {
    let shown = redact_query(url);
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let uri: Uri = with_scheme.parse().map_err(|e| {
        config(
            ConfigErrorKind::Proxy,
            format!(
                "{origin} is `{shown}`, which is not a proxy URL ({e}); give one like http://proxy.example.com:3128"
            ),
        )
    })?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(with_scheme),
        Some(scheme) if scheme != "http" => Err(config(
            ConfigErrorKind::Proxy,
            format!(
                "{origin} is `{shown}`: {scheme}:// proxies are not supported, only http:// ones (requests are tunnelled with CONNECT); use an http:// proxy or unset it"
            ),
        )),
        _ => Err(config(
            ConfigErrorKind::Proxy,
            format!(
                "{origin} is `{shown}`, which names no proxy host; give one like http://proxy.example.com:3128"
            ),
        )),
    }
}

/// TCP to the destination, or to the proxy and through a CONNECT tunnel.
#[derive(Clone)]
pub(super) struct ProxyConnector {
    direct: HttpConnector,
    proxies: Option<Arc<Matcher>>,
}

impl ProxyConnector {
    pub(super) fn new(direct: HttpConnector, proxies: Option<Matcher>) -> Self {
        Self {
            direct,
            proxies: proxies.map(Arc::new),
        }
    }
}

type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let proxy = self
            .proxies
            .as_ref()
            .and_then(|proxies| proxies.intercept(&destination));
        let Some(proxy) = proxy else {
            let connecting = self.direct.call(destination);
            return Box::pin(async move { connecting.await.map_err(Into::into) });
        };
        let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        Box::pin(async move {
            let target = with_port(&destination);
            let tunnelled = async {
                tunnel.ready().await?;
                tunnel.call(target.clone()).await
            };
            tunnelled.await.map_err(|source| {
                BoxError::from(ProxyError {
                    proxy: proxy.uri().to_string(),
                    target: target
                        .authority()
                        .map(|a| a.to_string())
                        .unwrap_or_default(),
                    source: source.into(),
                })
            })
        })
    }
}

/// The destination with its port spelled out: the tunnel asks for port 443 when
/// the URI has none, which is wrong for `http://`.
fn with_port(destination: &Uri) -> Uri {
    if destination.port().is_some() {
        return destination.clone();
    }
    let port = if destination.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let host = destination.host().unwrap_or_default();
    let scheme = destination.scheme_str().unwrap_or("https");
    format!("{scheme}://{host}:{port}/")
        .parse()
        .unwrap_or_else(|_| destination.clone())
}

/// The proxy could not be reached or refused the tunnel.
#[derive(Debug)]
struct ProxyError {
    proxy: String,
    target: String,
    source: BoxError,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no tunnel through the proxy {} to {}; check the proxy settings (HTTPS_PROXY, NO_PROXY)",
            self.proxy, self.target
        )
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Bounds the whole set-up of a connection (TCP, the proxy tunnel, the TLS
/// handshake) by one timeout.
#[derive(Clone, Debug)]
pub(super) struct ConnectTimeout<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> ConnectTimeout<C> {
    pub(super) fn new(inner: C, timeout: Option<Duration>) -> Self {
        Self { inner, timeout }
    }
}

impl<C> Service<Uri> for ConnectTimeout<C>
where
    C: Service<Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Connecting<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let connecting = self.inner.call(destination);
        let Some(timeout) = self.timeout else {
            return Box::pin(async move { connecting.await.map_err(Into::into) });
        };
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(result) => result.map_err(Into::into),
                Err(_elapsed) => Err(BoxError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting took longer than {timeout:?} (the connect timeout)"),
                ))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> Env {
        Env::new(move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn proxied(matcher: &Option<Matcher>, url: &str) -> Option<String> {
        let intercept = matcher.as_ref()?.intercept(&url.parse().unwrap())?;
        Some(intercept.uri().to_string())
    }

    #[test]
    fn env_proxies_and_no_proxy_are_read_in_either_case() {
        let matcher = proxy_matcher(
            &ProxySetting::FromEnv,
            None,
            &env(&[
                ("https_proxy", "http://proxy.internal:3128"),
                ("HTTP_PROXY", "plain.internal:8080"),
                ("no_proxy", "localhost, .corp.example,10.0.0.0/8"),
            ]),
        )
        .unwrap();
        let aws = "https://aws-mcp.us-east-1.api.aws/mcp";
        assert_eq!(
            proxied(&matcher, aws).as_deref(),
            Some("http://proxy.internal:3128/")
        );
        assert_eq!(
            proxied(&matcher, "http://example.com/").as_deref(),
            Some("http://plain.internal:8080/")
        );
        for bypassed in [
            "https://localhost:8443/mcp",
            "https://mcp.corp.example/mcp",
            "https://10.1.2.3/mcp",
        ] {
            assert_eq!(proxied(&matcher, bypassed), None, "{bypassed}");
        }
    }

    #[test]
    fn uppercase_wins_all_proxy_is_the_fallback_and_nothing_set_is_direct() {
        let matcher = proxy_matcher(
            &ProxySetting::FromEnv,
            None,
            &env(&[
                ("HTTPS_PROXY", "http://upper:1"),
                ("https_proxy", "http://lower:1"),
                ("ALL_PROXY", "http://all:2"),
            ]),
        )
        .unwrap();
        let aws = "https://aws-mcp.us-east-1.api.aws/mcp";
        assert_eq!(proxied(&matcher, aws).as_deref(), Some("http://upper:1/"));
        assert_eq!(
            proxied(&matcher, "http://x/").as_deref(),
            Some("http://all:2/")
        );
        assert!(
            proxy_matcher(&ProxySetting::FromEnv, None, &env(&[]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_builder_overrides_the_environment() {
        let vars = env(&[("HTTPS_PROXY", "http://from-env:1"), ("NO_PROXY", "*")]);
        assert!(
            proxy_matcher(&ProxySetting::Direct, None, &vars)
                .unwrap()
                .is_none()
        );
        let matcher = proxy_matcher(
            &ProxySetting::Url("http://from-builder:3128".into()),
            Some("localhost"),
            &vars,
        )
        .unwrap();
        let aws = "https://aws-mcp.us-east-1.api.aws/mcp";
        assert_eq!(
            proxied(&matcher, aws).as_deref(),
            Some("http://from-builder:3128/")
        );
        assert_eq!(proxied(&matcher, "https://localhost/mcp"), None);
    }

    #[test]
    fn unsupported_proxies_are_config_errors_that_name_the_variable_and_hide_passwords() {
        let err = proxy_matcher(
            &ProxySetting::FromEnv,
            None,
            &env(&[("HTTPS_PROXY", "socks5://user:hunter2@proxy:1080")]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.config_kind(), Some(ConfigErrorKind::Proxy));
        assert!(
            text.contains("HTTPS_PROXY") && text.contains("socks5://"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_destination_without_a_port_gets_its_scheme_default() {
        let port = |uri: &str| with_port(&uri.parse().unwrap()).port_u16();
        assert_eq!(port("http://example.com/mcp"), Some(80));
        assert_eq!(port("https://example.com/mcp"), Some(443));
        assert_eq!(port("https://example.com:8443/mcp"), Some(8443));
    }
}
