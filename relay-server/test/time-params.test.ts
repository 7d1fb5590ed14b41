import { describe, expect, it } from 'vitest';
import { timeParam } from '../src/api/params.js';
import { RelayError } from '../src/errors.js';

const now = new Date('2024-05-01T12:00:00.000Z');

describe('API since/before', () => {
  it.each([
    ['2024-05-01T10:00:00Z', '2024-05-01T10:00:00.000Z'],
    ['2024-05-01T15:30+05:30', '2024-05-01T10:00:00.000Z'],
    ['2h', '2024-05-01T10:00:00.000Z'],
    ['1.5h', '2024-05-01T10:30:00.000Z'],
  ])('reads %s', (value, expected) => {
    expect(timeParam('since', value, now)?.toISOString()).toBe(expected);
  });

  it.each([['2024-05-01T10:00'], ['May 1 2024'], ['2024'], ['now'], ['30'], ['yesterday']])('refuses %j with RELAY_E_INVALID_QUERY', (value) => {
    let caught: unknown;
    try {
      timeParam('since', value, now);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RelayError);
    expect((caught as RelayError).code).toBe('RELAY_E_INVALID_QUERY');
    expect((caught as RelayError).message).toContain('since');
  });
});
