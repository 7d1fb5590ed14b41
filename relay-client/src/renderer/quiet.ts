import type { ForwardedInfo, ReconnectingInfo, Renderer } from './renderer.js';
import { silentRenderer } from './silent.js';

/**
 * `--quiet`: passes on only what needs attention (errors, failed forwards, lost connections)
 * and the summary; everything that went well is dropped.
 */
export function quietRenderer(inner: Renderer): Renderer {
  return {
    ...silentRenderer,
    reconnecting: (info: ReconnectingInfo) => inner.reconnecting(info),
    forwarded: (info: ForwardedInfo) => {
      if (!info.outcome.ok || info.answer === 'lost') inner.forwarded(info);
    },
    error: (info) => inner.error(info),
    // A hint says why events are missing; that needs attention as much as a failure.
    hint: (info) => inner.hint(info),
    summary: (info) => inner.summary(info),
  };
}
