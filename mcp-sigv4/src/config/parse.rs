//! YAML to typed values: a walk over `serde_norway::Value`, so that each error can
//! name the exact key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderName, HeaderValue};
use serde_norway::{Mapping, Value};
use tower_sigv4::endpoint;

use super::error::{ConfigError, ConfigErrorKind};
use super::oauth::DEFAULT_JWKS_REFETCH_FLOOR;
use super::{AccessRule, NamedKey};
use super::{
    Auth, Config, CredentialsSource, OAuth2ClientCredentials, OAuthSettings, SESSION_SECRET_ENV,
    Secret, ServerConfig, StdioCommand, ToolFilter, Transport,
};
use crate::advice::{distance, nearest};

mod identities;

const ENV_PREFIX: &str = "os.environ/";
const AUTH_TYPES: &str =
    "none, api_key, bearer_token, basic, authorization, token, oauth2, aws_sigv4";
const DEFAULT_SERVICE: &str = "bedrock-agentcore";

/// The top-level keys this module reads; LiteLLM's others (`model_list`,
/// `litellm_settings`, `router_settings`, ...) are left alone.
const TOP_KEYS: &[&str] = &["mcp_servers", "general_settings"];
/// LiteLLM's other top-level sections, none of which this application uses.
const TOP_KEYS_IGNORED: &[&str] = &[
    "environment_variables",
    "litellm_settings",
    "model_list",
    "router_settings",
];
/// The keys of `general_settings` this module reads. LiteLLM has dozens more:
/// the others are listed as ignored, and near misses of these warned about.
const GENERAL_KEYS: &[&str] = &[
    "master_key",
    "session_secret",
    "allowed_hosts",
    "list_cache_ttl",
    "probe_interval",
    "keys",
    "access",
    "public_url",
    "oauth",
];
/// The keys of `general_settings.oauth`.
const OAUTH_KEYS: &[&str] = &[
    "issuer",
    "audience",
    "scopes_supported",
    "required_scopes",
    "require_at_jwt",
    "jwks_refetch_floor",
];

/// The keys of a server this module reads.
const SERVER_KEYS: &[&str] = &[
    "url",
    "transport",
    "description",
    "auth_type",
    "auth_value",
    "static_headers",
    "extra_headers",
    "allowed_tools",
    "disallowed_tools",
    "command",
    "args",
    "env",
    "oauth2_flow",
    "token_url",
    "client_id",
    "client_secret",
    "scopes",
    "aws_region_name",
    "aws_service_name",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_profile",
    "aws_profile_name",
    "aws_role_name",
    "aws_session_name",
];
/// Keys LiteLLM documents for a server that this application does not use.
const SERVER_KEYS_IGNORED: &[&str] = &[
    "access_groups",
    "alias",
    "allow_all_keys",
    "allowed_params",
    "authorization_url",
    "mcp_info",
    "registration_url",
    "server_name",
    "spec_path",
];

pub(super) fn parse(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let root: Value = serde_norway::from_str(text)
        .map_err(|e| ConfigError::new(file, None, ConfigErrorKind::Syntax, yaml_error(text, &e)))?;
    let reader = Reader {
        file,
        env,
        notes: std::cell::RefCell::default(),
    };
    let root = match root {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => map,
        other => {
            return Err(reader.invalid(
                None,
                format!(
                    "expected a mapping with `mcp_servers` at the top level; got {}",
                    kind_of(&other)
                ),
            ));
        }
    };
    reader.check_keys(&root, None, TOP_KEYS, TOP_KEYS_IGNORED, Unknown::Leave);
    read(reader, &root).map_err(|first| match first.kind() {
        // Said at once: one run per variable would teach their names one by one.
        ConfigErrorKind::MissingVariable => all_unset(&root, file, env).unwrap_or(first),
        _ => first,
    })
}

