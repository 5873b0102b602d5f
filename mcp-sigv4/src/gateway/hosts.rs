//! The `Host` and `Origin` names the gateway answers to, as the gateway's
//! options hold them; [`guard`](super::guard) checks requests against them.

/// The names a loopback listener answers to.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Which `Host` and `Origin` names the gateway answers to: the loopback names
/// when it listens on loopback, plus the configured names (`allowed_hosts`,
/// `--allowed-host`) of a deployment behind a load balancer.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    loopback: bool,
    names: Vec<String>,
}

impl AllowedHosts {
    /// The loopback names if `loopback`, plus `names` (host names without a port;
    /// compared without case).
    pub fn new<I, S>(loopback: bool, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names = names
            .into_iter()
            .map(|name| {
                name.as_ref()
                    .trim()
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            .filter(|name| !name.is_empty())
            .collect();
        Self { loopback, names }
    }

    /// Whether `Host` is checked at all: on loopback, or with configured names. A
    /// gateway off loopback with no names takes any `Host` (it needs a master key).
    pub fn checks_host(&self) -> bool {
        self.loopback || !self.names.is_empty()
    }

    fn allows_name(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        (self.loopback && LOOPBACK_NAMES.contains(&name.as_str())) || self.names.contains(&name)
    }

    /// Whether a `Host` header value (`name`, `name:port`, `[v6]:port`) is allowed.
    pub fn allows_host(&self, host: &str) -> bool {
        !self.checks_host() || host_name(host).is_some_and(|name| self.allows_name(name))
    }

    /// Whether an `Origin` header value (`scheme://host[:port]`) is allowed: an
    /// `http` or `https` origin whose host is an allowed name. `null` never is.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
            && !authority.contains(['/', '@', '?', '#'])
            && host_name(authority).is_some_and(|name| self.allows_name(name))
    }
}

/// The host name of `name[:port]` or `[v6][:port]`, if well formed.
fn host_name(authority: &str) -> Option<&str> {
    let authority = authority.trim();
    let (name, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (name, rest) = authority.split_at(end + 1);
        (name, rest.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    (!name.is_empty() && port_ok).then_some(name)
}
