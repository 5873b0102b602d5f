//! The README and `docs/` say what the program does: every page is compiled as a
//! doctest, the configuration page's YAML loads, every flag they name is one
//! that the command's `--help` lists, and their `explain` lines run as printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_sigv4::config::Config;

use crate::binary;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// The pages under `docs/`, as `docs/NAME.md`.
fn pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "docs/ has no pages");
    pages
}

/// The fenced code blocks of `text` whose info string starts with `lang`, each
/// without the indentation of its fence (a block inside a list item).
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut found = Vec::new();
    // The open block: its fence's indentation, and its text when `lang` matched.
    let mut open: Option<(usize, Option<String>)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                let wanted = !info.is_empty() && info.starts_with(lang);
                open = Some((indent, wanted.then(String::new)));
            }
            (Some((_, block)), Some(_)) => {
                found.extend(block.take());
                open = None;
            }
            (Some((fence_indent, Some(block))), None) => {
                let cut = indent.min(*fence_indent);
                block.push_str(&line[cut..]);
                block.push('\n');
            }
            (Some((_, None)), None) | (None, None) => {}
        }
    }
    found
}

/// `mcp-sigv4 COMMAND --help` (the top-level help for "").
pub(crate) fn help(command: &str) -> String {
    let args: Vec<&str> = if command.is_empty() {
        vec!["--help"]
    } else {
        vec![command, "--help"]
    };
    let output = Command::new(binary()).args(&args).output().unwrap();
    assert!(output.status.success(), "mcp-sigv4 {command} --help failed");
    String::from_utf8(output.stdout).unwrap()
}

