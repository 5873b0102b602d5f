//! Why credentials could not be loaded.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error_chain::ErrorChain;

/// Credentials could not be loaded: the provider failed, timed out, or none is configured.
#[derive(Clone)]
pub struct CredentialsError {
    pub(crate) source_name: Arc<str>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl CredentialsError {
    /// Which credentials source was tried.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The load timeout, if loading timed out.
    pub fn timed_out(&self) -> Option<Duration> {
        self.timeout
    }
}

impl fmt::Debug for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsError")
            .field("source_name", &self.source_name)
            .field("timeout", &self.timeout)
            .field("source", &self.source.as_ref().map(|e| e.to_string()))
            .finish()
    }
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no AWS credentials from {}", self.source_name)?;
        if let Some(timeout) = self.timeout {
            write!(f, ": loading took longer than {timeout:?}")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {}", ErrorChain(&**source))?;
        }
        f.write_str(
            "; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE (run `aws sso login` for SSO profiles), or pass credentials to the layer's builder",
        )
    }
}

impl std::error::Error for CredentialsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}
