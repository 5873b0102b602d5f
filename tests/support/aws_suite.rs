//! AWS's SigV4 test suite, as shipped in the aws-sigv4 package
//! (`aws-signing-test-suite/v4/`), found through `cargo metadata` at test time.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// One case directory.
#[derive(Debug, Clone)]
pub struct SuiteCase {
    pub name: String,
    pub method: String,
    /// The request line's target, as written in request.txt.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub context: Context,
    pub expected_canonical_request: String,
    pub expected_string_to_sign: Option<String>,
    pub expected_signature: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Context {
    pub credentials: ContextCredentials,
    pub region: String,
    pub service: String,
    pub timestamp: String,
    #[serde(default = "yes")]
    pub normalize: bool,
    #[serde(default)]
    pub sign_body: bool,
    #[serde(default)]
    pub omit_session_token: bool,
}

fn default_context() -> Context {
    Context {
        credentials: ContextCredentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            token: None,
        },
        region: "us-east-1".to_owned(),
        service: "service".to_owned(),
        timestamp: "2015-08-30T12:36:00Z".to_owned(),
        normalize: true,
        sign_body: false,
        omit_session_token: false,
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContextCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: Option<String>,
}

/// The suite's directory; panics (failing the test) when it cannot be found.
pub fn suite_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // Only this platform's packages: the others need not be downloaded.
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
        .arg("-vV")
        .output()
        .expect("running `rustc -vV`");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("`rustc -vV` names no host");
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--filter-platform",
            &host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running `cargo metadata`");
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let manifest = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aws-sigv4")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("aws-sigv4 is not in `cargo metadata`'s packages");
    let dir = Path::new(manifest)
        .parent()
        .unwrap()
        .join("aws-signing-test-suite/v4");
    assert!(
        dir.is_dir(),
        "AWS's SigV4 test suite is not at {}",
        dir.display()
    );
    dir
}

/// Every case, sorted by name.
pub fn load_cases() -> Vec<SuiteCase> {
    let dir = suite_dir();
    let mut cases: Vec<SuiteCase> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("request.txt").is_file())
        .map(|p| load_case(&p))
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn load_case(dir: &Path) -> SuiteCase {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let raw = std::fs::read(dir.join("request.txt")).unwrap();
    let (head, body) = match raw.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&raw[..i], raw[i + 2..].to_vec()),
        None => (&raw[..], Vec::new()),
    };
    let head = String::from_utf8(head.to_vec()).unwrap();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let method = request_line.split(' ').next().unwrap().to_owned();
    let target = request_line[method.len() + 1..]
        .strip_suffix(" HTTP/1.1")
        .unwrap()
        .to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            // Obsolete line folding: the continuation joins the value with a space.
            let last = headers.last_mut().expect("continuation without a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    // Two cases ship without a context: they use the suite's usual one.
    let context: Context = read(&dir.join("context.json"))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or_else(|| {
            let creq = read(&dir.join("header-canonical-request.txt")).unwrap();
            let date = creq
                .lines()
                .find_map(|l| l.strip_prefix("x-amz-date:"))
                .unwrap();
            // 20210511T154045Z -> 2021-05-11T15:40:45Z
            let iso = format!(
                "{}-{}-{}T{}:{}:{}Z",
                &date[0..4],
                &date[4..6],
                &date[6..8],
                &date[9..11],
                &date[11..13],
                &date[13..15]
            );
            // The scope (region, service) from the signed request's Credential.
            let signed = read(&dir.join("header-signed-request.txt")).unwrap_or_default();
            let scope: Vec<&str> = signed
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split(',').next())
                .map(|c| c.split('/').collect())
                .unwrap_or_default();
            let defaults = default_context();
            Context {
                timestamp: iso,
                region: scope
                    .get(2)
                    .map_or(defaults.region.clone(), |r| (*r).to_owned()),
                service: scope
                    .get(3)
                    .map_or(defaults.service.clone(), |s| (*s).to_owned()),
                ..defaults
            }
        });
    SuiteCase {
        name,
        method,
        target,
        headers,
        body,
        context,
        expected_canonical_request: read(&dir.join("header-canonical-request.txt")).unwrap(),
        expected_string_to_sign: read(&dir.join("header-string-to-sign.txt"))
            .map(|s| s.trim_end().to_owned()),
        expected_signature: read(&dir.join("header-signature.txt")).map(|s| s.trim().to_owned()),
    }
}
