//! A test's `mcp-sigv4` process starts without the machine's proxy
//! variables: a proxy set on a developer's machine must not carry requests
//! meant for 127.0.0.1. Tests that want a proxy set their own afterwards.

/// The proxy variables curl, reqwest and the AWS SDK read, in both cases.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// [`WithoutProxies::without_proxies`] on a command being built.
pub trait WithoutProxies {
    /// Remove [`PROXY_VARIABLES`] from the environment the command gets.
    fn without_proxies(&mut self) -> &mut Self;
}

impl WithoutProxies for tokio::process::Command {
    fn without_proxies(&mut self) -> &mut Self {
        for name in PROXY_VARIABLES {
            self.env_remove(name);
        }
        self
    }
}
