import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET, sign, startRelay, type TestRelay } from '../relay-server/test/harness.js';
import { issueToken } from '../relay-server/src/tokens.js';
import { launchBrowser, type TestBrowser } from './support/browser.js';
import { LocalHandler, consumerConnected, startClient, type ClientProcess, type ReceivedRequest } from './support/client.js';
import { REPO_ROOT } from './support/processes.js';

let relay: TestRelay;
let browser: TestBrowser;
let handler: LocalHandler;
let client: ClientProcess;

/** Events whose id starts with this are answered 500 by the local handler. */
const FAILING = 'fail-';

beforeAll(async () => {
  // Retries wait a minute, so a failing event stays failing while the page looks at it.
  relay = await startRelay({ retryInitial: '1m', retryMax: '1m' }, { streamTokenCheckMs: 300 });
  await relay.addChannel('other', { verify: 'none' });
  await relay.addChannel('legacy', { verify: 'none', acceptLegacyForm: true });
  handler = new LocalHandler((request) => ((LocalHandler.header(request, 'X-Relay-Event-Id') ?? '').startsWith(FAILING) ? 500 : 200));
  await handler.start();
  client = startClient(['listen', '--relay', relay.url, '--token', relay.adminToken, '--channel', 'myoperator', '--consumer', 'laptop', '--forward-to', handler.url]);
  await consumerConnected(relay.url, relay.adminToken, 'myoperator', 'laptop');
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await client?.stop();
  await handler?.stop();
  await relay?.close();
});

/** POSTs a signed Webhook v2 event to `myoperator`; returns the exact body sent. */
async function postEvent(id: string, type: string, fields: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<string> {
  const body = JSON.stringify({ event_id: id, event_type: type, session_id: `session-${id}`, timestamp: new Date().toISOString(), payload: { customer_number: '+919812345678' }, ...fields });
  const res = await relay.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET), ...headers });
  expect(res.status).toBe(200);
  return body;
}

