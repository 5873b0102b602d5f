//! The configuration file: LiteLLM's `config.yaml` shape, read into typed values.
//!
//! A LiteLLM `config.yaml` works unchanged. This module reads `mcp_servers` and
//! `general_settings`; everything else (`model_list`, `litellm_settings`,
//! `router_settings`, keys inside a server or in `general_settings` that LiteLLM
//! uses and this app does not) is ignored, and listed in [`Config::ignored`]. A key
//! that is a near miss of one this module reads (`aws_srevice_name`, `mcp_server`,
//! `mastr_key`) is ignored with a warning naming the key it most likely means, and
//! so is any other unknown key inside a server ([`Config::warnings`]): a file
//! LiteLLM starts with starts the gateway too.
//! The rest of the application sees [`Config`], [`ServerConfig`] and [`Auth`], never
//! YAML or environment variables.
//!
//! This room parses and nothing else: typed values out, no clients and no I/O
//! beyond reading the file and the environment, and it imports no other room of
//! the application. How a server is reached from its [`ServerConfig`] (the
//! transports, the credentials, the session) is [`upstream`](crate::upstream)'s.
//!
//! ```yaml
//! mcp_servers:
//!   weather:                      # the server's name
//!     url: https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fweather-Xy12/invocations?qualifier=DEFAULT
//!     transport: http             # streamable HTTP, the only transport supported
//!     auth_type: aws_sigv4
//!     aws_region_name: us-east-1  # inferred from the URL when absent
//!     aws_service_name: bedrock-agentcore
//!     aws_role_name: os.environ/WEATHER_ROLE_ARN   # optional: assume this role
//!   github:
//!     url: https://api.githubcopilot.com/mcp
//!     auth_type: bearer_token
//!     auth_value: os.environ/GITHUB_TOKEN
//! general_settings:
//!   master_key: os.environ/LITELLM_MASTER_KEY
//! ```
//!
//! # Servers
//!
//! | key | meaning |
//! |---|---|
//! | `url` | the streamable-HTTP (or SSE) endpoint; `https://`, or `http://` on loopback |
//! | `transport` | `http` (the default), `sse` (2024-11-05), `stdio` (implied by a `command` without `url`; its `url` is then `stdio://{name}`) |
//! | `command`, `args`, `env` | the process of a `stdio` server |
//! | `auth_type` | `none` (default), `api_key`, `bearer_token`, `basic`, `authorization`, `token`, `oauth2`, `aws_sigv4` |
//! | `auth_value` | the key, token, `user:password` (or its base64) or raw `Authorization` value |
//! | `oauth2_flow`, `token_url`, `client_id`, `client_secret`, `scopes` | `oauth2` with `client_credentials`; the interactive flow is refused |
//! | `static_headers` | a map of extra headers sent on every request |
//! | `extra_headers` | the client's headers (by name) passed on to the server |
//! | `allowed_tools`, `disallowed_tools` | which tools clients may list and call |
//! | `aws_region_name`, `aws_service_name` | what to sign for; inferred from the URL, the service defaulting to `bedrock-agentcore` |
//! | `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token` | static keys; without them the default credential chain applies |
//! | `aws_profile` (or `aws_profile_name`) | a profile for the default chain (an extension to LiteLLM) |
//! | `aws_role_name`, `aws_session_name` | a role ARN to assume with STS, refreshed before expiry |
//!
//! `api_key` is sent as `x-api-key`, `bearer_token` as `Authorization: Bearer`,
//! `token` as `Authorization: token`,
//! `basic` as `Authorization: Basic` (a value with a `:` is `user:password` and is
//! encoded; one without is taken as already encoded), `authorization` as the raw
//! `Authorization` value.
//!
//! # General settings
//!
//! `general_settings.master_key` is the key clients present to the gateway.
//! `general_settings.session_secret` (or the environment variable
//! `MCP_SIGV4_SESSION_SECRET`) is the secret the gateway derives its session
//! sealing key from. `general_settings.public_url` and `general_settings.oauth`
//! make the gateway an OAuth 2.1 resource server (see [`OAuthSettings`]).
//! `general_settings.allowed_hosts` lists the host names the
//! gateway answers to behind a load balancer (besides the loopback names).
//! `general_settings.keys` ([`NamedKey`]) and `general_settings.access`
//! ([`AccessRule`]) say who may call which servers and tools, and how often.
//!
//! # Environment variables
//!
//! Any string value may be `os.environ/VAR`: the value of `VAR` at start-up. An
//! unset variable is an error that names it and the key it is for. Values are
//! looked up only for the keys this module reads, so a `model_list` that names
//! variables that are not set does not get in the way.
//!
//! # Example
//!
//! ```
//! use mcp_sigv4::config::{Auth, Config};
//!
//! let yaml = r#"
//! mcp_servers:
//!   github:
//!     url: https://api.githubcopilot.com/mcp
//!     auth_type: bearer_token
//!     auth_value: os.environ/GITHUB_TOKEN
//! "#;
//! let env = |name: &str| (name == "GITHUB_TOKEN").then(|| "ghp_example".to_owned());
//! let config = Config::from_yaml(yaml, "config.yaml", env)?;
//! let github = config.server("github").unwrap();
//! assert!(matches!(&github.auth, Auth::Bearer(token) if token.expose() == "ghp_example"));
//! // Secrets never show.
//! assert!(!format!("{config:?}").contains("ghp_example"));
//! # Ok::<(), mcp_sigv4::config::ConfigError>(())
//! ```
//!
//! [`upstream`](crate::upstream) builds the rmcp transport of each [`ServerConfig`],
//! signed or with its header:
//!
//! ```no_run
//! use rmcp::ServiceExt;
//! use mcp_sigv4::config::Config;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load("config.yaml")?;
//! for server in &config.servers {
//!     let client = ().serve(server.transport()?).await?;
//!     println!("{}: {} tools", server.name, client.list_all_tools().await?.len());
//! }
//! # Ok(()) }
//! ```

