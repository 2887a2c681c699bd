import { type OutboundJob, outboundJobOptions, type ShardedQueue } from '@switchboard/queue';
import type { HeldSends } from './held-sends.js';
import type { PageTokenStore } from './token-store.js';

export interface ReleaseDeps {
  pages: PageTokenStore;
  heldSends: HeldSends;
  /** The send queue: it adds each job to its conversation's shard (the held job's data names it). */
  outbound: Pick<ShardedQueue, 'addBulk'>;
  /** SEND_MAX_ATTEMPTS, for the new outbound jobs. */
  maxAttempts: number;
}

/**
 * Re-enqueues a page's held sends once its token is usable again (read past the cache: the new
 * token may have been stored by another process): used by the API (a new token was registered)
 * and the worker (a token came back while a send was being held, or a check found it valid). Each
 * gets a new job id, named after its hold (the held job itself completed as "held"): two releases
 * that run at once add the same job id, which BullMQ takes once, while a completed job is kept (an
 * hour) — long past any release that read the same hold. The reply-sent marker stops the rest.
 */
export async function releaseHeldSends(deps: ReleaseDeps, pageId: string): Promise<number> {
  const resolved = await deps.pages.resolveFresh(pageId);
  // A restricted number waits for an operator (a new token, or the release route), not for a check.
  if (!resolved || resolved.status === 'invalid' || resolved.restrictedReason !== null) return 0;
  const options = outboundJobOptions(deps.maxAttempts);
  return deps.heldSends.release(pageId, async (sends) => {
    const stamp = Date.now();
    await deps.outbound.addBulk(
      sends.map((s) => ({
        name: 'send',
        data: JSON.parse(s.data) as OutboundJob,
        opts: { ...options, jobId: s.holdId ? `${s.eventId}-h${s.holdId}` : `${s.eventId}-r${stamp}` },
      })),
    );
  });
}
