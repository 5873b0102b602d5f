//! No import circles: the modules of `mcp-sigv4` (and of the `tower-sigv4`
//! library beside it) depend one way.
//!
//! Each source file is a module. A file depends on another when it names it in a
//! path that starts with `crate::`, `super::` or `self::` (in a `use` line or in
//! code). A module's own files are its contents, not its dependencies: a
//! `mod.rs` that re-exports or calls its files adds no edge. A circle between
//! two files means one of them holds something that belongs in another room;
//! the test prints each circle it finds, e.g.
//! `gateway::aggregate -> gateway::modern -> gateway::aggregate`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Circles kept on purpose: tower's pairing of a middleware's files, where
/// `SigV4::layer()` gives a `SigV4Layer`, whose `Layer` impl gives a `SigV4`, and
/// `SigV4Layer::builder()` gives the `SigV4Builder` that builds the layer.
const TOWER_PAIRS: &[&[&str]] = &[
    &["sign::builder", "sign::layer", "sign::builder"],
    &["sign::layer", "sign::service", "sign::layer"],
];

#[test]
fn the_application_has_no_import_circles() {
    assert_no_circles("mcp-sigv4/src", &graph_of("src"), &[]);
}

/// The house reads: front-ends, then the relay, the gateway and `ask`, then
/// `upstream`, then `protocol`, with `config` beside them; a room imports only
/// rooms below it.
#[test]
fn the_applications_rooms_have_no_import_circles() {
    assert_no_circles("the rooms of mcp-sigv4/src", &graph_of("src").rooms(), &[]);
}

/// `config` parses (typed values out) and `protocol` states the protocol's
/// rules: neither imports another room of the application, but for the
/// wording of errors in flags and config keys (`advice`), which parse errors
/// share with every command, and which itself reads only `aws_profile`.
#[test]
fn config_and_protocol_import_no_other_room() {
    let rooms = graph_of("src").rooms();
    for (room, allowed) in [
        ("config", &["advice"][..]),
        ("protocol", &[]),
        ("advice", &["aws_profile"]),
    ] {
        let imports = rooms
            .edges
            .get(room)
            .unwrap_or_else(|| panic!("no room `{room}` in mcp-sigv4/src"));
        let extra: Vec<_> = imports
            .iter()
            .filter(|name| !allowed.contains(&name.as_str()))
            .collect();
        assert!(extra.is_empty(), "`{room}` imports {extra:?}");
    }
}

#[test]
fn the_library_has_no_import_circles_but_towers_layer_and_service_pairs() {
    assert_no_circles("src", &graph_of("../src"), TOWER_PAIRS);
}

#[test]
fn a_circle_is_found_and_printed() {
    let files = [
        (
            "gateway/mod.rs",
            "mod modern; mod aggregate; pub use aggregate::X;",
        ),
        (
            "gateway/aggregate.rs",
            "use super::modern::{Cache, Via};\nfn f() {}",
        ),
        (
            "gateway/modern.rs",
            // Through the re-export in mod.rs; comments, strings and the
            // file's own test module add nothing.
            "// use super::nothing;\nconst S: &str = \"crate::nothing\";\n\
             fn g() { super::X(); }\n\
             #[cfg(test)]\nmod tests { use super::*; }",
        ),
        ("gateway/lists.rs", "use super::modern::Cache;"),
    ];
    let graph = Graph::from_files(
        files
            .iter()
            .map(|(path, text)| (PathBuf::from(path), (*text).to_owned())),
    );
    let circles = graph.circles();
    assert_eq!(
        circles,
        vec![vec![
            "gateway::aggregate".to_owned(),
            "gateway::modern".to_owned(),
            "gateway::aggregate".to_owned(),
        ]],
        "{graph:?}"
    );
}

/// The graph of the source tree at `src`, relative to this package.
fn graph_of(src: &str) -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    assert!(!files.is_empty(), "no source files under {}", src.display());
    Graph::from_files(files)
}