mod access;
mod error;
mod oauth;
mod parse;
mod secret;

use std::path::Path;

pub use access::{AccessRule, NamedKey, parse_expiry};
pub use error::{ConfigError, ConfigErrorKind};
pub use oauth::{DEFAULT_JWKS_REFETCH_FLOOR, OAuthSettings};
pub use secret::Secret;

/// The environment variable that holds the gateway's session-token key when
/// `general_settings.session_secret` is absent.
pub const SESSION_SECRET_ENV: &str = "MCP_SIGV4_SESSION_SECRET";

/// A loaded configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The MCP servers, in the file's order.
    pub servers: Vec<ServerConfig>,
    /// `general_settings.master_key`: the key clients present to the gateway.
    pub master_key: Option<Secret>,
    /// `general_settings.session_secret`, or `MCP_SIGV4_SESSION_SECRET`: the
    /// secret the gateway's session sealing key is derived from.
    pub session_secret: Option<Secret>,
    /// `general_settings.allowed_hosts`: the `Host` (and `Origin`) names the
    /// gateway answers to besides the loopback names, as a list or a
    /// comma-separated string.
    pub allowed_hosts: Vec<String>,
    /// `general_settings.list_cache_ttl`, in seconds: how long the gateway keeps
    /// a list (`tools/list` and the like) of a server whose reply carries no
    /// `ttlMs` (a 2025-era server). An extension to LiteLLM.
    pub list_cache_ttl: Option<std::time::Duration>,
    /// `general_settings.probe_interval`, in seconds: how often the gateway
    /// probes each server for `/metrics` (0: never). An extension to LiteLLM.
    pub probe_interval: Option<std::time::Duration>,
    /// `general_settings.keys`: named keys, each with the servers and tools it
    /// may use.
    pub keys: Vec<NamedKey>,
    /// `general_settings.access`: what OAuth identities may use, by claim.
    pub access: Vec<AccessRule>,
    /// `general_settings.public_url`: the origin clients connect to
    /// (`https://mcp.example.com`), without a trailing slash; the base of the
    /// OAuth resource URLs.
    pub public_url: Option<String>,
    /// `general_settings.oauth`: the gateway as an OAuth 2.1 resource server.
    pub oauth: Option<OAuthSettings>,
    /// Keys that were ignored and may be mistakes (a near miss of a key that is
    /// read, with a "did you mean"; an unknown key inside a server), one message
    /// each; [`Config::log_notes`] logs them as warnings.
    pub warnings: Vec<String>,
    /// Keys LiteLLM uses that this application ignores (`model_list`,
    /// `mcp_servers.{name}.access_groups`, `general_settings.database_url`, ...),
    /// as dotted paths; logged once at info level.
    pub ignored: Vec<String>,
}

/// One entry of `mcp_servers`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The key the server is listed under.
    pub name: String,
    /// The streamable-HTTP endpoint.
    pub url: String,
    /// `description`, if any.
    pub description: Option<String>,
    /// How requests to the server are authenticated.
    pub auth: Auth,
    /// `static_headers`: sent on every request.
    pub static_headers: Vec<(http::HeaderName, Secret)>,
    /// `transport`: how the server is reached.
    pub transport: Transport,
    /// `extra_headers`: the client's headers (by name) forwarded to this server.
    pub extra_headers: Vec<http::HeaderName>,
    /// `allowed_tools` and `disallowed_tools`.
    pub tools: ToolFilter,
}

/// How a server is reached (`transport`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// `http`: streamable HTTP at `url` (the default).
    Http,
    /// `sse`: the 2024-11-05 HTTP+SSE transport, its event stream at `url`.
    Sse,
    /// `stdio`: a child process speaking MCP on its standard input and output.
    Stdio(StdioCommand),
}

impl Transport {
    /// The `transport` value this is.
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Sse => "sse",
            Transport::Stdio(_) => "stdio",
        }
    }
}

