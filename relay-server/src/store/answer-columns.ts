/**
 * How both stores keep a handler's answer with its attempt: four nullable columns, all null for
 * an attempt whose client reported no answer (an abandoned one, or a client that captures
 * nothing). Headers are JSON text of `[name, value]` pairs, as events keep theirs.
 */
import type { HandlerAnswer } from './store.js';

/** The answer columns of one attempt row, in the order the statements list them. */
export type AnswerColumns = [headers: string | null, body: Uint8Array | null, bytes: number | null, truncated: boolean | null];

/** Columns of an attempt that reported no answer. */
export const NO_ANSWER: AnswerColumns = [null, null, null, null];

/** The columns that keep `answer`. */
export function answerColumns(answer: HandlerAnswer | undefined): AnswerColumns {
  if (answer === undefined) return NO_ANSWER;
  return [JSON.stringify(answer.headers), answer.body, answer.bytes, answer.truncated];
}

/** An attempt row's answer columns as the driver returns them. */
export interface AnswerRow {
  response_headers: string | null;
  response_body: Uint8Array | null;
  response_bytes: number | string | null;
  response_truncated: boolean | number | null;
}

/** The answer kept in `row`, or null when none was. */
export function answerOf(row: AnswerRow): HandlerAnswer | null {
  if (row.response_headers === null && row.response_body === null && row.response_bytes === null) return null;
  return {
    headers: row.response_headers === null ? [] : (JSON.parse(row.response_headers) as [string, string][]),
    // Copied out of the driver's buffer, which it may reuse.
    body: row.response_body === null ? null : new Uint8Array(row.response_body),
    bytes: row.response_bytes === null ? null : Number(row.response_bytes),
    truncated: row.response_truncated === true || row.response_truncated === 1,
  };
}