/// The file's `mcp_servers` and `general_settings`, read into a [`Config`].
fn read(reader: Reader<'_>, root: &Mapping) -> Result<Config, ConfigError> {
    let env = reader.env;
    let servers = match root.get("mcp_servers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Mapping(servers)) => servers
            .iter()
            .map(|(name, server)| reader.server(name, server))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(reader.invalid(
                Some("mcp_servers".to_owned()),
                format!(
                    "expected a mapping of server names to servers; got {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let general = match root.get("general_settings") {
        None | Some(Value::Null) => Mapping::new(),
        Some(Value::Mapping(map)) => map.clone(),
        Some(other) => {
            return Err(reader.invalid(
                Some("general_settings".to_owned()),
                format!("expected a mapping; got {}", kind_of(other)),
            ));
        }
    };
    reader.check_keys(
        &general,
        Some("general_settings"),
        GENERAL_KEYS,
        &[],
        Unknown::List,
    );
    let at = |key: &str| format!("general_settings.{key}");
    let master_key = reader
        .string(&general, &at("master_key"), "master_key", "the gateway")?
        .map(Secret::from);
    let session_secret = match reader.string(
        &general,
        &at("session_secret"),
        "session_secret",
        "the gateway",
    )? {
        Some(secret) => Some(Secret::from(secret)),
        None => env(SESSION_SECRET_ENV).map(Secret::from),
    };
    let allowed_hosts = match general.get("allowed_hosts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(names)) => {
            let mut hosts = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let Value::String(name) = name else {
                    return Err(reader.invalid(
                        Some(format!("general_settings.allowed_hosts[{i}]")),
                        format!("expected a host name; got {}", kind_of(name)),
                    ));
                };
                hosts.push(name.clone());
            }
            hosts
        }
        Some(_) => reader
            .string(
                &general,
                &at("allowed_hosts"),
                "allowed_hosts",
                "the gateway",
            )?
            .unwrap_or_default()
            .split(',')
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .collect(),
    };
    let list_cache_ttl = reader.seconds(
        &general,
        &at("list_cache_ttl"),
        "list_cache_ttl",
        "0 turns list caching off",
    )?;
    let probe_interval = reader.seconds(
        &general,
        &at("probe_interval"),
        "probe_interval",
        "0 turns the probes off",
    )?;
    let keys = reader.keys(&general, &servers)?;
    let access = reader.access(&general, &servers)?;
    let (public_url, oauth) = read_oauth(&reader, &general)?;
    let Notes {
        mut warnings,
        ignored,
    } = reader.notes.into_inner();
    match (&oauth, access.is_empty()) {
        (None, false) => warnings.push(
            "general_settings.access grants OAuth identities, but general_settings.oauth is not set: the rules apply to no one; add general_settings.oauth (and public_url), or remove access".to_owned(),
        ),
        (Some(_), true) => warnings.push(
            "general_settings.oauth is set but general_settings.access is empty: every access token will be refused (403, deny by default); add access rules that grant servers by claim".to_owned(),
        ),
        _ => {}
    }
    Ok(Config {
        keys,
        access,
        servers,
        master_key,
        session_secret,
        allowed_hosts,
        list_cache_ttl,
        probe_interval,
        public_url,
        oauth,
        warnings,
        ignored,
    })
}

/// One error naming every `os.environ/VAR` of the keys this module reads whose
/// variable is not set, when there are two or more.
fn all_unset(
    root: &Mapping,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<ConfigError> {
    let mut unset: Vec<(String, String)> = Vec::new();
    if let Some(Value::Mapping(servers)) = root.get("mcp_servers") {
        for (name, server) in servers {
            let (Some(name), Value::Mapping(server)) = (name.as_str(), server) else {
                continue;
            };
            for key in SERVER_KEYS {
                if let Some(value) = server.get(*key) {
                    unset_in(value, &format!("mcp_servers.{name}.{key}"), env, &mut unset);
                }
            }
        }
    }
    if let Some(Value::Mapping(general)) = root.get("general_settings") {
        for key in GENERAL_KEYS {
            if let Some(value) = general.get(*key) {
                unset_in(value, &format!("general_settings.{key}"), env, &mut unset);
            }
        }
    }
    if unset.len() < 2 {
        return None;
    }
    let names: Vec<String> = unset
        .iter()
        .map(|(path, var)| format!("{var} ({path})"))
        .collect();
    Some(ConfigError::new(
        file,
        Some(unset[0].0.clone()),
        ConfigErrorKind::MissingVariable,
        format!(
            "{} environment variables are not set: {}; set them, or change the values",
            unset.len(),
            names.join(", ")
        ),
    ))
}

/// Every `os.environ/VAR` in `value` (a string, or within lists and mappings)
/// whose variable `env` does not have, with where it is.
fn unset_in(
    value: &Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(text) => {
            if let Some(var) = text.trim().strip_prefix(ENV_PREFIX).map(str::trim)
                && !var.is_empty()
                && env(var).is_none()
            {
                unset.push((path.to_owned(), var.to_owned()));
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                unset_in(item, &format!("{path}[{i}]"), env, unset);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map {
                let key = key.as_str().unwrap_or("?");
                unset_in(item, &format!("{path}.{key}"), env, unset);
            }
        }
        _ => {}
    }
}

/// serde_norway's message, and for a tab where YAML wants spaces (its message
/// says only "found character that cannot start any token"), where the tab is.
fn yaml_error(text: &str, error: &serde_norway::Error) -> String {
    let tab = error.location().and_then(|at| {
        let line = text.lines().nth(at.line().checked_sub(1)?)?;
        let column = line.find('\t')? + 1;
        Some(format!(
            "; line {} has a tab at column {column}: YAML indents with spaces only, so replace the tab with spaces",
            at.line()
        ))
    });
    format!("not valid YAML: {error}{}", tab.unwrap_or_default())
}

struct Reader<'a> {
    file: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    notes: std::cell::RefCell<Notes>,
}

/// What the file has that this application does not use.
#[derive(Default)]
struct Notes {
    warnings: Vec<String>,
    ignored: Vec<String>,
}

/// What to do with a key that is neither read, nor one LiteLLM documents here,
/// nor a near miss of one that is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unknown {
    /// LiteLLM's file has many more sections: leave it alone.
    Leave,
    /// LiteLLM has many more keys here: list it as ignored (info level).
    List,
    /// Warn: it is ignored, and may be a mistake.
    Warn,
}

