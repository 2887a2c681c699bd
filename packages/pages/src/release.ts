import { outboundJobOptions } from '@switchboard/queue';
import type { PageRegistry } from './registry.js';

interface OutboundProducer {
  addBulk(jobs: Array<{ name: string; data: unknown; opts?: object }>): Promise<unknown>;
}

/**
 * Re-enqueues a page's held sends once its token is usable again: used by the API (a new token was
 * registered) and the worker (a token came back while a send was being held, or a check found it
 * valid). Each gets a new job id — the held job itself completed as "held" — and the reply-sent
 * marker keeps a release that runs twice from sending twice.
 */
export function releaseHeldSends(pages: PageRegistry, outbound: OutboundProducer, maxAttempts: number, pageId: string): Promise<number> {
  const options = outboundJobOptions(maxAttempts);
  return pages.releaseHeld(pageId, async (sends) => {
    const stamp = Date.now();
    await outbound.addBulk(sends.map((s) => ({ name: 'send', data: JSON.parse(s.data), opts: { ...options, jobId: `${s.eventId}-r${stamp}` } })));
  });
}