/** A new tab, signed in with `token`; fails the test on any script error in the page. */
async function signedIn(token: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${relay.url}/`);
  await page.fill('#token', token);
  await page.click('#signin');
  await page.waitForSelector('#who');
  return { page, errors };
}

/** The row of an event in the list. */
function row(page: Page, id: string) {
  return page.locator('#event-rows tr[data-key]').filter({ hasText: id });
}

/**
 * Polls what the page shows until it matches: the page changes on its own (stream, timers), so
 * the test awaits the change, within a bound, instead of sleeping.
 */
function eventually<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: 20_000, interval: 100 });
}

/** Waits until `handler` has received `count` requests for the event id. */
async function received(id: string, count: number): Promise<ReceivedRequest[]> {
  const of = (requests: readonly ReceivedRequest[]) => requests.filter((r) => LocalHandler.header(r, 'X-Relay-Event-Id') === id);
  await handler.until((requests) => of(requests).length >= count, `${count} deliveries of ${id}`);
  return of(handler.requests);
}

describe('Webhook Logs page', { timeout: 120_000 }, () => {
  it('signs in with a relay token, refuses a wrong one, and signs out', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${relay.url}/`);
    await page.fill('#token', 'mrt_not-a-token');
    await page.click('#signin');
    await eventually(() => page.textContent('#signin-status')).toContain('does not accept this token');
    await page.fill('#token', relay.adminToken);
    await page.click('#signin');
    await page.waitForSelector('#who');
    expect(await page.textContent('#who')).toContain('admin');
    // The token is kept for this tab only and never lands in the address.
    expect(await page.evaluate(() => sessionStorage.getItem('myop-relay.token'))).toBe(relay.adminToken);
    expect(page.url()).not.toContain(relay.adminToken);
    await page.click('#signout');
    await page.waitForSelector('#token');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.close();
  });

  it('shows an event POSTed to /hooks as it arrives, without a reload', async () => {
    const { page, errors } = await signedIn(relay.adminToken);
    await page.waitForSelector('#live.is-live');
    await page.evaluate(() => Object.assign(window, { sameDocument: true }));
    await postEvent('live-1', 'call.answered');
    await row(page, 'live-1').waitFor();
    expect(await row(page, 'live-1').locator('td.type').textContent()).toBe('call.answered');
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('filters by channel, type glob, body text and delivery state, on the relay', async () => {
    await postEvent('flt-call', 'call.end');
    await postEvent('flt-chat', 'message.received', { payload: { text: 'needle-7f3a in a chat' } });
    await relay.post('other', JSON.stringify({ event_id: 'flt-other', event_type: 'message.sent' }));
    await received('flt-call', 1);
    const { page } = await signedIn(relay.adminToken);
    await row(page, 'flt-other').waitFor();

    await page.selectOption('#filter-channel', 'myoperator');
    await page.fill('#filter-type', 'message.*');
    await eventually(() => page.locator('#event-rows tr[data-key]').allTextContents()).toEqual([expect.stringContaining('flt-chat')]);
    expect(page.url()).toContain('type=message.*');

    await page.fill('#filter-type', '');
    await page.fill('#filter-q', 'needle-7f3a');
    await eventually(() => page.locator('#event-rows tr[data-key]').count()).toBe(1);
    expect(await row(page, 'flt-chat').count()).toBe(1);

    await page.fill('#filter-q', '');
    await page.selectOption('#filter-state', 'delivered');
    await page.fill('#filter-consumer', 'laptop');
    await page.waitForURL(/consumer=laptop/);
    await row(page, 'flt-call').waitFor();
    expect(await row(page, 'flt-call').locator('.badge').allTextContents()).toEqual(['laptop · delivered']);
    expect(await row(page, 'flt-other').count()).toBe(0);
    // The filters live in the address (shareable, kept on reload); the token does not.
    await page.reload();
    await row(page, 'flt-call').waitFor();
    expect(await page.inputValue('#filter-consumer')).toBe('laptop');
    expect(page.url()).not.toContain(relay.adminToken);

    // A time range: tomorrow holds nothing yet, the last hour holds the event.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.selectOption('#filter-range', 'custom');
    await page.fill('#filter-from', local);
    await page.waitForURL(/since=/);
    await eventually(() => page.locator('#event-rows tr[data-key]').count()).toBe(0);
    expect(await page.textContent('#event-rows')).toContain('No stored event matches these filters.');
    await page.selectOption('#filter-range', '1h');
    await row(page, 'flt-call').waitFor();
    expect(new URL(page.url()).hash).toContain('since=1h');
    await page.close();
  });

  it('shows an event with its metadata, headers, pretty body and exact bytes', async () => {
    const body = await postEvent('detail-1', 'call.summary', { payload: { note: 'Café — नमस्ते', duration: 42 } }, { 'X-Source': 'myoperator' });
    const { page } = await signedIn(relay.adminToken);
    await row(page, 'detail-1').click();
    await page.waitForSelector('#detail-type');
    expect(await page.textContent('#detail-type')).toBe('call.summary');
    expect(await page.textContent('#detail-id')).toBe('detail-1');
    const headers = Object.fromEntries(await page.$$eval('#detail-headers tr', (rows) => rows.map((r) => [r.querySelector('th')?.textContent, r.querySelector('td')?.textContent])));
    expect(headers['X-MyOperator-Signature']).toBe(sign(body, TEST_SECRET));
    expect(headers['X-Source']).toBe('myoperator');
    expect(await page.textContent('#body-pretty')).toBe(JSON.stringify(JSON.parse(body), null, 2));
    expect(await page.textContent('#detail')).toContain('HMAC-SHA256 signature in X-MyOperator-Signature');
    await page.click('button[data-mode="raw"]');
    expect(await page.textContent('#body-raw')).toBe(body);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-body')]);
    expect(download.suggestedFilename()).toBe('myoperator-detail-1.body');
    expect(readFileSync(await download.path()).equals(Buffer.from(body))).toBe(true);
    // The curl command, run as a developer pastes it, sends the same signed bytes: the relay
    // verifies the signature and finds the event already stored.
    await page.click('#copy-curl');
    const command = (await page.textContent('#curl-command')) ?? '';
    const answer = JSON.parse(await new Promise<string>((resolve, reject) => execFile('sh', ['-c', command], { timeout: 20_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)))));
    expect(answer).toEqual({ accepted: true, channel: 'myoperator', id: 'detail-1', seq: expect.any(Number), duplicate: true });

    // A legacy v1 form body is shown decoded as well as raw.
    const form = `myoperator=${encodeURIComponent(JSON.stringify({ _ai: 'legacy-77', _ty: 1, _cr: '+919812345678' }))}`;
    const res = await fetch(`${relay.url}/hooks/legacy`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    expect(res.status).toBe(200);
    await row(page, 'legacy-77').click();
    await page.waitForSelector('#body-form');
    expect(await page.textContent('#body-form pre')).toBe(JSON.stringify({ _ai: 'legacy-77', _ty: 1, _cr: '+919812345678' }, null, 2));
    await page.close();
  });

  it('replays an event to a consumer, reaching the local handler byte for byte', async () => {
    const body = await postEvent('replay-1', 'call.answered', { payload: { note: 'bytes: "quotes" \\ 100% é' } });
    const [first] = await received('replay-1', 1);
    const { page } = await signedIn(relay.adminToken);
    await row(page, 'replay-1').click();
    await page.locator('.timeline[data-consumer="laptop"] .attempt.outcome-acked').waitFor();
    await page.selectOption('#replay-consumer', 'laptop');
    await page.click('#replay');
    const deliveries = await received('replay-1', 2);
    const replayed = deliveries[1];
    expect(replayed?.body.equals(Buffer.from(body))).toBe(true);
    expect(replayed?.body.equals(first?.body ?? Buffer.alloc(0))).toBe(true);
    expect(LocalHandler.header(replayed as ReceivedRequest, 'X-Relay-Replay')).toBe('1');
    expect(LocalHandler.header(replayed as ReceivedRequest, 'X-MyOperator-Signature')).toBe(sign(body, TEST_SECRET));
    await eventually(() => page.locator('.timeline[data-consumer="laptop"] .attempt').count()).toBe(2);
    await page.close();
  });

  it("shows a failing handler's answer in the timeline, with the next retry", async () => {
    await postEvent(`${FAILING}1`, 'call.end');
    await received(`${FAILING}1`, 1);
    const { page } = await signedIn(relay.adminToken);
    await row(page, `${FAILING}1`).click();
    const attempt = page.locator('.timeline[data-consumer="laptop"] .attempt.outcome-retry');
    await attempt.waitFor();
    expect(await attempt.locator('.status').textContent()).toBe('HTTP 500');
    expect(await attempt.locator('.outcome').textContent()).toBe('failed, will retry');
    // The handler's own answer, as relay-client captured it: its status and its body's bytes.
    expect(await attempt.locator('.answer-status').textContent()).toContain('Handler answered 500');
    expect(await attempt.locator('.answer-body').textContent()).toBe('ok');
    expect(await page.textContent('.timeline[data-consumer="laptop"] h4')).toMatch(/laptop · failing.*next retry/);
    expect(await row(page, `${FAILING}1`).locator('.badge').allTextContents()).toEqual(['laptop · failing']);
    await page.close();
  });

  it('shows an event carrying HTML and script in its type, id, headers and body as text, and runs none of it', async () => {
    const hostile = '<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2;alert(2)</script>';
    const id = `<svg onload=alert(3)>"'&amp;`;
    await postEvent(id, hostile, { session_id: '<iframe src="javascript:alert(4)">', payload: { html: '<a href="javascript:alert(5)">x</a>' } }, { 'X-Note': '<img src=x onerror=alert(6)>' });
    const { page, errors } = await signedIn(relay.adminToken);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const hostileRow = page.locator('#event-rows tr[data-key]').filter({ hasText: 'window.pwned=2' });
    await hostileRow.waitFor();
    expect(await hostileRow.locator('td.type').textContent()).toBe(hostile);
    expect(await hostileRow.locator('td.id').textContent()).toBe(id);
    await hostileRow.click();
    await page.waitForSelector('#detail-type');
    expect(await page.textContent('#detail-type')).toBe(hostile);
    expect(await page.textContent('#detail-id')).toBe(id);
    expect(await page.textContent('#detail-headers')).toContain('<img src=x onerror=alert(6)>');
    await page.waitForSelector('#session-events li');
    await page.click('#copy-curl');
    await page.waitForSelector('#curl-command');
    const injected = await page.evaluate(() => ({
      pwned: (window as unknown as { pwned?: number }).pwned,
      elements: document.querySelectorAll('#app img, #app script, #app svg, #app iframe, #app a[href^="javascript"]').length,
    }));
    expect(injected).toEqual({ pwned: undefined, elements: 0 });
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("shows a developer token none of another channel's events", async () => {
    const { token } = await issueToken(relay.store, { name: 'dev-other', role: 'developer', channels: ['other'] });
    await postEvent('secret-1', 'call.answered');
    const { page } = await signedIn(token);
    await page.waitForSelector('#live.is-live');
    expect(await page.locator('#filter-channel option').allTextContents()).toEqual(['All channels', 'other']);
    await postEvent('secret-2', 'call.answered');
    await relay.post('other', JSON.stringify({ event_id: 'visible-1', event_type: 'message.read' }));
    await row(page, 'visible-1').waitFor();
    const keys = await page.locator('#event-rows tr[data-key]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset['key'] ?? ''));
    expect(new Set(keys.map((k) => k.split('/')[0]))).toEqual(new Set(['other']));
    expect(await row(page, 'secret-').count()).toBe(0);
    // Asking for one by its address is refused by the relay.
    await page.evaluate(() => (location.hash = '#/events?event=myoperator/secret-1'));
    await eventually(() => page.textContent('#detail')).toContain('RELAY_E_CHANNEL_FORBIDDEN');
    await page.close();
  });

  it('signs out a page whose token is revoked', async () => {
    await issueToken(relay.store, { name: 'dev-revoked', role: 'developer', channels: null }).then(async ({ token }) => {
      const { page } = await signedIn(token);
      await page.waitForSelector('#live.is-live');
      expect(await relay.store.revokeToken('dev-revoked')).toBe(true);
      await page.waitForSelector('#token');
      expect(await page.textContent('#signin-status')).toContain('no longer accepts this token');
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
      await page.close();
    });
  });

  it('lists consumers with their counts, replays parked events and deletes a consumer', async () => {
    await postEvent('park-1', 'call.end');
    const { store } = relay;
    const now = new Date();
    // From park-1 itself, whatever earlier tests stored just before it.
    const parkSeq = (await store.getEvent('myoperator', 'park-1'))?.seq ?? 0;
    await store.openConsumer({ channel: 'myoperator', name: 'batch', start: { kind: 'seq', seq: parkSeq }, filter: [], maxAttempts: 1 }, now);
    const [delivery] = await store.claimDeliveries({ channel: 'myoperator', consumer: 'batch', session: 'batch-1', limit: 1, ordered: true, now, leaseMs: 30_000 });
    expect(delivery?.event.id).toBe('park-1');
    await store.nackDelivery({ channel: 'myoperator', consumer: 'batch', seq: delivery?.event.seq ?? 0, attempt: 1, session: 'batch-1', now, latencyMs: 3, status: 503 }, new Date(now.getTime() + 60_000));

    const { page } = await signedIn(relay.adminToken);
    await page.evaluate(() => (location.hash = '#/events?state=parked&consumer=batch'));
    await eventually(() => page.locator('#event-rows tr[data-key]').allTextContents()).toEqual([expect.stringContaining('park-1')]);

    await page.click('nav a[href="#/consumers"]');
    await page.selectOption('#consumers-channel', 'myoperator');
    const batch = page.locator('#consumers tr[data-consumer="batch"]');
    await batch.waitFor();
    expect(await batch.locator('td').nth(6).textContent()).toBe('1');
    expect(await page.locator('#consumers tr[data-consumer="laptop"] td').nth(2).textContent()).toBe('1');
    await batch.locator('button[data-action="replay-parked"]').click();
    await eventually(() => page.textContent('#status')).toContain('Queued 1 parked event again for batch');
    await eventually(() => batch.locator('td').nth(6).textContent()).toBe('0');
    await batch.locator('button[data-action="delete"]').click();
    await batch.locator('button[data-action="confirm-delete"]').click();
    await eventually(() => page.locator('#consumers tr[data-consumer="batch"]').count()).toBe(0);
    expect((await store.listConsumers('myoperator')).map((c) => c.name)).toEqual(['laptop']);
    await page.close();
  });

  it('loads at most 100 KB of compressed JavaScript on first load', async () => {
    const page = await browser.context.newPage();
    const scripts: { url: string; bytes: number; gzip: number }[] = [];
    page.on('response', (response) => {
      if (response.request().resourceType() !== 'script') return;
      void response.body().then((body) => scripts.push({ url: response.url(), bytes: body.length, gzip: gzipSync(body, { level: 9 }).length }));
    });
    await page.goto(`${relay.url}/`);
    await page.fill('#token', relay.adminToken);
    await page.click('#signin');
    await page.waitForSelector('#event-rows tr[data-key]');
    await eventually(() => scripts.length).toBeGreaterThan(5);
    const total = scripts.reduce((sum, s) => sum + s.gzip, 0);
    expect(scripts.every((s) => new URL(s.url).origin === relay.url)).toBe(true);
    expect(total).toBeLessThanOrEqual(100 * 1024);
    await page.close();
  });

  it('takes the screenshot for the README', async () => {
    const trigger = await fetch(`${relay.url}/api/channels/myoperator/trigger`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ flow: 'call' }),
    });
    const { events } = (await trigger.json()) as { events: { id: string; type: string }[] };
    const answered = events.find((e) => e.type === 'call.answered')?.id ?? '';
    await received(answered, 1);
    const { page } = await signedIn(relay.adminToken);
    await page.selectOption('#filter-channel', 'myoperator');
    await page.fill('#filter-type', 'call.*');
    await page.waitForURL(/type=call/);
    await row(page, answered).click();
    await page.locator('.timeline[data-consumer="laptop"] .attempt.outcome-acked').waitFor();
    await eventually(() => page.locator('#session-events li').count()).toBe(events.length);
    await page.waitForSelector('#live.is-live');
    // The picture in the docs changes only when asked for; otherwise the test leaves the tree as it was.
    const scratch = process.env['UPDATE_SCREENSHOTS'] === '1' ? undefined : mkdtempSync(join(tmpdir(), 'web-logs-'));
    const path = join(scratch ?? join(REPO_ROOT, 'docs'), 'webhook-logs.png');
    try {
      await page.screenshot({ path });
      expect(statSync(path).size).toBeGreaterThan(10_000);
    } finally {
      if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
    }
    await page.close();
  });
});
