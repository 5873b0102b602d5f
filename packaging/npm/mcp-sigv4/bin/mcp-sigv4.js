#!/usr/bin/env node
// Runs the `mcp-sigv4` binary of this machine's platform package
// (`@mcp-sigv4/<os>-<cpu>[-<libc>]`, an optional dependency) with the same
// arguments, stdio and exit status. MCP_SIGV4_BINARY names another binary to run.
"use strict";

const { spawn } = require("node:child_process");
const path = require("node:path");
const { PLATFORMS, current } = require("../platforms.js");

function binary() {
  if (process.env.MCP_SIGV4_BINARY) return process.env.MCP_SIGV4_BINARY;
  const platform = current();
  const exe = process.platform === "win32" ? "mcp-sigv4.exe" : "mcp-sigv4";
  if (!PLATFORMS[platform]) {
    fail(
      `mcp-sigv4 has no binary for ${platform} (there are: ${Object.keys(PLATFORMS).join(", ")}); ` +
        "install it with `cargo install mcp-sigv4` and set MCP_SIGV4_BINARY to its path",
    );
  }
  const name = `@mcp-sigv4/${platform}`;
  try {
    return require.resolve(`${name}/bin/${exe}`);
  } catch {
    fail(
      `mcp-sigv4: the package ${name} with this machine's binary is not installed; ` +
        "reinstall without --no-optional / --omit=optional (npm skips optional dependencies when told to), " +
        "or set MCP_SIGV4_BINARY to an mcp-sigv4 binary",
    );
  }
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const child = spawn(binary(), process.argv.slice(2), { stdio: "inherit", windowsHide: true });
// A host stops its server with a signal: pass it on, so the proxy ends its session.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("error", (error) => fail(`mcp-sigv4: cannot run ${path.basename(error.path || "")}: ${error.message}`));
child.on("exit", (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code);
  }
});