impl Reader<'_> {
    /// Warn about a key that is a near miss of one this module reads (its default
    /// stays in force), naming the key it most likely means; list the keys
    /// LiteLLM documents and this application ignores; deal with the rest as
    /// `unknown` says. Never refuses: LiteLLM starts with such a file, and so
    /// does a drop-in.
    fn check_keys(
        &self,
        map: &Mapping,
        at: Option<&str>,
        known: &[&str],
        litellm: &[&str],
        unknown: Unknown,
    ) {
        let path = |key: &str| match at {
            Some(at) => format!("{at}.{key}"),
            None => key.to_owned(),
        };
        let mut notes = self.notes.borrow_mut();
        for key in map.keys() {
            let Value::String(key) = key else { continue };
            if known.contains(&key.as_str()) {
                continue;
            }
            if litellm.contains(&key.as_str()) {
                notes.ignored.push(path(key));
                continue;
            }
            if let Some(nearest) = nearest(key, known) {
                notes.warnings.push(format!(
                    "{}: {}: unknown key, ignored; did you mean `{nearest}`? (until it is spelt so, `{nearest}` keeps its default)",
                    self.file,
                    path(key),
                ));
                continue;
            }
            match unknown {
                Unknown::Leave => {}
                Unknown::List => notes.ignored.push(path(key)),
                Unknown::Warn => notes.warnings.push(format!(
                    "{}: {}: unknown key, ignored; the keys read here are {}",
                    self.file,
                    path(key),
                    known.join(", ")
                )),
            }
        }
    }

    fn invalid(&self, key: Option<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.file, key, ConfigErrorKind::Invalid, message)
    }

    fn server(&self, name: &Value, server: &Value) -> Result<ServerConfig, ConfigError> {
        let name = match name {
            Value::String(name) if !name.trim().is_empty() => name.clone(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(self.invalid(
                    Some("mcp_servers".to_owned()),
                    format!(
                        "server names must be non-empty strings; got {}",
                        kind_of(other)
                    ),
                ));
            }
        };
        let base = format!("mcp_servers.{name}");
        let map = match server {
            Value::Mapping(map) => map,
            other => {
                return Err(self.invalid(
                    Some(base),
                    format!(
                        "expected a mapping with at least `url`; got {}",
                        kind_of(other)
                    ),
                ));
            }
        };
        self.check_keys(
            map,
            Some(&base),
            SERVER_KEYS,
            SERVER_KEYS_IGNORED,
            Unknown::Warn,
        );
        let s = ServerReader {
            reader: self,
            map,
            name: &name,
            base: &base,
            what: "server",
        };
        let transport = s.transport()?;
        // A stdio server's "URL" only names it (in logs, the server list, sessions).
        let url = match transport {
            Transport::Stdio(_) => format!("stdio://{}", env_name(&name).to_ascii_lowercase()),
            _ => s.url()?,
        };
        let auth = s.auth(&url)?;
        if matches!(transport, Transport::Stdio(_)) && auth != Auth::None {
            return Err(s.invalid(
                "auth_type",
                format!(
                    "a stdio server is not reached over HTTP, so auth_type {} has nothing to sign or send; remove it, and pass credentials in `env`",
                    auth.auth_type()
                ),
            ));
        }
        let static_headers = s.static_headers(&auth)?;
        let extra_headers = s.extra_headers()?;
        let tools = ToolFilter {
            allowed: s.list("allowed_tools")?,
            disallowed: s.list("disallowed_tools")?.unwrap_or_default(),
        };
        let description = s.plain("description")?;
        Ok(ServerConfig {
            description,
            name,
            url,
            auth,
            static_headers,
            transport,
            extra_headers,
            tools,
        })
    }

    /// A number of seconds (0 or more) at `key` of the gateway's `map`;
    /// `zero` says what 0 means, in the message for a bad value.
    fn seconds(
        &self,
        map: &Mapping,
        path: &str,
        key: &str,
        zero: &str,
    ) -> Result<Option<std::time::Duration>, ConfigError> {
        let Some(text) = self.string(map, path, key, "the gateway")? else {
            return Ok(None);
        };
        text.trim()
            .parse::<f64>()
            .ok()
            .and_then(|seconds| std::time::Duration::try_from_secs_f64(seconds).ok())
            .map(Some)
            .ok_or_else(|| {
                self.invalid(
                    Some(path.to_owned()),
                    format!("expected seconds, a number of 0 or more ({zero}); got `{text}`"),
                )
            })
    }

    /// A string value at `key` of `map`, with `os.environ/VAR` resolved; `owner`
    /// names what the value belongs to in the message for an unset variable.
    fn string(
        &self,
        map: &Mapping,
        path: &str,
        key: &str,
        owner: &str,
    ) -> Result<Option<String>, ConfigError> {
        let raw = match map.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(other) => {
                return Err(self.invalid(
                    Some(path.to_owned()),
                    format!("expected a string; got {}", kind_of(other)),
                ));
            }
        };
        let Some(var) = raw.trim().strip_prefix(ENV_PREFIX) else {
            return Ok(Some(raw));
        };
        let var = var.trim();
        if var.is_empty() {
            return Err(self.invalid(
                Some(path.to_owned()),
                "`os.environ/` names no variable; write os.environ/VARIABLE_NAME",
            ));
        }
        match (self.env)(var) {
            Some(value) => Ok(Some(value)),
            None => Err(ConfigError::new(
                self.file,
                Some(path.to_owned()),
                ConfigErrorKind::MissingVariable,
                format!(
                    "the environment variable {var} is not set (needed by {owner}); set it, or change the value"
                ),
            )),
        }
    }
}

