import { afterEach } from 'vitest';

/** Undoes one thing a test set up: closes a store or a server, drops a schema, removes a directory. */
export type CleanupStep = () => unknown;

/**
 * The cleanup list of a test file: a test pushes a step for each thing it sets up, and after each
 * test the steps run one at a time, newest first (a store closes before its schema is dropped).
 */
export function cleanupAfterEach(): CleanupStep[] {
  const steps: CleanupStep[] = [];
  afterEach(async () => {
    while (steps.length > 0) await steps.pop()?.();
  });
  return steps;
}
