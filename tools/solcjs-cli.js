#!/usr/bin/env node
// A `solc`-compatible command line backed by solc-js (the same compiler, built to WebAssembly).
//
// py-solc-x / ape-solidity, forge and Slither call a native `solc`. Native solc cannot be downloaded
// on machines that reach only the npm/PyPI registries, so `make setup` links this script as
// `$SOLCX_BINARY_PATH/solc-v<version>` (only when no native binary is already there).
//
// Supported:
//   --version                              prints "Version: <x.y.z+commit...>" like native solc
//   --standard-json [file]                 Standard JSON in (stdin or file) -> Standard JSON out
//   --base-path DIR, --include-path DIR    import roots (repeatable), as in native solc
//   --allow-paths a,b                      accepted; solc-js reads through the import callback
//   --combined-json abi,bin,...  files     (Slither) with prefix=target remappings and
//   --optimize, --optimize-runs N, --evm-version V, --via-ir
//
// Output is written with a callback before exiting: a plain process.exit() after a large
// stdout.write() to a pipe truncates the output at 64 KiB.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

function fail(message) {
  process.stderr.write(`solcjs-cli: ${message}\n`);
  process.exitCode = 1;
}

function writeAndFinish(text) {
  process.stdout.write(text, () => {
    process.exitCode = process.exitCode || 0;
  });
}

function parseArgs(argv) {
  const opts = {
    basePath: "",
    includePaths: [],
    remappings: [],
    files: [],
    combined: null,
    standardJson: false,
    version: false,
    optimize: false,
    optimizeRuns: 200,
    evmVersion: null,
    viaIR: false,
  };
  const takesValue = new Set([
    "--base-path",
    "--include-path",
    "--allow-paths",
    "--combined-json",
    "--optimize-runs",
    "--evm-version",
  ]);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value = null;
    if (arg.startsWith("--") && arg.includes("=")) {
      [arg, value] = [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)];
    } else if (takesValue.has(arg)) {
      value = argv[++i];
    }
    switch (arg) {
      case "--version":
        opts.version = true;
        break;
      case "--standard-json":
        opts.standardJson = true;
        break;
      case "--base-path":
        opts.basePath = value;
        break;
      case "--include-path":
        opts.includePaths.push(value);
        break;
      case "--allow-paths":
        break;
      case "--combined-json":
        opts.combined = value.split(",");
        break;
      case "--optimize":
        opts.optimize = true;
        break;
      case "--optimize-runs":
        opts.optimizeRuns = parseInt(value, 10);
        break;
      case "--evm-version":
        opts.evmVersion = value;
        break;
      case "--via-ir":
        opts.viaIR = true;
        break;
      case "--no-color":
      case "--pretty-json":
        break;
      default:
        if (arg.startsWith("--")) {
          // Unknown flags are ignored rather than fatal, like most callers expect of solc.
          break;
        }
        if (arg.includes("=") && !fs.existsSync(arg)) {
          opts.remappings.push(arg);
        } else {
          opts.files.push(arg);
        }
    }
  }
  return opts;
}

function importCallback(opts) {
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths, process.cwd()];
  return function findImports(importPath) {
    if (path.isAbsolute(importPath) && fs.existsSync(importPath)) {
      return { contents: fs.readFileSync(importPath, "utf8") };
    }
    for (const root of roots) {
      const candidate = path.resolve(root, importPath);
      if (fs.existsSync(candidate)) {
        return { contents: fs.readFileSync(candidate, "utf8") };
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

function readStdin() {
  return fs.readFileSync(0, "utf8");
}

function standardJson(opts) {
  const input = opts.files.length > 0 ? fs.readFileSync(opts.files[0], "utf8") : readStdin();
  const output = solc.compile(input, { import: importCallback(opts) });
  writeAndFinish(output);
}

function combinedJson(opts) {
  const sources = {};
  for (const file of opts.files) {
    const key = opts.basePath ? path.relative(opts.basePath, path.resolve(file)) : file;
    sources[key] = { content: fs.readFileSync(file, "utf8") };
  }
  const wanted = new Set(opts.combined);
  const contractOutputs = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"];
  if (wanted.has("srcmap")) contractOutputs.push("evm.bytecode.sourceMap");
  if (wanted.has("srcmap-runtime")) contractOutputs.push("evm.deployedBytecode.sourceMap");
  if (wanted.has("userdoc")) contractOutputs.push("userdoc");
  if (wanted.has("devdoc")) contractOutputs.push("devdoc");
  if (wanted.has("hashes")) contractOutputs.push("evm.methodIdentifiers");
  const settings = {
    optimizer: { enabled: opts.optimize, runs: opts.optimizeRuns },
    remappings: opts.remappings,
    outputSelection: { "*": { "*": contractOutputs, "": wanted.has("ast") ? ["ast"] : [] } },
  };
  if (opts.evmVersion) settings.evmVersion = opts.evmVersion;
  if (opts.viaIR) settings.viaIR = true;
  const input = { language: "Solidity", sources, settings };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: importCallback(opts) }));
  const errors = (out.errors || []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    fail(errors.map((e) => e.formattedMessage || e.message).join("\n"));
    return;
  }
  const combined = { contracts: {}, sources: {}, version: solc.version() };
  for (const [file, contracts] of Object.entries(out.contracts || {})) {
    for (const [name, c] of Object.entries(contracts)) {
      const entry = {};
      if (wanted.has("abi")) entry.abi = c.abi;
      if (wanted.has("bin")) entry.bin = c.evm.bytecode.object;
      if (wanted.has("bin-runtime")) entry["bin-runtime"] = c.evm.deployedBytecode.object;
      if (wanted.has("srcmap")) entry.srcmap = c.evm.bytecode.sourceMap;
      if (wanted.has("srcmap-runtime")) entry["srcmap-runtime"] = c.evm.deployedBytecode.sourceMap;
      if (wanted.has("userdoc")) entry.userdoc = c.userdoc;
      if (wanted.has("devdoc")) entry.devdoc = c.devdoc;
      if (wanted.has("hashes")) entry.hashes = c.evm.methodIdentifiers;
      combined.contracts[`${file}:${name}`] = entry;
    }
  }
  for (const [file, src] of Object.entries(out.sources || {})) {
    combined.sources[file] = wanted.has("ast") ? { AST: src.ast, id: src.id } : { id: src.id };
  }
  writeAndFinish(JSON.stringify(combined));
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    writeAndFinish(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  } else if (opts.standardJson) {
    standardJson(opts);
  } else if (opts.combined) {
    combinedJson(opts);
  } else {
    fail("unsupported invocation: use --version, --standard-json or --combined-json");
  }
}

main();
