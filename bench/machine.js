// Whether a run had the machine to itself: other processes on a 2-core machine skew every figure.
import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
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
