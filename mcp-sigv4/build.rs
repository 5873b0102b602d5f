//! Lays out the release binary's code so that a proxy touches little of it.
//!
//! The kernel maps a binary's code into a process in windows of pages around
//! each page the process runs (fault-around), so the resident set of a
//! `mcp-sigv4 proxy` follows how widely its functions are spread over the 16 MB
//! of code that the gateway, `ask` and their dependencies share with it.
//! `link-order.txt` names the functions a proxy session runs over `http://` and
//! `https://`; the linker places them first and together, in an output section
//! of their own, `.text.proxy`, just before `.text`.
//!
//! The names in the list carry no crate hash, so they do not go stale when a
//! dependency, the toolchain or the build profile changes: a Rust symbol is
//! written up to its hash (`_ZN5hyper5proto2h14conn…17h*`), a crate
//! disambiguator of a v0 symbol as `Cs*_`, and aws-lc's version prefix as
//! `aws_lc_*_`. This script turns each name into an input section pattern of a
//! linker script (`*(.text.NAME .text.unlikely.NAME .text.startup.NAME)`, the
//! sections LLVM and GCC give a function), in the list's order, that is
//! inserted before `.text`, so the same list serves the
//! release build (`cargo install`) and the `dist` build of the wheel and npm
//! packages alike. `benches/link_order.py` writes the list from profiled proxy
//! sessions (BENCHMARKS.md), the names that match few functions first: a
//! generic function's name matches all its instances, most of them not the
//! proxy's, so those come last; the `link_order` test in `tests/cli` fails when too
//! few of its names are left in the binary, and `packaging/test.sh` when the
//! shipped binary's `.text.proxy` is too small. A name that matches nothing is
//! skipped, so a list that has drifted costs memory, never correctness.
//!
//! The script is passed only where it is known to be understood: release
//! builds (the `dist` profile inherits release) for `x86_64-unknown-linux-gnu`,
//! whose default linker is the toolchain's LLD, when no other linker was
//! chosen. `MCP_SIGV4_LINK_ORDER=off` turns it off.

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The output section the listed functions go to.
const SECTION: &str = ".text.proxy";

fn main() {
    println!("cargo::rerun-if-changed=link-order.txt");
    println!("cargo::rerun-if-env-changed=MCP_SIGV4_LINK_ORDER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let other_linker = !var("RUSTC_LINKER").is_empty()
        || ["linker", "fuse-ld", "link-self-contained"]
            .iter()
            .any(|flag| var("CARGO_ENCODED_RUSTFLAGS").contains(flag));
    if var("TARGET") != "x86_64-unknown-linux-gnu"
        || var("PROFILE") != "release"
        || other_linker
        || var("MCP_SIGV4_LINK_ORDER") == "off"
    {
        return;
    }
    let list = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    let Ok(text) = std::fs::read_to_string(&list) else {
        return;
    };
    let mut script = format!(
        "/* Written by mcp-sigv4/build.rs from {}. */\nSECTIONS\n{{\n  {SECTION} :\n  {{\n",
        list.display()
    );
    let mut skipped = 0;
    for name in text.lines().map(str::trim) {
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if !is_pattern(name) {
            skipped += 1;
            continue;
        }
        // The prefixes LLVM and GCC give a function's own section; each is a
        // literal, which the linker compares fast.
        let _ = writeln!(
            script,
            "    *(.text.{name} .text.unlikely.{name} .text.startup.{name})"
        );
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    if skipped > 0 {
        println!(
            "cargo::warning=link-order.txt: {skipped} lines are not symbol names and were \
             skipped; regenerate the list with benches/link_order.py"
        );
    }
    let out = PathBuf::from(var("OUT_DIR")).join("proxy-layout.ld");
    if let Err(e) = std::fs::write(&out, script) {
        println!(
            "cargo::warning=the proxy's code layout is off: {} could not be written ({e})",
            out.display()
        );
        return;
    }
    // `-Xlinker` rather than `-Wl,`: a comma in the path would split it.
    println!("cargo::rustc-link-arg-bin=mcp-sigv4=-Xlinker");
    println!(
        "cargo::rustc-link-arg-bin=mcp-sigv4=--script={}",
        out.display()
    );
}

/// Whether `name` can stand in a linker script unquoted: the characters of
/// mangled symbols (legacy and v0) and C names, and `*`. Anything else would
/// end the pattern or the script.
fn is_pattern(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.' | b'*'))
}