fn assert_no_circles(tree: &str, graph: &Graph, allowed: &[&[&str]]) {
    let circles: Vec<Vec<String>> = graph
        .circles()
        .into_iter()
        .filter(|circle| !allowed.iter().any(|allowed| circle == allowed))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles in {tree} (move what one side uses to the room both may import):\n{}",
        circles
            .iter()
            .map(|circle| format!("  {}", circle.join(" -> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn read_tree(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(root, &path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let relative = path.strip_prefix(root).expect("under the root").to_owned();
            files.push((relative, text));
        }
    }
}

/// Modules (one per file, `a::b`; the crate root has the empty name) and the
/// modules each depends on.
#[derive(Debug)]
struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn from_files(files: impl IntoIterator<Item = (PathBuf, String)>) -> Self {
        let files: Vec<(String, Vec<Named>)> = files
            .into_iter()
            .map(|(path, text)| (module_of(&path), paths(&strip(&text))))
            .collect();
        let modules: BTreeSet<String> = files.iter().map(|(module, _)| module.clone()).collect();
        // Where each `pub use` of a module leads: `error::BoxError` in `lib.rs`
        // makes `crate::BoxError` a use of `error`.
        let mut reexports = BTreeMap::new();
        for (module, named) in &files {
            for Named {
                inline,
                path,
                reexport,
            } in named
            {
                let Some(name) = reexport.as_ref().filter(|_| inline.is_empty()) else {
                    continue;
                };
                let here = segments(module);
                let absolute = match path.first().map(String::as_str) {
                    Some("crate" | "super" | "self") => resolve(&here, path),
                    Some(first) if modules.contains(&join(&here, first)) => {
                        resolve(&here, &[&["self".to_owned()], path.as_slice()].concat())
                    }
                    _ => None,
                };
                if let Some(absolute) = absolute {
                    reexports.insert((module.clone(), name.clone()), absolute);
                }
            }
        }
        let mut edges = BTreeMap::new();
        for (module, named) in &files {
            let targets: BTreeSet<String> = named
                .iter()
                .filter(|named| {
                    named
                        .path
                        .first()
                        .is_some_and(|s| matches!(s.as_str(), "crate" | "super" | "self"))
                })
                .filter_map(|Named { inline, path, .. }| {
                    let mut here: Vec<&str> = segments(module);
                    here.extend(inline.iter().map(String::as_str));
                    resolve(&here, path)
                })
                .map(|path| target(&modules, &reexports, path))
                .filter(|target| !contains(module, target))
                .collect();
            edges.insert(module.clone(), targets);
        }
        Self { edges }
    }

    /// The graph of the rooms (top-level modules): a room imports another when
    /// one of its files imports one of the other's.
    fn rooms(&self) -> Graph {
        let room = |module: &str| module.split("::").next().unwrap_or_default().to_owned();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, targets) in &self.edges {
            let from = room(from);
            let targets: Vec<String> = targets
                .iter()
                .map(|target| room(target))
                .filter(|target| *target != from)
                .collect();
            edges.entry(from).or_default().extend(targets);
        }
        Graph { edges }
    }

    /// Every elementary circle, each once, starting at its smallest module.
    fn circles(&self) -> Vec<Vec<String>> {
        let mut found = BTreeSet::new();
        for start in self.edges.keys() {
            let mut path = vec![start.clone()];
            self.walk(start, &mut path, &mut found);
        }
        found.into_iter().collect()
    }

    fn walk(&self, start: &str, path: &mut Vec<String>, found: &mut BTreeSet<Vec<String>>) {
        let last = path.last().expect("a path").clone();
        for next in self.edges.get(&last).into_iter().flatten() {
            if next == start {
                let mut circle = path.clone();
                circle.push(start.to_owned());
                found.insert(circle);
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                self.walk(start, path, found);
                path.pop();
            }
        }
    }
}

fn module_of(path: &Path) -> String {
    let mut parts: Vec<String> = path
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().expect("a file name");
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts.join("::")
}

fn segments(module: &str) -> Vec<&str> {
    module.split("::").filter(|s| !s.is_empty()).collect()
}

/// Whether `target` is `module` itself or one of its files.
fn contains(module: &str, target: &str) -> bool {
    module.is_empty() || target == module || target.starts_with(&format!("{module}::"))
}

/// The module an absolute path leads to, through re-exports.
fn target(
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<(String, String), Vec<String>>,
    mut path: Vec<String>,
) -> String {
    // Bounded: a re-export that leads back to itself is a compile error anyway.
    for _ in 0..16 {
        let (module, depth) = longest_module(modules, &path);
        match path
            .get(depth)
            .and_then(|name| reexports.get(&(module.clone(), name.clone())))
        {
            Some(next) => path = [next.as_slice(), &path[depth + 1..]].concat(),
            None => return module,
        }
    }
    longest_module(modules, &path).0
}

/// The longest prefix of `path` that is a module, and its length.
fn longest_module(modules: &BTreeSet<String>, path: &[String]) -> (String, usize) {
    (0..=path.len())
        .rev()
        .map(|n| (path[..n].join("::"), n))
        .find(|(candidate, _)| modules.contains(candidate))
        .unwrap_or_default()
}

fn join(here: &[&str], name: &str) -> String {
    here.iter()
        .copied()
        .chain([name])
        .collect::<Vec<_>>()
        .join("::")
}

/// The absolute path `path` (starting with `crate`, `super` or `self`) names
/// from inside `here`; `None` past the crate root.
fn resolve(here: &[&str], path: &[String]) -> Option<Vec<String>> {
    let mut absolute: Vec<String> = here.iter().map(|s| (*s).to_owned()).collect();
    let mut rest = path.iter().peekable();
    match rest.peek().map(|s| s.as_str()) {
        Some("crate") => {
            absolute.clear();
            rest.next();
        }
        Some("self") => {
            rest.next();
        }
        _ => {}
    }
    while rest.peek().is_some_and(|s| *s == "super") {
        absolute.pop()?;
        rest.next();
    }
    absolute.extend(rest.filter(|s| *s != "self").cloned());
    Some(absolute)
}

