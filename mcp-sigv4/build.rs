//! Lays out the release binary's code so that a proxy touches little of it.
//!
//! The kernel maps a binary's code into a process in windows of pages around
//! each page the process runs (fault-around), so the resident set of a
//! `mcp-sigv4 proxy` follows how widely its functions are spread over the 16 MB
//! of code that the gateway, `ask` and their dependencies share with it.
//! `link-order.txt` lists the functions a proxy session runs over `http://` and
//! `https://` (about 2,300, 2.4 MB of code); the linker places them first and
//! together. It is written by `benches/link_order.py` from profiled proxy
//! sessions (BENCHMARKS.md, "The proxy's code laid out together") and only orders
//! sections: a function it names that is not in the binary is skipped, so a
//! stale list costs memory, never correctness.
//!
//! The list is passed only where it is known to be understood: release builds
//! (the `dist` profile inherits release, so the wheel and npm packages have it)
//! for `x86_64-unknown-linux-gnu`, whose default linker is the toolchain's LLD,
//! when no other linker was chosen. `MCP_SIGV4_LINK_ORDER=off` turns it off.

use std::env;

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
    let list = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if !list.is_file() {
        return;
    }
    for arg in [
        format!("-Wl,--symbol-ordering-file={}", list.display()),
        "-Wl,--no-warn-symbol-ordering".to_owned(),
    ] {
        println!("cargo::rustc-link-arg-bin=mcp-sigv4={arg}");
    }
}
