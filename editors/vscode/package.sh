#!/usr/bin/env bash
# Builds the VS Code extension, editors/vscode/milec-mile.vsix, from a clean clone:
# its own dependencies (npm ci, from its own lockfile), a type check, the esbuild bundle of
# the client, then `vsce package`. Run from anywhere: `npm run vsix` at the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
npm ci --no-audit --no-fund --loglevel=error
# The README's picture travels inside the package (the repository has no public URL to link to).
mkdir -p images && cp ../../docs/images/editor.png images/editor.png
npm run --silent package
ls -l milec-mile.vsix