/// The `--flag` words of `text` (a flag ends at anything but a letter, digit or `-`).
pub(crate) fn flags(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("--") {
        let before = rest[..at].chars().last();
        let flag: String = rest[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if before.is_none_or(|c| c.is_whitespace() || c == '`' || c == '(' || c == '[')
            && flag.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        {
            found.push(format!("--{flag}"));
        }
        rest = &rest[at + 2 + flag.len()..];
    }
    found
}

#[test]
fn every_docs_page_is_compiled_as_a_doctest() {
    let harnesses = read("src/lib.rs") + &read("mcp-sigv4/src/lib.rs");
    for page in pages() {
        let name = page.trim_start_matches("docs/");
        assert!(
            harnesses.contains(&format!("docs/{name}\")")),
            "{page} is in no doctest harness: add `#[doc = include_str!(\"../../{page}\")]` \
             to `docs_pages` in mcp-sigv4/src/lib.rs (or, for a library page, beside \
             `ReadmeDoctests` in src/lib.rs)"
        );
    }
}

#[test]
fn the_configuration_pages_yaml_loads() {
    let page = read("docs/configuration.md");
    let yaml = blocks(&page, "yaml");
    assert_eq!(
        yaml.len(),
        1,
        "docs/configuration.md should show the file once"
    );
    // Every `os.environ/VAR` gets a value of its kind, long enough for any secret.
    let config = Config::from_yaml(&yaml[0], "docs/configuration.md", |name| {
        Some(if name.ends_with("ROLE_ARN") {
            "arn:aws:iam::123456789012:role/McpSigner".to_owned()
        } else {
            "a-value-long-enough-for-any-secret-0123456789".to_owned()
        })
    })
    .unwrap_or_else(|e| panic!("docs/configuration.md's YAML does not load: {e}"));
    assert!(
        config.warnings.is_empty(),
        "warnings: {:?}",
        config.warnings
    );
    assert_eq!(config.servers.len(), 3);
}

/// The gateway's YAML, the `auth_type` list and `session_secret`'s explanation
/// are each said on one page.
#[test]
fn each_subject_is_said_once() {
    let mut texts = vec![("README.md".to_owned(), read("README.md"))];
    texts.extend(pages().into_iter().map(|page| (page.clone(), read(&page))));
    let mut yaml_pages = Vec::new();
    let mut auth_type_lists = Vec::new();
    let mut secret_lengths = Vec::new();
    for (page, text) in &texts {
        if blocks(text, "yaml")
            .iter()
            .any(|b| b.contains("mcp_servers:"))
        {
            yaml_pages.push(page.clone());
        }
        auth_type_lists.extend(
            text.matches("`api_key` (`x-api-key`)")
                .map(|_| page.clone()),
        );
        secret_lengths.extend(text.matches("at least 32 characters").map(|_| page.clone()));
    }
    assert_eq!(yaml_pages, ["docs/configuration.md"]);
    assert_eq!(auth_type_lists, ["docs/configuration.md"]);
    assert_eq!(secret_lengths, ["docs/configuration.md"]);
}

/// Every flag a page names is one the commands it describes list in `--help`;
/// every `mcp-sigv4 COMMAND …` line of a code block uses that command's flags.
#[test]
fn every_flag_the_docs_name_is_in_help() {
    let commands = [
        "proxy",
        "gateway",
        "ask",
        "sign",
        "explain",
        "probe",
        "lambda",
        "agent-schema",
    ];
    let helps: BTreeMap<&str, String> = commands
        .iter()
        .map(|c| (*c, help(c)))
        .chain([("", help(""))])
        .collect();
    let page_commands: &[(&str, &[&str])] = &[
        ("docs/proxy.md", &["proxy"]),
        ("docs/gateway.md", &["gateway"]),
        ("docs/security.md", &["gateway"]),
        ("docs/ask.md", &["ask"]),
        ("docs/troubleshooting-403.md", &["explain", "sign"]),
        ("docs/operating.md", &["proxy", "gateway", "ask", "probe"]),
        ("docs/bedrock-agents.md", &["lambda", "agent-schema"]),
    ];
    let mut missing = Vec::new();
    for (page, of) in page_commands {
        let text = read(page);
        // Inline code that starts with a flag: `--flag` or `--flag VALUE`.
        for span in text.split('`').skip(1).step_by(2) {
            let Some(flag) = flags(span).into_iter().next() else {
                continue;
            };
            if span.starts_with("--") && !of.iter().any(|c| helps[c].contains(&flag)) {
                missing.push(format!(
                    "{page}: `{flag}` is not in `{}` --help",
                    of.join("|")
                ));
            }
        }
    }
    let mut all = vec!["README.md".to_owned()];
    all.extend(pages());
    for page in all {
        let text = read(&page);
        for block in blocks(&text, "sh") {
            for command in block.replace("\\\n", " ").lines() {
                let Some(at) = command.find("mcp-sigv4 ") else {
                    continue;
                };
                let words: Vec<&str> = command[at..].split_whitespace().collect();
                let Some(name) = words.get(1).filter(|w| commands.contains(w)) else {
                    continue;
                };
                for flag in flags(&words[2..].join(" ")) {
                    if !helps[name].contains(&flag) {
                        missing.push(format!(
                            "{page}: `mcp-sigv4 {name} {flag}` is not in its --help"
                        ));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// `gateway --help` lists every route the gateway serves (docs/gateway.md has them
/// in full), and the top-level help points at nothing unpublished.
#[test]
fn help_lists_every_route_and_no_unpublished_page() {
    let gateway = help("gateway");
    for route in [
        "/mcp/{server}",
        "/{server}/mcp",
        "/mcp-rest/tools/list",
        "/mcp-rest/tools/call",
        "/v1/mcp/server",
        "GET /health ",
        "/health/readiness",
        "/metrics",
    ] {
        assert!(
            gateway.contains(route),
            "gateway --help does not list {route}"
        );
        assert!(read("docs/gateway.md").contains(route.trim_start_matches("GET ").trim()));
    }
    assert!(
        !help("").contains("docs.rs"),
        "the crates are not on crates.io yet"
    );
}

/// Every `mcp-sigv4 explain` line of the README and of the 403 page runs as
/// printed, with only the block's own `export` lines in its environment: none
/// is a placeholder that `explain` refuses (exit 2), and a `--compare` line
/// names a difference (exit 1).
#[test]
fn the_explain_lines_of_the_readme_and_the_403_page_run_as_printed() {
    let dir = Path::new(binary()).parent().unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.display());
    let mut ran = 0;
    for page in ["README.md", "docs/troubleshooting-403.md"] {
        for block in blocks(&read(page), "sh") {
            let block = block.replace("\\\n", " ");
            let exports: Vec<&str> = block
                .lines()
                .filter(|l| l.trim_start().starts_with("export "))
                .collect();
            for line in block.lines().filter(|l| l.contains("mcp-sigv4 explain ")) {
                let script = [exports.as_slice(), &[line]].concat().join("\n");
                let output = Command::new("sh")
                    .args(["-c", &script])
                    .env_clear()
                    .env("PATH", &path)
                    .env("HOME", dir)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&output.stdout);
                let stderr = String::from_utf8_lossy(&output.stderr);
                let expected = if line.contains("--compare") { 1 } else { 0 };
                assert_eq!(
                    output.status.code(),
                    Some(expected),
                    "{page}: `{line}` exited {:?}: {stderr}",
                    output.status.code()
                );
                if expected == 1 {
                    assert!(stdout.contains("differs"), "{page}: `{line}`: {stdout}");
                }
                ran += 1;
            }
        }
    }
    // The README's line, and the 403 page's two.
    assert_eq!(ran, 3);
}
