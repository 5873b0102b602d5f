//! Action-group function names for MCP tools, and back.
//!
//! Bedrock Agents takes a function name of the form `([0-9a-zA-Z][_-]?){1,100}`
//! (the `bedrock-agent` service model's `Function.name`): letters and digits,
//! a single `_` or `-` between them, nothing else. Models such as Claude see an
//! action-group function as the tool `{actionGroup}__{function}` (and an OpenAPI
//! operation as `{httpVerb}__{actionGroup}__{apiName}`), and take tool names only
//! within `^[a-zA-Z0-9_-]{1,64}$`, so a mapped name is also kept within
//! [`MAX_FUNCTION_NAME`] characters, leaving room for the action group's name.
//!
//! The mapping is a pure function of the server's and the tool's names, so the
//! Lambda and `agent-schema` agree on it across cold starts without sharing
//! state:
//!
//! - a tool name that already follows the rule and fits is kept;
//! - otherwise each run of other characters becomes one `_`, separators at the
//!   start are dropped, and `_` plus 8 hex digits of the SHA-256 of the original
//!   name are appended, so two names that clean up alike stay apart
//!   (`get.weather` → `get_weather_1a2b3c4d`, while `get_weather` is kept);
//! - a name still too long keeps its start and ends with that hash;
//! - with several servers, every name is `{server}-{tool}`, each part mapped
//!   this way (the server's part without a hash when it follows the rule).

use sha2::{Digest, Sha256};

/// The longest function name this mapping produces: 64 (the model's tool-name
/// limit) less `delete__` and `__` around an action group name of up to 18
/// characters.
pub const MAX_FUNCTION_NAME: usize = 36;

/// Between the server's part and the tool's in a name with several servers.
pub const SEPARATOR: char = '-';

/// The action-group function name of `tool` on `server`; `prefixed` when the
/// action group serves several servers.
pub fn function_name(server: &str, tool: &str, prefixed: bool) -> String {
    if !prefixed {
        return fit(tool, MAX_FUNCTION_NAME);
    }
    let prefix = server_prefix(server);
    let room = MAX_FUNCTION_NAME - prefix.len();
    format!("{prefix}{}", fit(tool, room))
}

/// What every function name of `server` starts with when the action group
/// serves several servers: its mapped name (at most half the length, so the
/// tool keeps a readable part) and [`SEPARATOR`].
pub fn server_prefix(server: &str) -> String {
    let part = fit(server, MAX_FUNCTION_NAME / 2);
    format!("{}{SEPARATOR}", part.trim_end_matches(['_', '-']))
}

/// Whether `name` follows Bedrock Agents' function-name rule
/// (`([0-9a-zA-Z][_-]?){1,100}`) and this mapping's length limit.
pub fn is_valid(name: &str) -> bool {
    name.len() <= MAX_FUNCTION_NAME && follows_rule(name)
}

/// Whether `name` matches the `bedrock-agent` service model's `Name` pattern,
/// `([0-9a-zA-Z][_-]?){1,100}`, as a whole: the rule for function and
/// parameter names. Each group is one letter or digit and at most one `_` or
/// `-` after it, so a name starts with a letter or digit, never has two
/// separators in a row, and has 1 to 100 letters and digits (up to 200
/// characters with the separators).
pub fn follows_rule(name: &str) -> bool {
    let bytes = name.as_bytes();
    let groups = bytes.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    (1..=100).contains(&groups)
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        && !bytes
            .windows(2)
            .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
}

/// `name` as a valid name of at most `max` characters (`max` ≥ 10).
fn fit(name: &str, max: usize) -> String {
    if is_valid(name) && name.len() <= max {
        return name.to_owned();
    }
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    let cleaned = clean(name);
    let keep = max - hash.len() - 1;
    // `cleaned` is ASCII, so any byte index is a char boundary.
    let start = cleaned[..cleaned.len().min(keep)].trim_end_matches(['_', '-']);
    if start.is_empty() {
        format!("t_{hash}")
    } else {
        format!("{start}_{hash}")
    }
}

/// Letters and digits kept, every run of anything else one `_`, no separator
/// first.
fn clean(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(['_', '-']) {
            out.push(if c == '-' { '-' } else { '_' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_short_name_is_kept() {
        assert_eq!(function_name("s", "get_weather", false), "get_weather");
        assert_eq!(function_name("s", "lookup-1", false), "lookup-1");
    }

    #[test]
    fn a_name_that_breaks_the_rule_is_cleaned_and_hashed() {
        let mapped = function_name("s", "get.weather", false);
        assert!(mapped.starts_with("get_weather_"), "{mapped}");
        assert!(is_valid(&mapped));
        assert_ne!(mapped, function_name("s", "get weather", false));
        assert_ne!(mapped, "get_weather");
        // Consecutive separators and a leading one are not allowed.
        assert!(is_valid(&function_name("s", "__init__", false)));
        assert!(is_valid(&function_name("s", "wetter-ä", false)));
        assert!(is_valid(&function_name("s", "", false)));
        assert!(is_valid(&function_name("s", "ééé", false)));
    }

    #[test]
    fn the_rule_counts_letters_and_digits_not_characters() {
        assert!(follows_rule(&"a".repeat(100)));
        assert!(!follows_rule(&"a".repeat(101)));
        assert!(follows_rule(&"a_".repeat(100)));
        assert!(!follows_rule("") && !follows_rule("_a") && !follows_rule("a__b"));
        assert!(follows_rule("a-"));
    }

    #[test]
    fn the_mapping_is_stable() {
        assert_eq!(
            function_name("alpha", "a.b", true),
            function_name("alpha", "a.b", true)
        );
    }

    #[test]
    fn several_servers_prefix_the_server() {
        assert_eq!(function_name("alpha", "search", true), "alpha-search");
        let long = function_name(&"s".repeat(50), &"t".repeat(50), true);
        assert!(is_valid(&long), "{long}");
        assert!(is_valid(&function_name("a_", "b", true)));
    }

    #[test]
    fn long_names_are_cut_and_stay_distinct() {
        let a = function_name("s", &format!("{}a", "x".repeat(80)), false);
        let b = function_name("s", &format!("{}b", "x".repeat(80)), false);
        assert!(is_valid(&a) && is_valid(&b), "{a} {b}");
        assert_ne!(a, b);
    }
}
