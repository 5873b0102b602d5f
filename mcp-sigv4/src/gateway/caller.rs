//! Who is calling, as the guard established it from the request's credentials.
//!
//! Until named keys and OAuth land (issue #31), the guard knows two callers:
//! `master` when the master key was presented, and `anonymous` when the
//! gateway asks for no key. The shape is the one they will fill in.

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
        /// The servers the caller may reach.
        servers: Vec<String>,
        /// Globs over the aggregated tool names the caller may call.
        tools: Vec<String>,
    },
}

impl Caller {
    /// The administrator, who presented the master key.
    pub fn master() -> Self {
        Self::unlimited("master")
    }

    /// Anyone, on a gateway that asks for no credentials.
    pub fn anonymous() -> Self {
        Self::unlimited("anonymous")
    }

    fn unlimited(identity: &str) -> Self {
        Self {
            identity: identity.to_owned(),
            rule: None,
            grants: Grants::All,
            requests_per_minute: None,
        }
    }
}
