import { Buffer } from 'node:buffer';
import type pg from 'pg';
import { answerColumns } from './answer-columns.js';
import { toDeliveredEvent, type FullEventRow } from './event-rows.js';
import { inTransaction, runStatement, type Statement } from './postgres-connection.js';
import type { AttemptOutcome, ClaimRequest, Delivery, NackResult } from './store.js';

/** One consumer's turn as one statement: its answers, then its claim (see relay_consumer_turn in postgres-functions.ts). */
const TURN: Statement = {
  name: 'relay_consumer_turn',
  text: 'SELECT * FROM relay_consumer_turn($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)',
};

type Answer = { kind: 'ack'; outcome: AttemptOutcome } | { kind: 'nack'; outcome: AttemptOutcome; retryAt: Date };

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

type Work = (Answer & Pending<boolean | NackResult>) | ({ kind: 'claim'; request: ClaimRequest } & Pending<Delivery[]>);

/** A turn as relay_consumer_turn takes it: answers in order, then at most one claim. */
interface Turn {
  answers: (Answer & Pending<boolean | NackResult>)[];
  claim: ({ kind: 'claim'; request: ClaimRequest } & Pending<Delivery[]>) | undefined;
}

interface TurnRow extends Omit<FullEventRow, 'channel'> {
  kind: 'answer' | 'claim' | 'due';
  idx: number | null;
  result: 'acked' | 'retry' | 'failed' | 'ignored' | null;
  at: Date | null;
  attempt: number | null;
  replay: boolean | null;
}

interface Key {
  channel: string;
  consumer: string;
  queued: Work[];
  busy: boolean;
}

/** Settings of {@link ConsumerTurns}. */
export interface TurnSettings {
  /** Named (prepared) statements; off behind a pooler in transaction mode. */
  prepared: boolean;
  /** Delivery state committed without waiting for the WAL flush (see relay_consumer_turn). */
  asyncCommit: boolean;
}

function splitIntoTurns(work: readonly Work[]): Turn[] {
  const turns: Turn[] = [];
  let turn: Turn = { answers: [], claim: undefined };
  for (const item of work) {
    if (item.kind === 'claim') {
      turns.push({ ...turn, claim: item });
      turn = { answers: [], claim: undefined };
    } else {
      turn.answers.push(item);
    }
  }
  if (turn.answers.length > 0) turns.push(turn);
  return turns;
}

