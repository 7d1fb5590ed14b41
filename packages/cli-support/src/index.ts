export { UsageError, typedFlags, unknownFlags, assertKnownFlags, type KnownOptions, type TypedFlag } from './flags.js';
export { line, json, table } from './output.js';
export { withUsageChecks } from './parser.js';