struct ServerReader<'a> {
    reader: &'a Reader<'a>,
    map: &'a Mapping,
    name: &'a str,
    base: &'a str,
    /// What the entry is, in messages: `server`, `key`, `access rule`.
    what: &'a str,
}

impl ServerReader<'_> {
    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.base)
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        self.reader.invalid(Some(self.path(key)), message)
    }

    fn owner(&self) -> String {
        format!("{} `{}`", self.what, self.name)
    }

    /// A value that is not a secret: it may appear in messages and `Debug`.
    fn plain(&self, key: &str) -> Result<Option<String>, ConfigError> {
        self.reader
            .string(self.map, &self.path(key), key, &self.owner())
    }

    fn required(&self, key: &str, what: &str) -> Result<String, ConfigError> {
        match self.plain(key)? {
            Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            Some(_) => Err(self.invalid(key, format!("is empty; expected {what}"))),
            None => Err(self.missing(key, &format!("expected {what}"))),
        }
    }

    /// `key` is missing: `why`, and the near miss of it the server has, if any.
    fn missing(&self, key: &str, why: &str) -> ConfigError {
        let misspelt = self
            .map
            .keys()
            .filter_map(Value::as_str)
            .filter(|spelt| !SERVER_KEYS.contains(spelt))
            // A missing key makes a near miss likelier than `nearest` allows:
            // `ulr` is one swap from the three letters of `url`.
            .find(|spelt| {
                let d = distance(&spelt.trim().to_ascii_lowercase(), key);
                d <= 2 && d * 3 <= key.len()
            });
        match misspelt {
            Some(spelt) => self.invalid(
                key,
                format!("missing, but `{spelt}` is there: did you mean `{key}`? ({why})"),
            ),
            None => self.invalid(key, format!("missing; {why}")),
        }
    }

    fn secret(&self, key: &str) -> Result<Option<Secret>, ConfigError> {
        Ok(self.plain(key)?.map(Secret::from))
    }

    fn transport(&self) -> Result<Transport, ConfigError> {
        let named = self.plain("transport")?;
        let named = named.as_deref().map(str::trim);
        // LiteLLM takes a server with a `command` and no `url` as stdio.
        let stdio = named == Some("stdio")
            || (named.is_none()
                && self.map.get("command").is_some()
                && self.map.get("url").is_none());
        match named {
            _ if stdio => Ok(Transport::Stdio(self.stdio()?)),
            None | Some("http" | "streamable_http" | "streamable-http") => Ok(Transport::Http),
            Some("sse") => Ok(Transport::Sse),
            Some(other) => Err(self.invalid(
                "transport",
                format!("expected one of http, sse, stdio; got {other:?}"),
            )),
        }
    }

    fn stdio(&self) -> Result<StdioCommand, ConfigError> {
        let command = self.required("command", "the program to run, e.g. command: npx")?;
        let args = self.list("args")?.unwrap_or_default();
        let env = match self.map.get("env") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Mapping(map)) => {
                let mut env = Vec::with_capacity(map.len());
                for (name, _) in map {
                    let Value::String(name) = name else {
                        return Err(self.invalid(
                            "env",
                            format!("variable names must be strings; got {}", kind_of(name)),
                        ));
                    };
                    let key = format!("env.{name}");
                    let value = self
                        .reader
                        .string(map, &self.path(&key), name, &self.owner())?
                        .unwrap_or_default();
                    env.push((name.clone(), Secret::from(value)));
                }
                env
            }
            Some(other) => {
                return Err(self.invalid(
                    "env",
                    format!(
                        "expected a mapping of variable names to values; got {}",
                        kind_of(other)
                    ),
                ));
            }
        };
        Ok(StdioCommand { command, args, env })
    }

    /// A list of strings at `key`; a single string is a list of one.
    fn list(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Sequence(items)) => {
                let mut list = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let value = match item {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        other => {
                            return Err(self.invalid(
                                &format!("{key}[{i}]"),
                                format!("expected a string; got {}", kind_of(other)),
                            ));
                        }
                    };
                    list.push(value);
                }
                Ok(Some(list))
            }
            Some(Value::String(_)) => Ok(self.plain(key)?.map(|one| vec![one])),
            Some(other) => Err(self.invalid(
                key,
                format!("expected a list of strings; got {}", kind_of(other)),
            )),
        }
    }

    fn extra_headers(&self) -> Result<Vec<HeaderName>, ConfigError> {
        let names = self.list("extra_headers")?.unwrap_or_default();
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                    self.invalid(
                        &format!("extra_headers[{i}]"),
                        format!("{name:?} is not a valid HTTP header name"),
                    )
                })
            })
            .collect()
    }

    fn url(&self) -> Result<String, ConfigError> {
        let url = self.required(
            "url",
            "the server's streamable-HTTP URL, e.g. https://aws-mcp.us-east-1.api.aws/mcp",
        )?;
        // The URL can carry a key (some servers put one in the path): say what is
        // wrong without repeating it.
        crate::advice::check_url(&url).map_err(|message| {
            self.invalid("url", message.replace(&format!("`{url}`"), "the URL"))
        })?;
        Ok(url)
    }

    fn auth(&self, url: &str) -> Result<Auth, ConfigError> {
        let auth_type = self.plain("auth_type")?;
        let auth_type = auth_type.as_deref().map(str::trim).unwrap_or("none");
        let value = |what: &str| -> Result<Secret, ConfigError> {
            let value = match self.secret("auth_value")? {
                Some(value) if !value.expose().is_empty() => value,
                Some(_) => {
                    return Err(self.invalid(
                        "auth_value",
                        format!("is empty; auth_type {auth_type} needs {what}"),
                    ));
                }
                None => {
                    return Err(self.invalid(
                        "auth_value",
                        format!(
                            "missing; auth_type {auth_type} needs {what} (e.g. auth_value: os.environ/{}_TOKEN)",
                            env_name(self.name)
                        ),
                    ));
                }
            };
            self.check_header_value("auth_value", value.expose())?;
            Ok(value)
        };
        Ok(match auth_type {
            "none" => Auth::None,
            "api_key" => Auth::ApiKey(value("the API key")?),
            "bearer_token" => Auth::Bearer(value("the token")?),
            "authorization" => Auth::Authorization(value("the Authorization header's value")?),
            "token" => Auth::Token(value("the token")?),
            "oauth2" => self.oauth2()?,
            passthrough @ ("true_passthrough" | "oauth_delegate" | "oauth2_token_exchange") => {
                return Err(self.invalid(
                    "auth_type",
                    format!(
                        "{passthrough} is not supported yet: the gateway does not pass on or exchange the client's own token; send the upstream credential per request as x-mcp-{}-authorization, or use oauth2 with oauth2_flow: client_credentials",
                        self.name
                    ),
                ));
            }
            "basic" => self.basic(value("user:password, or its base64")?)?,
            "aws_sigv4" => self.sigv4(url)?,
            other => {
                return Err(self.invalid(
                    "auth_type",
                    format!("expected one of {AUTH_TYPES}; got {other:?}"),
                ));
            }
        })
    }

    /// LiteLLM's keys for the client-credentials grant; the interactive flows
    /// (authorization code with PKCE, dynamic client registration) are refused.
    fn oauth2(&self) -> Result<Auth, ConfigError> {
        let flow = self.plain("oauth2_flow")?;
        let token_url = self.plain("token_url")?;
        let machine = match flow.as_deref().map(str::trim) {
            Some("client_credentials") => true,
            Some("authorization_code") => false,
            Some(other) => {
                return Err(self.invalid(
                    "oauth2_flow",
                    format!("expected client_credentials or authorization_code; got {other:?}"),
                ));
            }
            // Without a flow, LiteLLM takes a token URL with a client id and secret
            // as machine-to-machine.
            None => {
                token_url.is_some()
                    && self.map.get("client_id").is_some()
                    && self.map.get("client_secret").is_some()
            }
        };
        if !machine {
            return Err(self.invalid(
                "oauth2_flow",
                "the interactive OAuth flow (authorization code with PKCE, a browser per user) is not supported yet; use oauth2_flow: client_credentials with token_url, client_id and client_secret, or send the user's token per request as x-mcp-{server}-authorization",
            ));
        }
        let token_url = self.required(
            "token_url",
            "the token endpoint, e.g. https://auth.example.com/oauth2/token",
        )?;
        crate::advice::check_url(&token_url).map_err(|message| {
            self.invalid(
                "token_url",
                message.replace(&format!("`{token_url}`"), "the URL"),
            )
        })?;
        let client_id = self.required("client_id", "the OAuth client id")?;
        let client_secret = match self.secret("client_secret")? {
            Some(secret) if !secret.expose().trim().is_empty() => secret,
            _ => {
                return Err(self.invalid(
                    "client_secret",
                    format!(
                        "missing or empty; the client-credentials grant needs it (e.g. client_secret: os.environ/{}_CLIENT_SECRET)",
                        env_name(self.name)
                    ),
                ));
            }
        };
        let scopes = match self.map.get("scopes") {
            Some(Value::String(_)) => self
                .plain("scopes")?
                .unwrap_or_default()
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => self.list("scopes")?.unwrap_or_default(),
        };
        Ok(Auth::OAuth2(OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scopes,
        }))
    }

    fn check_header_value(&self, key: &str, value: &str) -> Result<(), ConfigError> {
        HeaderValue::from_str(value).map(|_| ()).map_err(|_| {
            self.invalid(
                key,
                "is not a valid HTTP header value (it has a control character or a non-ASCII byte)",
            )
        })
    }

    /// LiteLLM's documentation shows both `user:password` and its base64; a
    /// base64 string has no `:`, so the two cannot be confused.
    fn basic(&self, value: Secret) -> Result<Auth, ConfigError> {
        let decoded;
        let pair = if value.expose().contains(':') {
            value.expose()
        } else {
            let bytes = BASE64.decode(value.expose().trim()).map_err(|_| {
                self.invalid(
                    "auth_value",
                    "expected user:password, or its base64; this is neither",
                )
            })?;
            decoded = String::from_utf8(bytes).map_err(|_| {
                self.invalid("auth_value", "the base64 does not decode to UTF-8 text")
            })?;
            decoded.as_str()
        };
        let (user, password) = pair.split_once(':').ok_or_else(|| {
            self.invalid("auth_value", "the base64 does not decode to user:password")
        })?;
        Ok(Auth::Basic {
            user: user.to_owned(),
            password: Secret::new(password),
        })
    }

    fn sigv4(&self, url: &str) -> Result<Auth, ConfigError> {
        let inferred = endpoint::infer(url);
        let region = match self.plain("aws_region_name")? {
            Some(region) if !region.trim().is_empty() => region.trim().to_owned(),
            _ => match &inferred {
                Some(inferred) => inferred.region.clone(),
                None => {
                    return Err(self.invalid(
                        "aws_region_name",
                        "missing, and the URL's host names no region; set it, e.g. aws_region_name: us-east-1",
                    ));
                }
            },
        };
        let service = match self.plain("aws_service_name")? {
            Some(service) if !service.trim().is_empty() => service.trim().to_owned(),
            _ => inferred
                .map(|inferred| inferred.service.as_str().to_owned())
                .unwrap_or_else(|| DEFAULT_SERVICE.to_owned()),
        };
        Ok(Auth::SigV4 {
            region,
            service,
            credentials: self.credentials()?,
        })
    }

    fn credentials(&self) -> Result<CredentialsSource, ConfigError> {
        let access_key_id = self.plain("aws_access_key_id")?;
        let secret_access_key = self.secret("aws_secret_access_key")?;
        let session_token = self.secret("aws_session_token")?;
        let profile = match (self.plain("aws_profile")?, self.plain("aws_profile_name")?) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "aws_profile_name",
                    "set either aws_profile or aws_profile_name, not both",
                ));
            }
            (profile, other) => profile.or(other),
        };
        let base = match (access_key_id, secret_access_key) {
            (Some(access_key_id), Some(secret_access_key)) => {
                if profile.is_some() {
                    return Err(self.invalid(
                        "aws_profile",
                        "set either static keys (aws_access_key_id, aws_secret_access_key) or a profile, not both",
                    ));
                }
                CredentialsSource::Static {
                    access_key_id,
                    secret_access_key,
                    session_token,
                }
            }
            (Some(_), None) => {
                return Err(self.missing(
                    "aws_secret_access_key",
                    "aws_access_key_id needs its secret key",
                ));
            }
            (None, Some(_)) => {
                return Err(self.missing(
                    "aws_access_key_id",
                    "aws_secret_access_key needs its access key id",
                ));
            }
            (None, None) if session_token.is_some() => {
                return Err(self.invalid(
                    "aws_session_token",
                    "needs aws_access_key_id and aws_secret_access_key beside it",
                ));
            }
            (None, None) => CredentialsSource::DefaultChain { profile },
        };
        Ok(match self.plain("aws_role_name")? {
            Some(role_arn) if !role_arn.trim().is_empty() => {
                let role_arn = role_arn.trim().to_owned();
                if !role_arn.starts_with("arn:") {
                    return Err(self.invalid(
                        "aws_role_name",
                        format!(
                            "expected a role ARN, e.g. arn:aws:iam::123456789012:role/McpSigner; got {role_arn:?}"
                        ),
                    ));
                }
                CredentialsSource::AssumeRole {
                    role_arn,
                    session_name: self.plain("aws_session_name")?,
                    base: Box::new(base),
                }
            }
            _ => base,
        })
    }

    fn static_headers(&self, auth: &Auth) -> Result<Vec<(HeaderName, Secret)>, ConfigError> {
        let map = match self.map.get("static_headers") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Mapping(map)) => map,
            Some(other) => {
                return Err(self.invalid(
                    "static_headers",
                    format!(
                        "expected a mapping of header names to values; got {}",
                        kind_of(other)
                    ),
                ));
            }
        };
        let mut headers = Vec::with_capacity(map.len());
        for (name, _) in map {
            let Value::String(name) = name else {
                return Err(self.invalid(
                    "static_headers",
                    format!("header names must be strings; got {}", kind_of(name)),
                ));
            };
            let key = format!("static_headers.{name}");
            let header = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| self.invalid(&key, "is not a valid HTTP header name"))?;
            if reserved(&header, auth) {
                return Err(self.invalid(
                    &key,
                    format!(
                        "cannot be set here: auth_type {} or the transport sets it",
                        auth.auth_type()
                    ),
                ));
            }
            let value = self
                .reader
                .string(map, &self.path(&key), name, &self.owner())?
                .unwrap_or_default();
            self.check_header_value(&key, &value)?;
            headers.push((header, Secret::from(value)));
        }
        Ok(headers)
    }
}

