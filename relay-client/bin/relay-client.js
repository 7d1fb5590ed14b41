#!/usr/bin/env node
// Stable, executable entry for the compiled CLI (dist/ is built by `npm ci`).
import '../dist/cli.js';
