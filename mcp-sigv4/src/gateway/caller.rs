//! Who is calling, and what they may use: the [`Caller`] the guard makes of a
//! request's credentials, and its [`Grants`].
//!
//! The caller of the request being answered is kept in a task-local
//! (`CALLER`) while it is served, so that the places that already filter by
//! a server's `allowed_tools` (the lists, the refused calls) filter by the
//! caller's grants too, however deep in the fan-out. Outside a request (a
//! probe, a background task) no caller is in scope, and nothing is granted.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use wildmatch::WildMatch;

use crate::config::{AccessRule, NamedKey};

/// Who is calling, as the guard established it from the request's credentials.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The identity's name for audit lines, metrics and rate limits: `master` for the
    /// master key, the key's name for a named key, `{iss} {sub}` for an OAuth token,
    /// `anonymous` when the gateway asks for no credentials.
    pub identity: String,
    /// How the identity was established; with `identity`, what a sealed
    /// session is bound to, so that no two kinds share a name.
    pub kind: Kind,
    /// What granted access: the key's name, the matching access rules' names
    /// (`claim=value`, joined by `,`), or `None` for the master key / anonymous.
    pub rule: Option<String>,
    /// What it may use.
    pub grants: Grants,
    /// The highest `requests_per_minute` among what granted access, if any.
    pub requests_per_minute: Option<u32>,
}

/// How a [`Caller`]'s identity was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// No credentials asked for.
    Anonymous,
    /// The master key.
    Master,
    /// A named key of `general_settings.keys`.
    Key,
    /// An OAuth token.
    OAuth,
}

/// What a caller may use.
#[derive(Clone, Debug)]
pub enum Grants {
    /// Every server and tool (master key; no `keys`/`oauth` configured).
    All,
    /// These servers, and among their tools those that a grant of the same
    /// server lets through.
    Only {
        /// The servers, by name.
        servers: Vec<String>,
        /// Tool globs, each with the servers of the key or rule that gave it.
        tools: Vec<ToolGrant>,
    },
}

/// Tools a key or an access rule grants: a glob over the aggregated name
/// `{server}{separator}{tool}` (`*` when the entry lists no tools), which
/// holds for the entry's own servers only. A rule for `git` with `*` opens
/// no tool of `github`, though `git*` would match its names.
#[derive(Clone, Debug)]
pub struct ToolGrant {
    /// The servers of the key or rule.
    pub servers: Vec<String>,
    /// The glob.
    pub glob: String,
}

tokio::task_local! {
    /// The caller of the request being answered.
    pub(super) static CALLER: Caller;
}

impl Caller {
    /// The caller of a gateway that asks for no credentials.
    pub fn anonymous() -> Self {
        Self {
            identity: "anonymous".to_owned(),
            kind: Kind::Anonymous,
            rule: None,
            grants: Grants::All,
            requests_per_minute: None,
        }
    }

    /// The holder of the master key.
    pub fn master() -> Self {
        Self {
            identity: "master".to_owned(),
            kind: Kind::Master,
            ..Self::anonymous()
        }
    }

    /// The holder of a named key.
    pub fn of_key(key: &NamedKey) -> Self {
        Self {
            identity: key.name.clone(),
            kind: Kind::Key,
            rule: Some(key.name.clone()),
            grants: Grants::Only {
                servers: key.servers.clone(),
                tools: key
                    .allowed_tools
                    .iter()
                    .map(|glob| ToolGrant {
                        servers: key.servers.clone(),
                        glob: glob.clone(),
                    })
                    .collect(),
            },
            requests_per_minute: key.requests_per_minute,
        }
    }