/** The driver sends a Buffer as bytea; other typed arrays it would not. */
function bytea(body: Uint8Array | null): Buffer | null {
  return body === null ? null : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function turnValues(channel: string, consumer: string, turn: Turn, asyncCommit: boolean): unknown[] {
  const answers = turn.answers.map((a) => ({ a, columns: answerColumns(a.outcome.answer) }));
  const claim = turn.claim?.request;
  return [
    channel,
    consumer,
    answers.map(({ a }) => a.kind),
    answers.map(({ a }) => a.outcome.seq),
    answers.map(({ a }) => a.outcome.attempt),
    answers.map(({ a }) => a.outcome.now),
    answers.map(({ a }) => a.outcome.status ?? null),
    answers.map(({ a }) => a.outcome.latencyMs),
    answers.map(({ a }) => (a.kind === 'nack' ? (a.outcome.error ?? null) : null)),
    answers.map(({ a }) => (a.kind === 'nack' ? a.retryAt : null)),
    answers.map(({ columns }) => columns[0]),
    answers.map(({ columns }) => bytea(columns[1])),
    answers.map(({ columns }) => columns[2]),
    answers.map(({ columns }) => columns[3]),
    claim?.session ?? null,
    claim === undefined ? 0 : Math.max(0, claim.limit),
    claim?.ordered ?? false,
    claim?.now ?? null,
    claim === undefined ? null : new Date(claim.now.getTime() + claim.leaseMs),
    claim?.maxBytes ?? null,
    asyncCommit,
  ];
}

/**
 * Claims, acks and nacks of each consumer, run as turns: what is asked for in one event-loop
 * turn, and all that comes while the consumer's previous batch runs, goes into its next batch,
 * and each run of answers followed by a claim is one call of relay_consumer_turn. A batch of one
 * such turn is one statement (its own transaction); a longer one runs its turns in one
 * transaction. Work of one consumer runs in the order it was asked for.
 */
export class ConsumerTurns {
  readonly #keys = new Map<string, Key>();
  readonly #running = new Set<Promise<void>>();
  /** When each consumer's next retry or lease expiry falls due, as its last turn found; dropped by any work queued after it. */
  readonly #due = new Map<string, Date | null>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: TurnSettings,
  ) {}

  claim(request: ClaimRequest): Promise<Delivery[]> {
    if (request.limit <= 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => this.#queue(request.channel, request.consumer, { kind: 'claim', request, resolve, reject }));
  }

  ack(outcome: AttemptOutcome): Promise<boolean> {
    return new Promise((resolve, reject) =>
      this.#queue(outcome.channel, outcome.consumer, { kind: 'ack', outcome, resolve: resolve as (value: boolean | NackResult) => void, reject }),
    );
  }

  nack(outcome: AttemptOutcome, retryAt: Date): Promise<NackResult> {
    return new Promise((resolve, reject) =>
      this.#queue(outcome.channel, outcome.consumer, { kind: 'nack', outcome, retryAt, resolve: resolve as (value: boolean | NackResult) => void, reject }),
    );
  }

  /**
   * The next due time the consumer's last turn computed, if nothing was asked for since; it is
   * then handed out once. Undefined when it must be read afresh.
   */
  takeNextDue(channel: string, consumer: string): Date | null | undefined {
    const key = `${channel}\u0000${consumer}`;
    const due = this.#due.get(key);
    this.#due.delete(key);
    return due;
  }

  #queue(channel: string, consumer: string, work: Work): void {
    const name = `${channel}\u0000${consumer}`;
    this.#due.delete(name);
    let key = this.#keys.get(name);
    if (key === undefined) {
      key = { channel, consumer, queued: [], busy: false };
      this.#keys.set(name, key);
    }
    key.queued.push(work);
    this.#schedule(name, key);
  }

  #schedule(name: string, key: Key): void {
    if (key.busy || key.queued.length === 0) return;
    key.busy = true;
    // setImmediate runs after the turn's I/O callbacks, so their work joins this batch.
    setImmediate(() => {
      const running = this.#run(name, key);
      this.#running.add(running);
      void running.finally(() => this.#running.delete(running));
    });
  }

  async #run(name: string, key: Key): Promise<void> {
    const work = key.queued.splice(0);
    const turns = splitIntoTurns(work);
    try {
      const values = (turn: Turn): unknown[] => turnValues(key.channel, key.consumer, turn, this.settings.asyncCommit);
      let results: TurnRow[][];
      if (turns.length === 1) {
        results = [await runStatement<TurnRow>(this.pool, TURN, values(turns[0] as Turn), this.settings.prepared)];
      } else {
        results = await inTransaction(this.pool, async (db) => {
          const all: TurnRow[][] = [];
          for (const turn of turns) all.push(await runStatement<TurnRow>(db, TURN, values(turn), this.settings.prepared));
          return all;
        });
      }
      turns.forEach((turn, i) => this.#settle(name, key, turn, results[i] ?? [], i === turns.length - 1));
    } catch (error) {
      for (const item of work) item.reject(error);
    } finally {
      key.busy = false;
      if (key.queued.length > 0) this.#schedule(name, key);
      else this.#keys.delete(name);
    }
  }

  #settle(name: string, key: Key, turn: Turn, rows: readonly TurnRow[], last: boolean): void {
    const answers = new Map<number, TurnRow>();
    const claimed: Delivery[] = [];
    for (const row of rows) {
      if (row.kind === 'answer' && row.idx !== null) answers.set(row.idx, row);
      else if (row.kind === 'claim') claimed.push({ event: toDeliveredEvent({ ...row, channel: key.channel }), attempt: row.attempt ?? 1, replay: row.replay ?? false });
      else if (row.kind === 'due' && last && key.queued.length === 0) this.#due.set(name, row.at);
    }
    turn.answers.forEach((answer, i) => {
      const result = answers.get(i + 1)?.result ?? 'ignored';
      if (answer.kind === 'ack') answer.resolve(result === 'acked');
      else answer.resolve(nackResult(result, answers.get(i + 1)?.at ?? null));
    });
    turn.claim?.resolve(claimed);
  }

  /** Resolves once no batch is running or waiting to run. */
  async idle(): Promise<void> {
    while (this.#running.size > 0 || [...this.#keys.values()].some((key) => key.busy)) {
      await Promise.all(this.#running);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

function nackResult(result: TurnRow['result'], at: Date | null): NackResult {
  if (result === 'failed') return { state: 'failed' };
  if (result === 'retry' && at !== null) return { state: 'retry', nextAttemptAt: at };
  return { state: 'ignored' };
}
