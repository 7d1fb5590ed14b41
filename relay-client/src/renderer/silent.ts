import type { Renderer } from './renderer.js';

const ignore = (): void => undefined;

/** A renderer that shows nothing: the default of `listen` when used as a library. */
export const silentRenderer: Renderer = Object.freeze({
  starting: ignore,
  connecting: ignore,
  connected: ignore,
  subscribed: ignore,
  reconnecting: ignore,
  eventReceived: ignore,
  forwarded: ignore,
  backlog: ignore,
  hint: ignore,
  error: ignore,
  stopping: ignore,
  summary: ignore,
});