    /// An OAuth identity: the token's issuer and subject, and its verified
    /// `claims`, given the union of the access `rules` it matches. A rule
    /// matches when its claim is a string equal to its value or an array
    /// holding it (`scope` is split at spaces; `sub` is the subject). A token
    /// that matches no rule is granted nothing.
    ///
    /// A rule's globs apply to its own servers only, so that a rule for
    /// `weather` with `*` does not open every tool of `github` granted by
    /// another rule.
    ///
    /// ```
    /// use mcp_sigv4::config::AccessRule;
    /// use mcp_sigv4::gateway::{Caller, Grants};
    /// use serde_json::json;
    ///
    /// let rules = [AccessRule::new("groups", "support", vec!["weather".into()], vec!["weather-get_*".into()])];
    /// let claims = json!({"groups": ["support", "staff"]});
    /// let claims = claims.as_object().unwrap();
    /// let caller = Caller::from_claims("https://idp", "u-1", claims, &rules);
    /// assert_eq!(caller.identity, "https://idp u-1");
    /// assert_eq!(caller.rule.as_deref(), Some("groups=support"));
    /// assert!(matches!(caller.grants, Grants::Only { ref servers, .. } if servers == &["weather"]));
    /// ```
    pub fn from_claims(
        iss: &str,
        sub: &str,
        claims: &Map<String, Value>,
        rules: &[AccessRule],
    ) -> Self {
        let mut names = Vec::new();
        let mut servers: Vec<String> = Vec::new();
        let mut tools: Vec<ToolGrant> = Vec::new();
        // A matching rule without a limit is the highest limit of all.
        let mut limits: Vec<Option<u32>> = Vec::new();
        for rule in rules.iter().filter(|rule| holds(claims, sub, rule)) {
            names.push(rule.name());
            for server in &rule.servers {
                if !servers.contains(server) {
                    servers.push(server.clone());
                }
            }
            tools.extend(rule.allowed_tools.iter().map(|glob| ToolGrant {
                servers: rule.servers.clone(),
                glob: glob.clone(),
            }));
            limits.push(rule.requests_per_minute);
        }
        let requests_per_minute = if limits.contains(&None) {
            None
        } else {
            limits.into_iter().flatten().max()
        };
        Self {
            identity: format!("{iss} {sub}"),
            kind: Kind::OAuth,
            rule: (!names.is_empty()).then(|| names.join(",")),
            grants: Grants::Only { servers, tools },
            requests_per_minute,
        }
    }

    /// The name it is counted under in `/metrics`: the key's name or the
    /// rules', `master` or `anonymous`; never an OAuth subject, so that the
    /// label's values stay as few as the configured keys and rules.
    pub fn label(&self) -> &str {
        match (&self.rule, &self.grants) {
            (Some(rule), _) => rule,
            (None, Grants::All) => &self.identity,
            (None, Grants::Only { .. }) => "none",
        }
    }

    /// A digest of the identity and its kind (`master`, `anonymous`,
    /// `key:{name}`, `oauth:{iss} {sub}`), which a sealed session carries to
    /// be refused to any other: a key named like another kind's identity is
    /// still another identity.
    pub(super) fn digest(&self) -> String {
        let bound = match self.kind {
            Kind::Anonymous => "anonymous".to_owned(),
            Kind::Master => "master".to_owned(),
            Kind::Key => format!("key:{}", self.identity),
            Kind::OAuth => format!("oauth:{}", self.identity),
        };
        hex::encode(&Sha256::digest(bound.as_bytes())[..16])
    }
}

impl Grants {
    /// Whether it grants nothing at all (an identity no rule matched).
    pub fn is_nothing(&self) -> bool {
        matches!(self, Grants::Only { servers, .. } if servers.is_empty())
    }

    /// Whether it grants the server `name`.
    pub fn allows_server(&self, name: &str) -> bool {
        match self {
            Grants::All => true,
            Grants::Only { servers, .. } => servers.iter().any(|s| s == name),
        }
    }

    /// Whether it grants `tool` of `server` (the server's own name for it),
    /// its aggregated name being `{server}{separator}{tool}`.
    pub fn allows_tool(&self, server: &str, separator: &str, tool: &str) -> bool {
        match self {
            Grants::All => true,
            Grants::Only { servers, tools } => {
                servers.iter().any(|s| s == server) && {
                    let name = format!("{server}{separator}{tool}");
                    tools.iter().any(|grant| {
                        grant.servers.iter().any(|s| s == server)
                            && WildMatch::new(&grant.glob).matches(&name)
                    })
                }
            }
        }
    }

    /// Whether it lets every tool of every server through.
    pub fn is_all(&self) -> bool {
        matches!(self, Grants::All)
    }
}

/// The grants of the request being answered; none outside a request.
pub(super) fn current_grants() -> Grants {
    CALLER
        .try_with(|caller| caller.grants.clone())
        .unwrap_or(Grants::Only {
            servers: Vec::new(),
            tools: Vec::new(),
        })
}

/// The identity digest of the request being answered (`None` outside one).
pub(super) fn current_digest() -> Option<String> {
    CALLER.try_with(Caller::digest).ok()
}

