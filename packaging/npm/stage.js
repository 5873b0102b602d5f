#!/usr/bin/env node
// Lays out the npm packages of `mcp-sigv4` in OUT, ready for `npm pack` or
// `npm publish`: the main package (the launcher) and one platform package
// carrying BINARY.
//
//   node stage.js BINARY OUT [PLATFORM]
//
// PLATFORM is a key of platforms.js (`linux-arm64-musl`, `win32-x64`, ...);
// it defaults to this machine's. The repository's README and LICENSE files go in both.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { PLATFORMS, current } = require("./mcp-sigv4/platforms.js");

const [binary, out, platform = current()] = process.argv.slice(2);
if (!binary || !out) {
  process.stderr.write("usage: node stage.js BINARY OUT [PLATFORM]\n");
  process.exit(2);
}
const fields = PLATFORMS[platform];
if (!fields) {
  process.stderr.write(`unknown platform ${platform}; one of ${Object.keys(PLATFORMS).join(", ")}\n`);
  process.exit(2);
}

const here = __dirname;
const root = path.join(here, "..", "..");
const main = JSON.parse(fs.readFileSync(path.join(here, "mcp-sigv4", "package.json"), "utf8"));
const shared = ["LICENSE-MIT", "LICENSE-APACHE", "README.md"];

const mainOut = path.join(out, "mcp-sigv4");
fs.cpSync(path.join(here, "mcp-sigv4"), mainOut, { recursive: true });
for (const file of shared) fs.copyFileSync(path.join(root, file), path.join(mainOut, file));

const exe = fields.os === "win32" ? "mcp-sigv4.exe" : "mcp-sigv4";
const platformOut = path.join(out, platform);
fs.mkdirSync(path.join(platformOut, "bin"), { recursive: true });
fs.copyFileSync(binary, path.join(platformOut, "bin", exe));
fs.chmodSync(path.join(platformOut, "bin", exe), 0o755);
for (const file of shared) fs.copyFileSync(path.join(root, file), path.join(platformOut, file));
const manifest = {
  name: `@mcp-sigv4/${platform}`,
  version: main.version,
  description: `The ${fields.target} binary of mcp-sigv4 (installed by the mcp-sigv4 package)`,
  license: main.license,
  repository: main.repository,
  os: [fields.os],
  cpu: [fields.cpu],
  ...(fields.libc ? { libc: [fields.libc] } : {}),
  files: [`bin/${exe}`, ...shared],
  preferUnplugged: true,
};
fs.writeFileSync(path.join(platformOut, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
process.stdout.write(`${mainOut}\n${platformOut}\n`);
