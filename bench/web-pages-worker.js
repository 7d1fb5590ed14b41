// Worker-thread entry of bench/web.js: plays open Webhook Logs pages. Each one reads
// /api/stream as the page does (fetch, Authorization header) and, on every `events` message,
// fetches the newest page of events as the page does; every 10 s it asks whoami and the newest
// page again, like the page's poll. Runs until the parent posts 'stop', then reports.
import { parentPort, workerData } from 'node:worker_threads';

/** @type {{ url: string, token: string, pages: number }} */
const options = workerData;
const headers = { authorization: `Bearer ${options.token}` };
const controller = new AbortController();
let messages = 0;
let fetches = 0;
let failures = 0;

async function newestPage() {
  try {
    const res = await fetch(`${options.url}/api/events?limit=50`, { headers, signal: controller.signal });
    await res.arrayBuffer();
    if (res.ok) fetches += 1;
    else failures += 1;
  } catch {
    if (!controller.signal.aborted) failures += 1;
  }
}

/** @param {() => void} opened  called once the stream's `ready` message arrived */
async function page(opened) {
  const res = await fetch(`${options.url}/api/stream`, { headers, signal: controller.signal });
  if (!res.ok || !res.body) throw new Error(`bench: /api/stream answered ${res.status}`);
  const poll = setInterval(() => {
    void fetch(`${options.url}/api/whoami`, { headers, signal: controller.signal }).then((r) => r.arrayBuffer(), () => undefined);
    void newestPage();
  }, 10_000);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let inFlight = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith('event: ready')) opened();
        if (!block.startsWith('event: events')) continue;
        messages += 1;
        // The page's refresh: one at a time, as its merge of the newest page is.
        if (!inFlight) {
          inFlight = true;
          void newestPage().finally(() => (inFlight = false));
        }
      }
    }
  } catch {
    // Aborted at the end of the row.
  } finally {
    clearInterval(poll);
  }
}

/** @type {Promise<void>[]} */
const opened = [];
/** @type {Promise<void>[]} */
const running = [];
for (let i = 0; i < options.pages; i++) {
  /** @type {() => void} */
  let markOpen = () => undefined;
  opened.push(new Promise((resolve) => (markOpen = resolve)));
  running.push(page(markOpen));
}
parentPort?.once('message', async () => {
  controller.abort();
  await Promise.allSettled(running);
  parentPort?.postMessage({ messages, fetches, failures });
});
await Promise.all(opened);
parentPort?.postMessage('ready');
