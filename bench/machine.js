// Whether a run had the machine to itself: other processes on a 2-core machine skew every figure.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from './delivery-report.js';

/** Other processes busier than this (in cores, on average) make a run's figures suspect. */
export const NOISY_CORES = 0.15;

/** CPU time so far: the whole machine's busy time and this process's (all threads), in ms, and the wall clock. */
export function cpuSnapshot() {
  const machineBusyMs = cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0);
  const own = process.cpuUsage();
  return { machineBusyMs, ownMs: (own.user + own.system) / 1000, wallMs: performance.now() };
}

/** Cores that processes other than this one kept busy since `before`, on average. */
export function otherProcessesCores(/** @type {ReturnType<typeof cpuSnapshot>} */ before) {
  const after = cpuSnapshot();
  const othersMs = after.machineBusyMs - before.machineBusyMs - (after.ownMs - before.ownMs);
  return Math.max(0, othersMs) / (after.wallMs - before.wallMs);
}

/**
 * Median time of a 4 KiB append plus fdatasync in `dir`: what every durable commit waits for,
 * and on a shared machine what other processes' disk use changes most.
 *
 * @param {string} dir
 */
export function fsyncMs(dir) {
  const path = join(dir, 'fsync-probe');
  const fd = openSync(path, 'a');
  const block = Buffer.alloc(4096, 1);
  const times = [];
  try {
    for (let i = 0; i < 50; i++) {
      const began = performance.now();
      writeSync(fd, block);
      fdatasyncSync(fd);
      times.push(performance.now() - began);
    }
  } finally {
    closeSync(fd);
    rmSync(path);
  }
  return percentile(times.sort((a, b) => a - b), 0.5);
}

/**
 * @typedef {object} WakeUpCost
 * @property {number} rate  round trips per second
 * @property {number} cpuMs  CPU of both processes per round trip, the pacing timer included
 * @property {number} p99Ms  round-trip time, 99th percentile
 */

/**
 * What a wake-up costs here: one byte sent to another Node process on a loopback connection and
 * echoed back, paced at each rate for `seconds`. Each round trip wakes both processes once; a
 * relayed event crosses several such wake-ups (docs/benchmarks.md, section 5). On a machine that
 * pays for waking an idle process, the CPU per round trip is several times higher at a low rate
 * than at a high one, and every low-rate latency in these tables grows with it.
 *
 * @param {readonly number[]} rates
 * @param {number} seconds
 * @returns {Promise<WakeUpCost[]>}
 */
export async function wakeUpCost(rates = [200, 2000], seconds = 1) {
  const echo = fork(new URL('./wake-echo.js', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const exited = once(echo, 'exit');
  // The child's next message; a child that ends first fails the probe instead of hanging it.
  const reply = () =>
    Promise.race([
      once(echo, 'message').then(([message]) => /** @type {any} */ (message)),
      exited.then(([code]) => Promise.reject(new Error(`the echo process ended early (exit code ${code})`))),
    ]);
  try {
    const { port } = await reply();
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await once(socket, 'connect');
    try {
      /** @type {WakeUpCost[]} */
      const costs = [];
      for (const rate of rates) {
        const count = Math.max(1, Math.round(rate * seconds));
        const times = [];
        echo.send('report');
        await reply();
        const own = process.cpuUsage();
        const start = performance.now();
        for (let i = 0; i < count; i++) {
          const wait = start + (i * 1000) / rate - performance.now();
          if (wait > 0) await sleep(wait);
          const sent = performance.now();
          const echoed = once(socket, 'data');
          socket.write('x');
          await echoed;
          times.push(performance.now() - sent);
        }
        const used = process.cpuUsage(own);
        echo.send('report');
        const { cpuMs } = await reply();
        costs.push({ rate, cpuMs: ((used.user + used.system) / 1000 + cpuMs) / count, p99Ms: percentile(times.sort((a, b) => a - b), 0.99) });
      }
      return costs;
    } finally {
      socket.destroy();
    }
  } finally {
    if (echo.connected) echo.send('stop');
    await exited;
  }
}

/** A run's footer line: what a wake-up cost before the run and after it. */
export function formatWakeUpCosts(/** @type {WakeUpCost[]} */ before, /** @type {WakeUpCost[]} */ after) {
  const format = (/** @type {WakeUpCost[]} */ costs) =>
    costs.map((c) => `${c.cpuMs.toFixed(2)} ms at ${c.rate.toLocaleString('en-US')}/s (p99 ${c.p99Ms.toFixed(2)} ms)`).join(', ');
  return `wake-ups: CPU of a loopback round trip between two Node processes: ${format(before)} before the run; ${format(after)} after`;
}
