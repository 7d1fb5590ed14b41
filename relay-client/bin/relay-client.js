#!/usr/bin/env -S node --max-semi-space-size=2
// Stable, executable entry for the compiled CLI (dist/ is built by `npm ci`).
// --max-semi-space-size=2 caps V8's young generation at 2 × 2 MB (Node's default lets it grow to
// 2 × 16 MB under load), which keeps relay-client's resident set small while it forwards; see
// "relay-client memory" in docs/benchmarks.md. The rest of its heap tuning is in src/heap.ts.
import '../dist/cli.js';
