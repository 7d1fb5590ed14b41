/**
 * Every `relay-server …` / `relay-client …` command quoted in an error message or a help text
 * parses as printed: each is run through the real CLI in parse-only mode, which checks commands,
 * options and arguments and then stops before running anything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_ERRORS } from '../packages/protocol/src/errors.js';
import { CLI_ERRORS } from '../packages/cli-support/src/exit.js';
import { runCli as runClient } from '../relay-client/src/cli/main.js';
import { CLIENT_ERRORS } from '../relay-client/src/errors.js';
import { runCli as runServer } from '../relay-server/src/cli/main.js';
import { SERVER_ERRORS } from '../relay-server/src/errors.js';
import { betterSqliteDriver } from '../relay-server/src/store/sqlite-better.js';

const home = mkdtempSync(join(tmpdir(), 'relay-quoted-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** Sample values for the placeholders quoted commands use. */
const SAMPLES: Readonly<Record<string, string>> = {
  '<name>': 'sales',
  '<you>': 'asha',
  '<developer>': 'asha',
  '<id>': 'evt_01JABCXYZ123',
  '<type>': 'call.answered',
  '<shape>': 'seed',
  '<flow>': 'call',
  '<token>': 'mrt_sample_token_0123456789',
  '<key>': 'sample-api-key-0123456789',
  '<s1>': 'sample-secret-one-0123',
  '<s2>': 'sample-secret-two-0123',
  '<new name>': 'asha-copy',
  '<dotted.path>=<value>': 'payload.status=missed',
  '<relay URL>': 'https://relay.example.com',
};

/** Shell words of a quoted command, placeholders filled in; `'…'` quotes kept together. */
function words(command: string): string[] {
  let filled = command;
  for (const [placeholder, value] of Object.entries(SAMPLES)) filled = filled.replaceAll(placeholder, value);
  expect(filled, `a placeholder without a sample value in: ${command}`).not.toMatch(/<[^>]+>/);
  // A shell redirection or pipe ends the command's own words.
  const own = filled.split(/\s(?:>>?|\|)\s/)[0] ?? filled;
  return [...own.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

/** Every backticked command of `cli` in `texts`, and in `helps` every example or epilogue line that starts with one; ellipsis-free. */
function quoted(texts: readonly string[], helps: readonly string[], cli: 'relay-server' | 'relay-client'): string[] {
  const found = new Set<string>();
  for (const text of [...texts, ...helps]) {
    for (const match of text.matchAll(new RegExp(`\`(${cli} [^\`]+)\``, 'g'))) found.add(match[1] ?? '');
  }
  for (const help of helps) {
    // Examples and epilogue lines; the usage line and the Commands list hold patterns, not commands.
    const body = help.split(/^(?:Examples:|Options:)$/m).slice(1).join('\n');
    for (const match of body.matchAll(new RegExp(`^\\s*(${cli} .+?)(?:\\s{2,}\\S.*)?$`, 'gm'))) found.add((match[1] ?? '').trim());
  }
  return [...found].filter((c) => !c.includes('…') && !c.includes('...'));
}

/** A wide terminal, so examples stay on one line each. */
class Sink extends Writable {
  text = '';
  readonly isTTY = true;
  readonly columns = 120;
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Parsed {
  accepted: readonly string[] | undefined;
  stdout: string;
  stderr: string;
}

async function parse(cli: 'relay-server' | 'relay-client', argv: string[]): Promise<Parsed> {
  const stdout = new Sink();
  const stderr = new Sink();
  let accepted: readonly string[] | undefined;
  const before = process.exitCode;
  const parseOnly = (command: readonly string[]): void => {
    accepted = command;
  };
  if (cli === 'relay-client') {
    await runClient(argv, { stdout, stderr, env: {}, homeDir: home, createSocket: () => { throw new Error('parse only'); }, onShutdownSignal: () => undefined, parseOnly });
  } else {
    await runServer(argv, { sqliteDriver: betterSqliteDriver, stdout, stderr, onShutdownSignal: () => undefined, parseOnly });
  }
  process.exitCode = before;
  return { accepted, stdout: stdout.text, stderr: stderr.text };
}

/** Help output of every command, found by walking the commands each help lists. */
async function helpTexts(cli: 'relay-server' | 'relay-client'): Promise<string[]> {
  const texts: string[] = [];
  const seen = new Set<string>();
  const visit = async (path: string[]): Promise<void> => {
    const { stdout } = await parse(cli, [...path, '--help']);
    texts.push(stdout);
    const section = stdout.split(/^Commands:$/m)[1]?.split(/^\S/m)[0] ?? '';
    for (const match of section.matchAll(new RegExp(`^\\s+${cli} ((?:[a-z-]+ ?)+)`, 'gm'))) {
      const sub = (match[1] ?? '').trim().split(' ');
      const key = sub.join(' ');
      if (sub.length > path.length && !seen.has(key)) {
        seen.add(key);
        await visit(sub);
      }
    }
  };
  await visit([]);
  return texts;
}

const catalogues = [...Object.values(SERVER_ERRORS), ...Object.values(PROTOCOL_ERRORS), ...Object.values(CLIENT_ERRORS), ...Object.values(CLI_ERRORS)].map((e) => e.message);

describe.each(['relay-server', 'relay-client'] as const)('commands quoted for %s', (cli) => {
  it('parse as printed, from the error catalogues and every help text', async () => {
    const commands = quoted(catalogues, await helpTexts(cli), cli);
    expect(commands.length).toBeGreaterThan(cli === 'relay-server' ? 10 : 15);
    for (const command of commands) {
      const argv = words(command).slice(1);
      const result = await parse(cli, argv);
      const help = argv.includes('--help');
      expect(result.stderr, `${command}`).toBe('');
      expect(result.accepted !== undefined || (help && result.stdout.includes('Options:')), `${command} was not accepted`).toBe(true);
    }
  });
});

it('the parse-only check refuses what the CLI refuses', async () => {
  const refused = await parse('relay-server', ['token', 'create', '--name', 'asha', '--channel', 'sales']);
  expect(refused.accepted).toBeUndefined();
  expect(refused.stderr).toContain('did you mean --channels?');
  expect((await parse('relay-client', ['events', 'show'])).accepted).toBeUndefined();
  expect((await parse('relay-client', ['events', 'show', 'evt_1'])).accepted).toEqual(['events', 'show']);
});