/// The process of a `transport: stdio` server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StdioCommand {
    /// `command`: the program to run.
    pub command: String,
    /// `args`.
    pub args: Vec<String>,
    /// `env`: set for the process; values may hold secrets.
    pub env: Vec<(String, Secret)>,
}

/// `allowed_tools` and `disallowed_tools`: which of a server's tools clients
/// may list and call, by the server's own (unprefixed) names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ToolFilter {
    /// `allowed_tools`: when set, only these.
    pub allowed: Option<Vec<String>>,
    /// `disallowed_tools`: never these.
    pub disallowed: Vec<String>,
}

impl ToolFilter {
    /// Whether `tool` (the server's own name for it) may be listed and called.
    pub fn allows(&self, tool: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|a| a == tool))
            && !self.disallowed.iter().any(|d| d == tool)
    }

    /// Whether the filter lets every tool through.
    pub fn is_open(&self) -> bool {
        self.allowed.is_none() && self.disallowed.is_empty()
    }
}

/// How requests to an MCP server are authenticated (`auth_type`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `none`: nothing is added.
    None,
    /// `api_key`: `x-api-key: VALUE`.
    ApiKey(Secret),
    /// `bearer_token`: `Authorization: Bearer VALUE`.
    Bearer(Secret),
    /// `basic`: `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `authorization`: `Authorization: VALUE`, as given.
    Authorization(Secret),
    /// `token`: `Authorization: token VALUE` (GitHub's classic form), as LiteLLM sends it.
    Token(Secret),
    /// `oauth2` with `oauth2_flow: client_credentials`: a bearer token from the
    /// token endpoint.
    OAuth2(OAuth2ClientCredentials),
    /// `aws_sigv4`: every request signed with SigV4.
    SigV4 {
        /// The region to sign for.
        region: String,
        /// The service to sign for, e.g. `bedrock-agentcore`.
        service: String,
        /// Where the signing credentials come from.
        credentials: CredentialsSource,
    },
}

impl Auth {
    /// The `auth_type` this is, e.g. `bearer_token`.
    pub fn auth_type(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::ApiKey(_) => "api_key",
            Auth::Bearer(_) => "bearer_token",
            Auth::Basic { .. } => "basic",
            Auth::Authorization(_) => "authorization",
            Auth::Token(_) => "token",
            Auth::OAuth2(_) => "oauth2",
            Auth::SigV4 { .. } => "aws_sigv4",
        }
    }
}

/// The OAuth 2.0 client-credentials grant of an `auth_type: oauth2` server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuth2ClientCredentials {
    /// `token_url`: the authorization server's token endpoint.
    pub token_url: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: Secret,
    /// `scopes`, sent space-separated; none when empty.
    pub scopes: Vec<String>,
}

/// Where SigV4 credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsSource {
    /// The default chain (environment, profile, SSO, web identity, container,
    /// instance metadata), with this profile instead of `AWS_PROFILE` if set.
    DefaultChain {
        /// `aws_profile`.
        profile: Option<String>,
    },
    /// `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token`.
    Static {
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: Secret,
        /// The session token of temporary credentials.
        session_token: Option<Secret>,
    },
    /// `aws_role_name`: assume this role with STS, using `base` credentials;
    /// refreshed before the assumed credentials expire.
    AssumeRole {
        /// The role's ARN.
        role_arn: String,
        /// `aws_session_name`, shown in CloudTrail.
        session_name: Option<String>,
        /// The credentials that call STS.
        base: Box<CredentialsSource>,
    },
}

impl Config {
    /// Read `path`, with `os.environ/VAR` values taken from the process environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, |name: &str| std::env::var(name).ok())
    }

    /// Read `path`, with `os.environ/VAR` values (and `MCP_SIGV4_SESSION_SECRET`)
    /// looked up by `env`.
    pub fn load_with_env(
        path: impl AsRef<Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                &file,
                None,
                ConfigErrorKind::Read,
                format!("cannot read the configuration file: {e}"),
            )
        })?;
        Self::from_yaml(&text, &file, env)
    }

    /// Parse YAML text; `file` names it in errors.
    pub fn from_yaml(
        text: &str,
        file: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        parse::parse(text, file, &env)
    }

    /// The server listed under `name`.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers.iter().find(|server| server.name == name)
    }

    /// Log [`Config::warnings`] at warn level and [`Config::ignored`] once at info.
    pub fn log_notes(&self) {
        for warning in &self.warnings {
            tracing::warn!("{warning}");
        }
        if !self.ignored.is_empty() {
            tracing::info!(
                "ignored, as keys LiteLLM uses and mcp-sigv4 does not: {}",
                self.ignored.join(", ")
            );
        }
    }
}

impl ServerConfig {
    /// A server at `url` with this authentication and no extra headers.
    pub fn new(name: impl Into<String>, url: impl Into<String>, auth: Auth) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            description: None,
            auth,
            static_headers: Vec::new(),
            transport: Transport::Http,
            extra_headers: Vec::new(),
            tools: ToolFilter::default(),
        }
    }
}