/// Source text without comments, string literals and character literals, so
/// that only code is read.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && (i == 0 || !ident(chars[i - 1]))
            && raw_string_hashes(&chars[i + if c == 'b' { 2 } else { 1 }..]).is_some()
        {
            i += if c == 'b' { 2 } else { 1 };
            let hashes = raw_string_hashes(&chars[i..]).expect("checked");
            i += hashes + 1;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < chars.len() && !chars[i..].starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// How many `#` open the raw string at the start of `chars` (`"`, `#"`, ...).
fn raw_string_hashes(chars: &[char]) -> Option<usize> {
    let hashes = chars.iter().take_while(|c| **c == '#').count();
    (chars.get(hashes) == Some(&'"')).then_some(hashes)
}

/// One path named in a file.
#[derive(Debug)]
struct Named {
    /// The inline modules (`mod tests { .. }`) it sits in.
    inline: Vec<String>,
    /// As written: `super::modern::Cache`, or `error::Error` in a `use` line.
    path: Vec<String>,
    /// For a `pub use` (of any visibility), the name it is re-exported as.
    reexport: Option<String>,
}

/// Every path in `code` that starts with `crate`, `super` or `self`, and every
/// path of a `use` line; `use` trees are expanded.
fn paths(code: &str) -> Vec<Named> {
    let tokens = tokenize(code);
    let mut found = Vec::new();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let inside = || {
            inline
                .iter()
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
        };
        match tokens[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                inline.push((tokens[i + 1].clone(), depth));
            }
            // Not `impl Trait + use<'a>`, a precise capture.
            "use" if tokens.get(i + 1).is_some_and(|t| t != "<") => {
                let public = i > 0
                    && (tokens[i - 1] == "pub"
                        || (tokens[i - 1] == ")"
                            && tokens[..i].iter().rev().nth(3).is_some_and(|t| t == "pub")));
                let end = tokens[i..]
                    .iter()
                    .position(|t| t == ";")
                    .map_or(tokens.len(), |n| i + n);
                let mut trees = Vec::new();
                use_tree(&tokens[i + 1..end], Vec::new(), &mut trees);
                let here = inside();
                found.extend(trees.into_iter().map(|(path, name)| Named {
                    inline: here.clone(),
                    path,
                    reexport: name.filter(|_| public),
                }));
                i = end;
                continue;
            }
            "crate" | "super" | "self"
                if tokens.get(i + 1).is_some_and(|t| t == "::")
                    && (i == 0 || tokens[i - 1] != "::") =>
            {
                let mut path = vec![tokens[i].clone()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(t))
                {
                    path.push(tokens[j + 1].clone());
                    j += 2;
                }
                found.push(Named {
                    inline: inside(),
                    path,
                    reexport: None,
                });
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The paths of one `use` tree (`super::{a, b::{c as d}}`), from `prefix`, each
/// with the name it brings in (none for a glob).
fn use_tree(tokens: &[String], prefix: Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let mut path = prefix;
    let mut name = None;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i].as_str() {
            "{" => {
                let close = matching(tokens, i);
                for group in split_top(&tokens[i + 1..close]) {
                    use_tree(group, path.clone(), out);
                }
                return;
            }
            "as" => {
                name = tokens.get(i + 1).cloned();
                break;
            }
            "*" => {
                out.push((path, None));
                return;
            }
            token if is_ident(token) => path.push(token.to_owned()),
            _ => {}
        }
        i += 1;
    }
    if let Some(last) = path.last() {
        let name = name.unwrap_or_else(|| last.clone());
        out.push((path, Some(name)));
    }
}

fn matching(tokens: &[String], open: usize) -> usize {
    let (o, c) = match tokens[open].as_str() {
        "(" => ("(", ")"),
        _ => ("{", "}"),
    };
    let mut depth = 0;
    for (n, token) in tokens.iter().enumerate().skip(open) {
        if token == o {
            depth += 1;
        } else if token == c {
            depth -= 1;
            if depth == 0 {
                return n;
            }
        }
    }
    tokens.len()
}

fn split_top(tokens: &[String]) -> Vec<&[String]> {
    let mut groups = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (n, token) in tokens.iter().enumerate() {
        match token.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "," if depth == 0 => {
                groups.push(&tokens[start..n]);
                start = n + 1;
            }
            _ => {}
        }
    }
    groups.push(&tokens[start..]);
    groups.into_iter().filter(|g| !g.is_empty()).collect()
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".to_owned());
            i += 2;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}
