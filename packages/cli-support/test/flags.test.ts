import { expect, it } from 'vitest';
import { unknownFlags } from '../src/flags.js';

const known = { key: { help: true, dataDir: true, 'data-dir': true, json: true, retireOld: true }, alias: { help: ['h'] } };

it('accepts known flags in kebab or camel case, negated booleans and values', () => {
  expect(unknownFlags(['list', '--data-dir', 'x', '--dataDir=y', '--no-json', '--retire-old', '-h'], known)).toEqual([]);
});

it('names unknown long and short flags, and stops at --', () => {
  expect(unknownFlags(['--bogus', '-x', '--data-dir', 'd', '--', '--after'], known)).toEqual(['--bogus', '-x']);
});

it('does not mistake negative numbers or values for flags', () => {
  expect(unknownFlags(['--data-dir', '-1', 'value'], known)).toEqual([]);
});

it('names an unknown negated flag as it was typed', () => {
  expect(unknownFlags(['--no-bogus', '--no-json'], known)).toEqual(['--no-bogus']);
});

it('knows an option whose own name starts with no-', () => {
  expect(unknownFlags(['--no-color'], { key: { 'no-color': true }, alias: {} })).toEqual([]);
});
