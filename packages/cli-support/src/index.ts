export { UsageError, typedFlags, unknownFlags, assertKnownFlags, type KnownOptions, type TypedFlag } from './flags.js';
export { line, json, table, ignoreClosedPipe } from './output.js';
export { withUsageChecks, CommandAccepted, type UsageCheckOptions } from './parser.js';
export { runCommandLine, type CommandLine } from './run.js';
export { createParser, helpWidth } from './yargs.js';
export { closest, editDistance } from './suggest.js';
export { EXIT_CODES, CLI_ERRORS, type ExitCode, type CliErrorCode, type CliErrorSpec } from './exit.js';
export { reportFailure, wantsJson, type CliFailure } from './report.js';
export { readConfigFile, configPathFromArgv, type ConfigFileResult } from './config-file.js';
