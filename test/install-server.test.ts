/**
 * relay-server as `npm install` gets it: packed, installed from the tarballs into a fresh prefix
 * offline (test/support/install.ts), better-sqlite3 built from source, and run as the installed
 * command. The build takes a minute or more of CPU, so this runs when TEST_SERVER_INSTALL=1
 * (.ci/run sets it) and is skipped otherwise.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EventDetailView } from '@myop-relay/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, nativeOrScripted, packPackages, pathWithInstalled, postSignedWebhook, webhookBody } from './support/install.js';
import { killAllChildren, startRelayServer, tempDir } from './support/processes.js';

/** The build's minute of CPU took over eight on a 2-core machine loaded twentyfold. */
const INSTALL_TIMEOUT_MS = 900_000;

describe.runIf(process.env['TEST_SERVER_INSTALL'] === '1')('relay-server installed from its tarballs', () => {
  let scratch: { path: string; remove: () => void } | undefined;
  let prefix = '';

  beforeAll(async () => {
    scratch = tempDir('relay-install-server-');
    prefix = join(scratch.path, 'prefix');
    mkdirSync(join(scratch.path, 'tarballs'));
    mkdirSync(prefix);
    const packed = await packPackages(['packages/protocol', 'packages/cli-support', 'relay-server'], join(scratch.path, 'tarballs'));
    // better-sqlite3's install script is the one allowed: --strict-allow-scripts fails the install on any other.
    await installPacked(prefix, packed, { allowScripts: ['better-sqlite3'], strictAllowScripts: true, timeoutMs: INSTALL_TIMEOUT_MS });
  }, INSTALL_TIMEOUT_MS + 60_000);
  afterAll(() => scratch?.remove());
  afterEach(() => killAllChildren());

  it('has better-sqlite3, built here, as its one native module', () => {
    expect(nativeOrScripted(join(prefix, 'node_modules'))).toEqual(['better-sqlite3']);
  });

  it('starts, stores a signed webhook, answers 200 and serves the exact bytes over the API', async () => {
    const data = tempDir('relay-install-data-');
    try {
      const server = await startRelayServer({
        dataDir: data.path,
        args: ['--log-level', 'warn'],
        env: { PATH: pathWithInstalled(prefix) },
        runtime: 'exec',
        script: join(prefix, 'node_modules', '.bin', 'relay-server'),
      });
      if (!server.banner) throw new Error('first start printed no banner');
      const body = webhookBody('evt_installed_server');
      const posted = await postSignedWebhook(server.url, server.banner.secret, body);
      expect(posted).toEqual({ status: 200, json: { accepted: true, channel: 'myoperator', id: 'evt_installed_server', seq: 1, duplicate: false } });

      const res = await fetch(`${server.url}/api/events/myoperator/evt_installed_server`, { headers: { authorization: `Bearer ${server.banner.adminToken}` } });
      expect(res.status).toBe(200);
      const event = (await res.json()) as EventDetailView;
      expect(Buffer.from(event.bodyBase64, 'base64').toString()).toBe(body);
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    } finally {
      data.remove();
    }
  });
});
