//! `mcp-sigv4/link-order.txt`, the proxy's functions that `build.rs` has the
//! linker place together, still names this program's functions.
//!
//! The list names functions without their crate hashes, so it holds across
//! dependency updates, toolchains and profiles; what makes it drift is the
//! proxy's own code path changing (a module moved, a function renamed). The
//! test binary's `mcp-sigv4` (unoptimised, so every function the release build
//! keeps is there as well) must still have most of the listed names; when it
//! fails, regenerate the list with `benches/link_order.py`.

use std::path::Path;
use std::process::Command;

use wildmatch::WildMatch;

use crate::binary;

/// The share of listed names the binary must have. The list written for this
/// tree finds 99 % (the rest are names only an optimised build has); the list of
/// mangled names it replaced, 21 %.
const MIN_PRESENT: f64 = 0.95;

fn listed() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("link-order.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The names of the functions defined in `binary`, sorted (`nm`, from binutils).
fn functions(binary: &str) -> Vec<String> {
    let out = Command::new("nm")
        .args(["--defined-only", binary])
        .output()
        .unwrap_or_else(|e| panic!("cannot run nm (binutils) on {binary}: {e}"));
    assert!(out.status.success(), "nm {binary} failed");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
            "tTwW".contains(kind).then(|| name.to_owned())
        })
        .collect();
    names.sort();
    names
}

/// Whether any of `names` (sorted) matches `pattern`: only the names that start
/// with the pattern's literal part are tried.
fn present(pattern: &str, names: &[String]) -> bool {
    let literal = pattern.split(['*', '?']).next().unwrap_or_default();
    let start = names.partition_point(|name| name.as_str() < literal);
    let matcher = WildMatch::new(pattern);
    names[start..]
        .iter()
        .take_while(|name| name.starts_with(literal))
        .any(|name| matcher.matches(name))
}

#[test]
fn every_name_is_a_pattern_the_linker_script_can_hold() {
    let listed = listed();
    assert!(
        listed.len() > 500,
        "link-order.txt lists {} names",
        listed.len()
    );
    for name in &listed {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_$.*".contains(&b)),
            "link-order.txt: {name:?} has characters build.rs skips; regenerate the list \
             with benches/link_order.py"
        );
        let hash = name.rfind("17h").map(|at| &name[at + 3..]);
        assert!(
            !hash.is_some_and(|h| h.len() >= 17 && h.bytes().take(16).all(|b| b.is_ascii_hexdigit())),
            "link-order.txt: {name:?} carries a crate hash, which goes stale with any build; \
             write it as `…17h*` (benches/link_order.py does)"
        );
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn the_binary_still_has_the_listed_functions() {
    let listed = listed();
    let names = functions(binary());
    let missing: Vec<&String> = listed.iter().filter(|p| !present(p, &names)).collect();
    let share = 1.0 - missing.len() as f64 / listed.len() as f64;
    assert!(
        share >= MIN_PRESENT,
        "only {:.1} % of the {} names in mcp-sigv4/link-order.txt are functions of {} \
         (at least {:.0} % needed), so the proxy's code is no longer laid out together; \
         regenerate the list with benches/link_order.py. Missing, the first ten: {:#?}",
        share * 100.0,
        listed.len(),
        binary(),
        MIN_PRESENT * 100.0,
        &missing[..missing.len().min(10)]
    );
}
