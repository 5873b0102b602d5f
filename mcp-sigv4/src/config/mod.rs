//! The configuration file: LiteLLM's `config.yaml` shape, read into typed values.
//!
//! A LiteLLM `config.yaml` works unchanged. This module reads `mcp_servers` and
//! `general_settings`; everything else (`model_list`, `litellm_settings`,
//! `router_settings`, keys inside a server that this app does not use) is ignored.
//! The rest of the application sees [`Config`], [`ServerConfig`] and [`Auth`], never
//! YAML or environment variables.
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
//! | `url` | the streamable-HTTP endpoint; `https://`, or `http://` on loopback |
//! | `transport` | `http` (the default here); `sse` and `stdio` are refused |
//! | `auth_type` | `none` (default), `api_key`, `bearer_token`, `basic`, `authorization`, `aws_sigv4` |
//! | `auth_value` | the key, token, `user:password` (or its base64) or raw `Authorization` value |
//! | `static_headers` | a map of extra headers sent on every request |
//! | `aws_region_name`, `aws_service_name` | what to sign for; inferred from the URL, the service defaulting to `bedrock-agentcore` |
//! | `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token` | static keys; without them the default credential chain applies |
//! | `aws_profile` (or `aws_profile_name`) | a profile for the default chain (an extension to LiteLLM) |
//! | `aws_role_name`, `aws_session_name` | a role ARN to assume with STS, refreshed before expiry |
//!
//! `api_key` is sent as `x-api-key`, `bearer_token` as `Authorization: Bearer`,
//! `basic` as `Authorization: Basic` (a value with a `:` is `user:password` and is
//! encoded; one without is taken as already encoded), `authorization` as the raw
//! `Authorization` value.
//!
//! # General settings
//!
//! `general_settings.master_key` is the key clients present to the gateway.
//! `general_settings.session_secret` (or the environment variable
//! `MCP_SIGV4_SESSION_SECRET`) is the secret the gateway derives its session
//! sealing key from. `general_settings.allowed_hosts` lists the host names the
//! gateway answers to behind a load balancer (besides the loopback names).
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
//! Each [`ServerConfig`] builds its rmcp transport, signed or with its header:
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

mod assume_role;
mod error;
mod parse;
mod secret;
mod transport;

use std::path::Path;

pub use error::{ConfigError, ConfigErrorKind};
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
            Auth::SigV4 { .. } => "aws_sigv4",
        }
    }
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
        }
    }
}
