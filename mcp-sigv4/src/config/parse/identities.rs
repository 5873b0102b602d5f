//! `general_settings.keys` and `general_settings.access`, read into
//! [`NamedKey`]s and [`AccessRule`]s.

use serde_norway::{Mapping, Value};
use sha2::{Digest, Sha256};

use super::{AccessRule, ConfigError, NamedKey, Reader, ServerConfig, ServerReader, kind_of};
use crate::config::access::{now, parse_expiry};

/// The keys of a `general_settings.keys` entry.
const KEY_KEYS: &[&str] = &[
    "key",
    "key_sha256",
    "servers",
    "allowed_tools",
    "requests_per_minute",
    "expires",
];

/// The keys of a `general_settings.access` rule.
const RULE_KEYS: &[&str] = &[
    "claim",
    "value",
    "servers",
    "allowed_tools",
    "requests_per_minute",
];

/// Key names refused: the identities of the master key and of a gateway
/// that asks for no key, which a named key must never pass for.
const RESERVED_NAMES: &[&str] = &["master", "anonymous"];

/// The shortest named key accepted, as for the master key.
const MIN_KEY_LEN: usize = 16;

impl Reader<'_> {
    /// `general_settings.keys`: a mapping of names to entries.
    pub(super) fn keys(
        &self,
        general: &Mapping,
        servers: &[ServerConfig],
    ) -> Result<Vec<NamedKey>, ConfigError> {
        let entries = match general.get("keys") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Mapping(entries)) => entries,
            Some(other) => {
                return Err(self.invalid(
                    Some("general_settings.keys".to_owned()),
                    format!(
                        "expected a mapping of key names to entries (key, servers, allowed_tools); got {}",
                        kind_of(other)
                    ),
                ));
            }
        };
        let mut keys: Vec<NamedKey> = Vec::with_capacity(entries.len());
        for (name, entry) in entries {
            let name = match name {
                Value::String(name) if !name.trim().is_empty() => name.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(self.invalid(
                        Some("general_settings.keys".to_owned()),
                        format!(
                            "key names must be non-empty strings; got {}",
                            kind_of(other)
                        ),
                    ));
                }
            };
            let base = format!("general_settings.keys.{name}");
            if RESERVED_NAMES.contains(&name.as_str()) {
                return Err(self.invalid(
                    Some(base),
                    format!(
                        "`{name}` is the name of the gateway's own identity (master key, or no key asked for); give the key another name"
                    ),
                ));
            }
            let Value::Mapping(map) = entry else {
                return Err(self.invalid(
                    Some(base),
                    format!(
                        "expected a mapping with `key` (or `key_sha256`) and `servers`; got {}",
                        kind_of(entry)
                    ),
                ));
            };
            self.check_keys(map, Some(&base), KEY_KEYS, &[], super::Unknown::Warn);
            let entry = ServerReader {
                reader: self,
                map,
                name: &name,
                base: &base,
                what: "key",
            };
            let key_sha256 = key_digest(&entry)?;
            if let Some(same) = keys.iter().find(|k| k.key_sha256 == key_sha256) {
                return Err(entry.invalid(
                    "key",
                    format!(
                        "is the same key as general_settings.keys.{}; give each entry a key of its own",
                        same.name
                    ),
                ));
            }
            let (servers, allowed_tools) = grants(&entry, servers)?;
            let expires = match entry.plain("expires")? {
                None => None,
                Some(text) => Some(parse_expiry(&text).ok_or_else(|| {
                    entry.invalid(
                        "expires",
                        format!(
                            "expected an RFC 3339 date-time (2027-03-01T00:00:00Z) or a date (2027-03-01); got `{text}`"
                        ),
                    )
                })?),
            };
            if let Some(expires) = expires
                && expires <= now()
            {
                self.notes.borrow_mut().warnings.push(format!(
                    "{}: {base}.expires: the key has expired; it is refused until `expires` is moved on",
                    self.file
                ));
            }
            keys.push(NamedKey {
                requests_per_minute: requests_per_minute(&entry)?,
                name,
                key_sha256,
                servers,
                allowed_tools,
                expires,
            });
        }
        Ok(keys)
    }

    /// `general_settings.access`: a list of rules.
    pub(super) fn access(
        &self,
        general: &Mapping,
        servers: &[ServerConfig],
    ) -> Result<Vec<AccessRule>, ConfigError> {
        let rules = match general.get("access") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Sequence(rules)) => rules,
            Some(other) => {
                return Err(self.invalid(
                    Some("general_settings.access".to_owned()),
                    format!(
                        "expected a list of rules (claim, value, servers, allowed_tools); got {}",
                        kind_of(other)
                    ),
                ));
            }
        };
        let mut read = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let base = format!("general_settings.access[{i}]");
            let Value::Mapping(map) = rule else {
                return Err(self.invalid(
                    Some(base),
                    format!(
                        "expected a mapping with `claim`, `value` and `servers`; got {}",
                        kind_of(rule)
                    ),
                ));
            };
            self.check_keys(map, Some(&base), RULE_KEYS, &[], super::Unknown::Warn);
            let name = i.to_string();
            let entry = ServerReader {
                reader: self,
                map,
                name: &name,
                base: &base,
                what: "access rule",
            };
            let claim = entry.required("claim", "the token claim to match, e.g. groups")?;
            let value = entry.required("value", "the value the claim must hold")?;
            let (servers, allowed_tools) = grants(&entry, servers)?;
            read.push(AccessRule {
                requests_per_minute: requests_per_minute(&entry)?,
                claim,
                value,
                servers,
                allowed_tools,
            });
        }
        Ok(read)
    }
}

