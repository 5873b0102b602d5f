use std::fmt;

/// A configuration file that cannot be used: where (the file and the key) and why.
///
/// Its message never contains a secret value: for a key that holds one, it says
/// what is wrong with the value without repeating it.
///
/// ```text
/// config.yaml: mcp_servers.weather.auth_type: expected one of none, api_key, bearer_token, basic, authorization, aws_sigv4; got "oauth"
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    file: String,
    key: Option<String>,
    kind: ConfigErrorKind,
    message: String,
}

/// What kind of problem a [`ConfigError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    Read,
    /// The file is not YAML.
    Syntax,
    /// A value is missing, of the wrong type, or not one of the allowed values.
    Invalid,
    /// A value is `os.environ/VAR` and `VAR` is not set.
    MissingVariable,
}

impl ConfigError {
    pub(crate) fn new(
        file: &str,
        key: Option<String>,
        kind: ConfigErrorKind,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            key,
            kind,
            message: message.into(),
        }
    }

    /// The file, as it was named when loading.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The dotted key the problem is at, e.g. `mcp_servers.weather.auth_type`.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: {key}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
