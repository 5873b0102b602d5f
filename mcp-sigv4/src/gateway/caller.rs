//! Who is calling, as the guard established it from the request's credentials.
//!
//! STAND-IN of the `oauth` branch: the `identity` branch owns this file (the
//! shape below is the shared design's, field for field) and its
//! `Caller::from_claims(iss, sub, &claims, &access_rules)`, which applies the
//! access rules. Until the merge, an OAuth identity is granted everything,
//! as the master key is; take the `identity` branch's file at merge.

use serde_json::{Map, Value};

/// Who is calling, as the guard established it from the request's credentials.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The identity's name for audit lines, metrics and rate limits: `master` for the
    /// master key, the key's name for a named key, `{iss} {sub}` for an OAuth token,
    /// `anonymous` when the gateway asks for no credentials.
    pub identity: String,
    /// What granted access: the key's name, the matching access rules' names
    /// (`claim=value`, joined by `,`), or `None` for the master key / anonymous.
    pub rule: Option<String>,
    /// What it may use.
    pub grants: Grants,
    /// The highest `requests_per_minute` among what granted access, if any.
    pub requests_per_minute: Option<u32>,
}

/// What a caller may use.
#[derive(Clone, Debug)]
pub enum Grants {
    /// Every server and tool (master key; no `keys`/`oauth` configured).
    All,
    /// These servers, and among their tools those matching these globs over the
    /// aggregated name `{server}{separator}{tool}` (`*` when a key lists no tools).
    Only {
        /// The servers.
        servers: Vec<String>,
        /// The tool globs.
        tools: Vec<String>,
    },
}

impl Caller {
    /// The holder of the master key.
    pub fn master() -> Self {
        Self::everything("master")
    }

    /// A caller of a gateway that asks for no credentials.
    pub fn anonymous() -> Self {
        Self::everything("anonymous")
    }

    /// The caller an OAuth token's verified claims name (stand-in: everything;
    /// the `identity` branch applies `general_settings.access`).
    pub fn from_claims(iss: &str, sub: &str, _claims: &Map<String, Value>) -> Self {
        Self::everything(&format!("{iss} {sub}"))
    }

    fn everything(identity: &str) -> Self {
        Self {
            identity: identity.to_owned(),
            rule: None,
            grants: Grants::All,
            requests_per_minute: None,
        }
    }
}
