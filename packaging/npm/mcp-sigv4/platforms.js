// The per-platform packages of `mcp-sigv4` and how to pick this machine's one.
// Shared by the launcher (bin/mcp-sigv4.js) and the packaging script (../stage.js).
"use strict";

// Package suffix -> npm's `os`, `cpu` and `libc` fields, and the Rust target it is built from.
const PLATFORMS = {
  "linux-x64-gnu": { os: "linux", cpu: "x64", libc: "glibc", target: "x86_64-unknown-linux-gnu" },
  "linux-x64-musl": { os: "linux", cpu: "x64", libc: "musl", target: "x86_64-unknown-linux-musl" },
  "linux-arm64-gnu": { os: "linux", cpu: "arm64", libc: "glibc", target: "aarch64-unknown-linux-gnu" },
  "linux-arm64-musl": { os: "linux", cpu: "arm64", libc: "musl", target: "aarch64-unknown-linux-musl" },
  "darwin-x64": { os: "darwin", cpu: "x64", target: "x86_64-apple-darwin" },
  "darwin-arm64": { os: "darwin", cpu: "arm64", target: "aarch64-apple-darwin" },
  "win32-x64": { os: "win32", cpu: "x64", target: "x86_64-pc-windows-msvc" },
  "win32-arm64": { os: "win32", cpu: "arm64", target: "aarch64-pc-windows-msvc" },
};

// glibc or musl: Node reports the glibc version it runs on, and nothing on musl.
function libc() {
  const report = process.report && process.report.getReport ? process.report.getReport() : null;
  const header = report && (typeof report === "string" ? JSON.parse(report).header : report.header);
  return header && header.glibcVersionRuntime ? "glibc" : "musl";
}

// This machine's package suffix, e.g. `linux-x64-gnu`.
function current() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== "linux") return base;
  return `${base}-${libc() === "glibc" ? "gnu" : "musl"}`;
}

module.exports = { PLATFORMS, current };
