import { randomBytes } from 'node:crypto';
import { type Database, events, replies } from '@switchboard/db';

/** What became of one seeded message, as the worker would have recorded it. */
export type SeededFate =
  | 'ai'
  | 'ai_dry_run'
  | 'fallback'
  | 'fallback_dry_run'
  | 'paused'
  | 'failed_event'
  | 'failed_reply'
  | 'unanswered'
  | 'not_a_message';

export interface SeededMessage {
  at: Date;
  fate: SeededFate;
}

/**
 * Rows in `events` (and `replies` where a reply was decided) shaped like the worker's, with
 * random hashes for ids: no personal data, only what the counts read.
 */
export async function seedMessages(db: Database, messages: SeededMessage[]): Promise<void> {
  for (const { at, fate } of messages) {
    const id = randomBytes(16).toString('hex');
    const senderHash = randomBytes(16).toString('hex');
    const status = fate === 'failed_event' ? 'dead_letter' : 'processed';
    const outcome =
      fate === 'paused'
        ? 'paused'
        : fate === 'unanswered'
          ? 'not_answered'
          : fate === 'not_a_message'
            ? 'recorded'
            : 'replied';
    await db.insert(events).values({
      id,
      channel: 'messenger',
      pageId: '1000000042',
      senderHash,
      type: fate === 'not_a_message' ? 'read' : 'text',
      status,
      outcome,
      eventAt: at,
      receivedAt: at,
    });
    const path = fate.startsWith('ai')
      ? 'ai'
      : fate.startsWith('fallback') || fate === 'failed_reply'
        ? 'fallback'
        : null;
    if (path === null) continue;
    await db.insert(replies).values({
      eventId: id,
      channel: 'messenger',
      pageId: '1000000042',
      senderHash,
      path,
      reason: path === 'ai' ? 'ai' : 'kill_switch',
      decideLatencyMs: 5,
      status: fate.endsWith('dry_run') ? 'dry_run' : fate === 'failed_reply' ? 'dead_letter' : 'sent',
      createdAt: at,
    });
  }
}
