import type pg from 'pg';
import { answerColumns } from './answer-columns.js';
import { toDeliveredEvent, type FullEventRow } from './event-rows.js';
import { KeyedBatches } from './keyed-batches.js';
import { bytea, inTransaction, runStatement, type Statement } from './postgres-connection.js';
import type { AttemptOutcome, ClaimRequest, Delivery, NackResult } from './store.js';

/** One consumer's turn as one statement: its answers, then its claim (see relay_consumer_turn in postgres-functions.ts). */
const TURN: Statement = {
  name: 'relay_consumer_turn',
  text: 'SELECT * FROM relay_consumer_turn($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)',
};

type Answer = { kind: 'ack'; outcome: AttemptOutcome } | { kind: 'nack'; outcome: AttemptOutcome; retryAt: Date };
type Claim = { kind: 'claim'; request: ClaimRequest };
type Work = Answer | Claim;
type WorkResult = boolean | NackResult | Delivery[];

/** A turn as relay_consumer_turn takes it: answers in order, then at most one claim. */
interface Turn {
  answers: Answer[];
  claim: Claim | undefined;
}

interface TurnRow extends Omit<FullEventRow, 'channel'> {
  kind: 'answer' | 'claim' | 'due';
  idx: number | null;
  result: 'acked' | 'retry' | 'failed' | 'ignored' | null;
  at: Date | null;
  attempt: number | null;
  replay: boolean | null;
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
    answers.map(({ columns }) => (columns[1] === null ? null : bytea(columns[1]))),
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

function keyOf(channel: string, consumer: string): string {
  return `${channel}\u0000${consumer}`;
}

/**
 * Claims, acks and nacks of each consumer, run as turns: what is asked for in one event-loop
 * turn, and all that comes while the consumer's previous batch runs, goes into its next batch
 * ({@link KeyedBatches}), and each run of answers followed by a claim is one call of
 * relay_consumer_turn. A batch of one such turn is one statement (its own transaction); a longer
 * one runs its turns in one transaction. Work of one consumer runs in the order it was asked for.
 */
export class ConsumerTurns {
  readonly #batches: KeyedBatches<Work & { channel: string; consumer: string }, WorkResult>;
  /** When each consumer's next retry or lease expiry falls due, as its last turn found; dropped by any work asked for after it. */
  readonly #due = new Map<string, Date | null>();
  /** Work asked for per consumer, counted, so a turn knows whether more came after it. */
  readonly #asked = new Map<string, number>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly settings: TurnSettings,
  ) {
    this.#batches = new KeyedBatches((key, work) => this.#run(key, work));
  }

  claim(request: ClaimRequest): Promise<Delivery[]> {
    if (request.limit <= 0) return Promise.resolve([]);
    return this.#queue(request.channel, request.consumer, { kind: 'claim', request }) as Promise<Delivery[]>;
  }

  ack(outcome: AttemptOutcome): Promise<boolean> {
    return this.#queue(outcome.channel, outcome.consumer, { kind: 'ack', outcome }) as Promise<boolean>;
  }

  nack(outcome: AttemptOutcome, retryAt: Date): Promise<NackResult> {
    return this.#queue(outcome.channel, outcome.consumer, { kind: 'nack', outcome, retryAt }) as Promise<NackResult>;
  }

  /**
   * The next due time the consumer's last turn computed, if nothing was asked for since; it is
   * then handed out once. Undefined when it must be read afresh.
   */
  takeNextDue(channel: string, consumer: string): Date | null | undefined {
    const key = keyOf(channel, consumer);
    const due = this.#due.get(key);
    this.#due.delete(key);
    return due;
  }

  #queue(channel: string, consumer: string, work: Work): Promise<WorkResult> {
    const key = keyOf(channel, consumer);
    this.#due.delete(key);
    this.#asked.set(key, (this.#asked.get(key) ?? 0) + 1);
    return this.#batches.run(key, { ...work, channel, consumer });
  }

  async #run(key: string, work: (Work & { channel: string; consumer: string })[]): Promise<WorkResult[]> {
    const asked = this.#asked.get(key);
    const first = work[0];
    if (first === undefined) return [];
    const { channel, consumer } = first;
    const turns = splitIntoTurns(work);
    const values = (turn: Turn): unknown[] => turnValues(channel, consumer, turn, this.settings.asyncCommit);
    let rows: TurnRow[][];
    if (turns.length === 1) {
      rows = [await runStatement<TurnRow>(this.pool, TURN, values(turns[0] as Turn), this.settings.prepared)];
    } else {
      rows = await inTransaction(this.pool, async (db) => {
        const all: TurnRow[][] = [];
        for (const turn of turns) all.push(await runStatement<TurnRow>(db, TURN, values(turn), this.settings.prepared));
        return all;
      });
    }
    const results = new Map<Work, WorkResult>();
    turns.forEach((turn, i) => {
      const due = settle(channel, turn, rows[i] ?? [], results);
      if (i === turns.length - 1 && this.#asked.get(key) === asked) this.#due.set(key, due);
    });
    if (this.#asked.get(key) === asked) this.#asked.delete(key);
    return work.map((item) => results.get(item) ?? []);
  }

  /** Resolves once no batch is running or waiting to run. */
  idle(): Promise<void> {
    return this.#batches.idle();
  }
}

/** Each work item's result from its turn's rows; resolves with the turn's next due time. */
function settle(channel: string, turn: Turn, rows: readonly TurnRow[], results: Map<Work, WorkResult>): Date | null {
  const answers = new Map<number, TurnRow>();
  const claimed: Delivery[] = [];
  let due: Date | null = null;
  for (const row of rows) {
    if (row.kind === 'answer' && row.idx !== null) answers.set(row.idx, row);
    else if (row.kind === 'claim') claimed.push({ event: toDeliveredEvent({ ...row, channel }), attempt: row.attempt ?? 1, replay: row.replay ?? false });
    else if (row.kind === 'due') due = row.at;
  }
  turn.answers.forEach((answer, i) => {
    const row = answers.get(i + 1);
    const result = row?.result ?? 'ignored';
    results.set(answer, answer.kind === 'ack' ? result === 'acked' : nackResult(result, row?.at ?? null));
  });
  if (turn.claim) results.set(turn.claim, claimed);
  return due;
}

function nackResult(result: TurnRow['result'], at: Date | null): NackResult {
  if (result === 'failed') return { state: 'failed' };
  if (result === 'retry' && at !== null) return { state: 'retry', nextAttemptAt: at };
  return { state: 'ignored' };
}