fn reserved(name: &HeaderName, auth: &Auth) -> bool {
    let always = [
        "host",
        "content-length",
        "content-type",
        "accept",
        "mcp-session-id",
        "last-event-id",
    ];
    if always.contains(&name.as_str()) {
        return true;
    }
    match auth {
        Auth::None => false,
        Auth::ApiKey(_) => name.as_str() == "x-api-key",
        Auth::Bearer(_)
        | Auth::Basic { .. }
        | Auth::Authorization(_)
        | Auth::Token(_)
        | Auth::OAuth2(_) => name == http::header::AUTHORIZATION,
        Auth::SigV4 { .. } => {
            name == http::header::AUTHORIZATION || name.as_str().starts_with("x-amz-")
        }
    }
}

/// `weather-api` → `WEATHER_API`, for the example in a message.
fn env_name(server: &str) -> String {
    server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// `public_url` and `oauth` of `general`.
fn read_oauth(
    reader: &Reader<'_>,
    general: &Mapping,
) -> Result<(Option<String>, Option<OAuthSettings>), ConfigError> {
    let public_url = reader
        .string(
            general,
            "general_settings.public_url",
            "public_url",
            "the gateway",
        )?
        .map(|url| public_url(reader, &url))
        .transpose()?;
    let oauth = match general.get("oauth") {
        None | Some(Value::Null) => return Ok((public_url, None)),
        Some(Value::Mapping(oauth)) => oauth,
        Some(other) => {
            return Err(reader.invalid(
                Some("general_settings.oauth".to_owned()),
                format!(
                    "expected a mapping with at least `issuer`; got {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let Some(public) = public_url.clone() else {
        return Err(reader.invalid(
            Some("general_settings.public_url".to_owned()),
            "general_settings.oauth needs the URL clients connect to, the base of the resource URLs tokens are issued for: set general_settings.public_url (e.g. https://mcp.example.com)",
        ));
    };
    reader.check_keys(
        oauth,
        Some("general_settings.oauth"),
        OAUTH_KEYS,
        &[],
        Unknown::Warn,
    );
    let at = |key: &str| format!("general_settings.oauth.{key}");
    let issuer = reader
        .string(oauth, &at("issuer"), "issuer", "the gateway")?
        .map(|issuer| issuer.trim().to_owned())
        .filter(|issuer| !issuer.is_empty())
        .ok_or_else(|| {
            reader.invalid(
                Some(at("issuer")),
                "missing: set it to the authorization server's issuer URL, e.g. https://login.example.com/realms/agents (its discovery document gives the signing keys)",
            )
        })?;
    check_http_url(reader, &at("issuer"), &issuer)?;
    let audience = match reader.string(oauth, &at("audience"), "audience", "the gateway")? {
        Some(audience) if !audience.trim().is_empty() => audience.trim().to_owned(),
        _ => format!("{public}/mcp"),
    };
    let required_scopes = scopes(reader, oauth, "required_scopes")?.unwrap_or_default();
    let scopes_supported =
        scopes(reader, oauth, "scopes_supported")?.unwrap_or_else(|| required_scopes.clone());
    let require_at_jwt = match oauth.get("require_at_jwt") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(reader.invalid(
                Some(at("require_at_jwt")),
                format!("expected true or false; got {}", kind_of(other)),
            ));
        }
    };
    let jwks_refetch_floor = reader
        .seconds(
            oauth,
            &at("jwks_refetch_floor"),
            "jwks_refetch_floor",
            "0 refetches on every unknown kid",
        )?
        .unwrap_or(DEFAULT_JWKS_REFETCH_FLOOR);
    Ok((
        public_url,
        Some(OAuthSettings {
            issuer,
            audience,
            scopes_supported,
            required_scopes,
            require_at_jwt,
            jwks_refetch_floor,
        }),
    ))
}

/// `public_url` without its trailing slash: an `http(s)` origin, no path.
fn public_url(reader: &Reader<'_>, url: &str) -> Result<String, ConfigError> {
    let key = "general_settings.public_url";
    let url = url.trim().trim_end_matches('/').to_owned();
    check_http_url(reader, key, &url)?;
    let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains(['/', '?', '#']) {
        return Err(reader.invalid(
            Some(key.to_owned()),
            format!(
                "expected the origin clients connect to, without a path, e.g. https://mcp.example.com; got `{}`",
                url.escape_debug()
            ),
        ));
    }
    Ok(url)
}

fn check_http_url(reader: &Reader<'_>, key: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = url.parse::<http::Uri>().ok();
    let ok = parsed
        .as_ref()
        .is_some_and(|uri| match (uri.scheme_str(), uri.host()) {
            (Some("https"), Some(_)) => true,
            (Some("http"), Some(host)) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => false,
        });
    if ok {
        return Ok(());
    }
    Err(reader.invalid(
        Some(key.to_owned()),
        format!(
            "expected an https:// URL (http:// only on loopback); got `{}`",
            url.escape_debug()
        ),
    ))
}

/// A list of scope names at `key` of `oauth` (a list, or one space-separated string).
fn scopes(
    reader: &Reader<'_>,
    oauth: &Mapping,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let path = format!("general_settings.oauth.{key}");
    let words = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_owned).collect() };
    match oauth.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Sequence(items)) => {
            let mut scopes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::String(scope) = item else {
                    return Err(reader.invalid(
                        Some(format!("{path}[{i}]")),
                        format!("expected a scope name; got {}", kind_of(item)),
                    ));
                };
                scopes.extend(words(scope));
            }
            Ok(Some(scopes))
        }
        Some(Value::String(_)) => Ok(reader
            .string(oauth, &path, key, "the gateway")?
            .map(|s| words(&s))),
        Some(other) => Err(reader.invalid(
            Some(path),
            format!("expected a list of scope names; got {}", kind_of(other)),
        )),
    }
}
