#!/usr/bin/env python3
"""The public API of the tower-sigv4 library, checked against a baseline.

Lists every public path of the crate (modules, types, traits, functions,
constants, enum variants, public fields, inherent methods and associated items,
and the trait impls each type has) from rustdoc's JSON output, built with all
features, and compares the list with .ci/public-api.txt. `tower_sigv4::unstable`
(feature `unstable`, outside semver) is left out.

  .ci/public_api.py           build the JSON, compare, exit 1 on a difference
  .ci/public_api.py --bless   build the JSON and rewrite the baseline

The JSON needs a nightly rustdoc flag, which stable accepts with
RUSTC_BOOTSTRAP=1; the script sets it. It compares names, not signatures: a
changed argument type is not caught here (cargo-semver-checks would).
"""

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".ci" / "public-api.txt"
UNSTABLE = "tower_sigv4::unstable"


def build_json() -> Path:
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    subprocess.run(
        ["cargo", "rustdoc", "-p", "tower-sigv4", "--all-features", "--",
         "-Z", "unstable-options", "--output-format", "json"],
        cwd=ROOT, env=env, check=True,
    )
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(meta.stdout)["target_directory"]) / "doc" / "tower_sigv4.json"


def kind_of(item: dict) -> str:
    inner = item["inner"]
    return next(iter(inner)) if isinstance(inner, dict) else inner


def is_hidden(item: dict) -> bool:
    return "doc(hidden)" in json.dumps(item.get("attrs", [])).replace(" ", "")


class Lister:
    def __init__(self, doc: dict):
        self.index = doc["index"]
        self.root = doc["root"]
        self.lines: set[str] = set()

    def get(self, item_id):
        return self.index.get(str(item_id))

    def add(self, kind: str, path: str, item: dict | None = None) -> None:
        if path.startswith(UNSTABLE):
            return
        hidden = " #[doc(hidden)]" if item is not None and is_hidden(item) else ""
        self.lines.add(f"{kind} {path}{hidden}")

    def module(self, module_id, path: str, seen: frozenset) -> None:
        for child_id in self.get(module_id)["inner"]["module"]["items"]:
            child = self.get(child_id)
            if child is None or child["visibility"] != "public":
                continue
            if kind_of(child) == "use":
                use = child["inner"]["use"]
                target = self.get(use["id"]) if use["id"] is not None else None
                if use["is_glob"]:
                    if target is not None and kind_of(target) == "module":
                        self.module(use["id"], path, seen)
                    else:
                        self.add("use", f"{path}::* (glob of {use['source']})")
                elif target is None:
                    self.add("use", f"{path}::{use['name']} (re-export of {use['source']})")
                else:
                    self.item(target, use["id"], f"{path}::{use['name']}", seen)
            else:
                self.item(child, child_id, f"{path}::{child['name']}", seen)

    def item(self, item: dict, item_id, path: str, seen: frozenset) -> None:
        kind = kind_of(item)
        self.add(kind, path, item)
        if kind == "module":
            if item_id not in seen:
                self.module(item_id, path, seen | {item_id})
            return
        inner = item["inner"][kind]
        if kind == "struct" and isinstance(inner["kind"], dict) and "plain" in inner["kind"]:
            for field_id in inner["kind"]["plain"]["fields"]:
                field = self.get(field_id)
                if field is not None and field["visibility"] == "public":
                    self.add("field", f"{path}::{field['name']}", field)
        if kind == "enum":
            for variant_id in inner["variants"]:
                self.add("variant", f"{path}::{self.get(variant_id)['name']}")
        if kind == "trait":
            for member_id in inner["items"]:
                member = self.get(member_id)
                self.add(kind_of(member), f"{path}::{member['name']}", member)
        if kind in ("struct", "enum", "union"):
            for impl_id in inner["impls"]:
                impl = self.get(impl_id)["inner"]["impl"]
                if impl["trait"] is None:
                    for member_id in impl["items"]:
                        member = self.get(member_id)
                        if member["visibility"] == "public":
                            self.add(kind_of(member), f"{path}::{member['name']}", member)
                elif not impl["is_synthetic"] and impl["blanket_impl"] is None:
                    self.add("impl", f"{impl['trait']['path']} for {path}")

    def run(self) -> list[str]:
        self.item(self.get(self.root), self.root, "tower_sigv4", frozenset())
        return sorted(self.lines)


def main() -> int:
    bless = "--bless" in sys.argv[1:]
    path = build_json()
    doc = json.loads(path.read_text())
    try:
        lines = Lister(doc).run()
    except (KeyError, TypeError) as error:
        print(f"rustdoc JSON format {doc.get('format_version')} is not one this script "
              f"reads (missing {error}); update .ci/public_api.py", file=sys.stderr)
        return 2
    text = "".join(f"{line}\n" for line in lines)
    if bless:
        BASELINE.write_text(text)
        print(f"wrote {len(lines)} public paths to {BASELINE.relative_to(ROOT)}")
        return 0
    baseline = BASELINE.read_text() if BASELINE.exists() else ""
    if text == baseline:
        print(f"public API unchanged: {len(lines)} paths")
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        baseline.splitlines(keepends=True), text.splitlines(keepends=True),
        "baseline (.ci/public-api.txt)", "this tree"))
    print("\nThe public API changed. If that is on purpose, run .ci/public_api.py --bless, "
          "commit .ci/public-api.txt, and add a CHANGELOG line.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