/// Whether `claims` (or `sub`) hold the rule's value.
fn holds(claims: &Map<String, Value>, sub: &str, rule: &AccessRule) -> bool {
    if rule.claim == "sub" {
        return sub == rule.value;
    }
    match claims.get(&rule.claim) {
        Some(Value::String(text)) if rule.claim == "scope" => {
            text.split_ascii_whitespace().any(|s| s == rule.value)
        }
        Some(Value::String(text)) => *text == rule.value,
        Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(&rule.value)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> &'static Map<String, Value> {
        Box::leak(Box::new(value.as_object().unwrap().clone()))
    }

    fn rule(claim: &str, value: &str, servers: &[&str], tools: &[&str]) -> AccessRule {
        AccessRule::new(
            claim,
            value,
            servers.iter().map(|s| (*s).to_owned()).collect(),
            tools.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    #[test]
    fn claims_match_strings_arrays_scope_and_sub() {
        let rules = [
            rule("groups", "platform", &["github", "weather"], &["*"]),
            rule("groups", "support", &["weather"], &["weather-get_*"]),
            rule("scope", "mcp:admin", &["admin"], &["*"]),
            rule("sub", "robot", &["robots"], &["*"]),
        ];
        let support = Caller::from_claims("i", "u", claims(json!({"groups": "support"})), &rules);
        assert_eq!(support.rule.as_deref(), Some("groups=support"));
        assert!(support.grants.allows_tool("weather", "-", "get_forecast"));
        assert!(!support.grants.allows_tool("weather", "-", "set_alert"));
        assert!(!support.grants.allows_server("github"));

        let scoped = Caller::from_claims(
            "i",
            "u",
            claims(json!({"scope": "openid mcp:admin"})),
            &rules,
        );
        assert!(scoped.grants.allows_server("admin"));
        let robot = Caller::from_claims("i", "robot", claims(json!({})), &rules);
        assert!(robot.grants.allows_server("robots"));
        let nobody = Caller::from_claims(
            "i",
            "u",
            claims(json!({"groups": ["x"], "scope": 3})),
            &rules,
        );
        assert!(nobody.grants.is_nothing());
        assert_eq!(nobody.label(), "none");
    }

    #[test]
    fn a_rule_star_stays_on_its_own_servers() {
        let rules = [
            rule("groups", "a", &["github"], &["*"]),
            rule("groups", "b", &["weather"], &["weather-get_*"]),
        ];
        let both = Caller::from_claims("i", "u", claims(json!({"groups": ["a", "b"]})), &rules);
        assert!(both.grants.allows_tool("github", "-", "anything"));
        assert!(both.grants.allows_tool("weather", "-", "get_x"));
        assert!(!both.grants.allows_tool("weather", "-", "set_x"));
        assert_eq!(both.rule.as_deref(), Some("groups=a,groups=b"));
        assert_eq!(both.label(), "groups=a,groups=b");
    }

    #[test]
    fn a_rule_glob_never_reaches_a_server_whose_name_it_prefixes() {
        let rules = [
            rule("groups", "a", &["git"], &["*"]),
            rule("groups", "b", &["github"], &["github-get_*"]),
        ];
        let both = Caller::from_claims("i", "u", claims(json!({"groups": ["a", "b"]})), &rules);
        assert!(both.grants.allows_tool("git", "-", "push"));
        assert!(both.grants.allows_tool("github", "-", "get_issue"));
        assert!(!both.grants.allows_tool("github", "-", "delete_repo"));
    }

    #[test]
    fn a_key_named_like_another_kind_is_another_identity() {
        let key = |name: &str| NamedKey {
            name: name.to_owned(),
            key_sha256: [0; 32],
            servers: vec!["s".to_owned()],
            allowed_tools: vec!["*".to_owned()],
            requests_per_minute: None,
            expires: None,
        };
        assert_ne!(
            Caller::of_key(&key("master")).digest(),
            Caller::master().digest()
        );
        assert_ne!(
            Caller::of_key(&key("anonymous")).digest(),
            Caller::anonymous().digest()
        );
        let oauth = Caller::from_claims("i", "u", claims(json!({})), &[]);
        assert_eq!(oauth.kind, Kind::OAuth);
        assert_ne!(Caller::of_key(&key("i u")).digest(), oauth.digest());
        assert_eq!(
            Caller::of_key(&key("ci")).digest(),
            Caller::of_key(&key("ci")).digest()
        );
    }

    #[test]
    fn the_highest_limit_wins() {
        let mut slow = rule("groups", "a", &["s"], &["*"]);
        slow.requests_per_minute = Some(10);
        let mut fast = rule("groups", "b", &["s"], &["*"]);
        fast.requests_per_minute = Some(100);
        let caller = Caller::from_claims(
            "i",
            "u",
            claims(json!({"groups": ["a", "b"]})),
            &[slow, fast],
        );
        assert_eq!(caller.requests_per_minute, Some(100));
        let open = rule("groups", "c", &["s"], &["*"]);
        let caller = Caller::from_claims(
            "i",
            "u",
            claims(json!({"groups": ["a", "c"]})),
            &[slow_again(), open],
        );
        assert_eq!(caller.requests_per_minute, None, "no limit is the highest");
    }

    fn slow_again() -> AccessRule {
        let mut slow = rule("groups", "a", &["s"], &["*"]);
        slow.requests_per_minute = Some(10);
        slow
    }
}