/// The entry's `key` (hashed) or `key_sha256`: exactly one of them.
fn key_digest(entry: &ServerReader<'_>) -> Result<[u8; 32], ConfigError> {
    let key = entry.reader.string(
        entry.map,
        &entry.path("key"),
        "key",
        &format!("key `{}`", entry.name),
    )?;
    let hashed = entry.plain("key_sha256")?;
    match (key, hashed) {
        (Some(_), Some(_)) => Err(entry.invalid(
            "key_sha256",
            "give `key` or `key_sha256`, not both",
        )),
        (None, None) => Err(entry.invalid(
            "key",
            "missing; give `key` (e.g. os.environ/CI_BOT_KEY) or `key_sha256` (the hex SHA-256 of the key: `printf %s \"$KEY\" | sha256sum`)",
        )),
        (Some(key), None) => {
            let length = key.trim().len();
            if length < MIN_KEY_LEN {
                return Err(entry.invalid(
                    "key",
                    format!(
                        "has {length} characters; it must have at least {MIN_KEY_LEN}: generate one with `openssl rand -hex 32`"
                    ),
                ));
            }
            Ok(Sha256::digest(key.trim().as_bytes()).into())
        }
        (None, Some(hex_digest)) => {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hex_digest.trim(), &mut digest).map_err(|_| {
                entry.invalid(
                    "key_sha256",
                    "expected 64 hexadecimal digits, the SHA-256 of the key (`printf %s \"$KEY\" | sha256sum`)",
                )
            })?;
            Ok(digest)
        }
    }
}

/// `servers` (each configured) and `allowed_tools` (`*` when absent).
fn grants(
    entry: &ServerReader<'_>,
    configured: &[ServerConfig],
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    let servers = entry.list("servers")?.unwrap_or_default();
    if servers.is_empty() {
        return Err(entry.invalid(
            "servers",
            format!(
                "missing or empty; list the servers this {} may use (of {})",
                entry.what,
                names(configured)
            ),
        ));
    }
    for (i, server) in servers.iter().enumerate() {
        if !configured.iter().any(|s| &s.name == server) {
            return Err(entry.invalid(
                &format!("servers[{i}]"),
                format!(
                    "no server `{}` in mcp_servers; known servers: {}",
                    server.escape_debug(),
                    names(configured)
                ),
            ));
        }
    }
    let tools = entry
        .list("allowed_tools")?
        .unwrap_or_else(|| vec!["*".to_owned()]);
    for (i, glob) in tools.iter().enumerate() {
        if !glob.starts_with('*') && !servers.iter().any(|s| glob.starts_with(s.as_str())) {
            entry.reader.notes.borrow_mut().warnings.push(format!(
                "{}: {}: `{}` can match no tool: globs match {{server}}{{separator}}{{tool}} (e.g. {}-*) of the entry's servers",
                entry.reader.file,
                entry.path(&format!("allowed_tools[{i}]")),
                glob.escape_debug(),
                servers[0],
            ));
        }
    }
    Ok((servers, tools))
}

/// `requests_per_minute`: a whole number of 1 or more.
fn requests_per_minute(entry: &ServerReader<'_>) -> Result<Option<u32>, ConfigError> {
    let Some(text) = entry.plain("requests_per_minute")? else {
        return Ok(None);
    };
    match text.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(entry.invalid(
            "requests_per_minute",
            format!(
                "expected a whole number of 1 or more (leave it out for no limit); got `{text}`"
            ),
        )),
    }
}

fn names(servers: &[ServerConfig]) -> String {
    servers
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
