export { UsageError, unknownFlags, assertKnownFlags, type KnownOptions } from './flags.js';
export { line, json, table } from './output.js';
export { withUsageChecks } from './parser.js';
