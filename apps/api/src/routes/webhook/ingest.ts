import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '@switchboard/config';
import { InvalidPayloadError, type NormalisedEvent, normaliseWebhook } from '@switchboard/meta';
import { dedupOptions, echoField, type InboundJob, type InboundPersonal, inboundJobId, inboundJobOptions, parseSendMetadata, SENT_DONE_TTL_S, sentMarkerKey } from '@switchboard/queue';
import type { ApiResources } from '../../resources.js';

/**
 * A delivery nonce unique within this process (a random per-process prefix and a counter): it only
 * has to make one delivery's proposed job ids differ from another's, not be secret.
 */
const processNonce = randomBytes(4).toString('hex');
let deliveries = 0;
function deliveryNonce(): string {
  deliveries += 1;
  return `${processNonce}${deliveries.toString(36)}`;
}

/** At most this many predecessors are named per job (a longer same-user batch is chained by them). */
const MAX_PREDECESSORS = 20;

export type IngestOutcome =
  | { kind: 'accepted'; events: number; enqueued: number; duplicates: number }
  | { kind: 'invalid' }
  | { kind: 'unavailable' };

/**
 * Parse → normalise → seal → enqueue with de-duplication, for one verified webhook body.
 * Redis sees one round trip per request whatever the batch size: `addBulk` pipelines one atomic
 * add-unless-seen script per event (packages/queue/src/dedup.ts).
 */
export function createEventIngestor(config: Config, resources: ApiResources) {
  const { inboundQueue, sealer, counters, latency } = resources;
  const secret = config.privacy.psidHashSecret;
  const jobOptions = inboundJobOptions();
  const hash = (value: string) => createHmac('sha256', secret).update(value).digest('hex');

  /**
   * Meta's echoes of our own sends confirm delivery. A worker retrying a send that a crash
   * interrupted waits for exactly this (outbound.ts), so it is written here, at once, rather than
   * after the echo's job has waited its turn behind a backlog. Fire and forget: the worker writes
   * it again when it processes the echo.
   */
  const noteEchoes = (events: NormalisedEvent[]) => {
    for (const e of events) {
      if (e.type !== 'echo' || !e.appId || e.appId !== config.meta.appId) continue;
      const sent = parseSendMetadata(e.metadata);
      if (!sent) continue;
      const key = sentMarkerKey(config.queuePrefix, sent.eventId);
      resources.redis.multi().hset(key, echoField(sent.part), e.mid ?? 'echo').expire(key, SENT_DONE_TTL_S, 'NX').exec().catch(() => {});
    }
  };

  return async function ingest(raw: Buffer, log: FastifyBaseLogger): Promise<IngestOutcome> {
    const started = performance.now();
    let events: NormalisedEvent[];
    try {
      const result = normaliseWebhook(JSON.parse(raw.toString('utf8')));
      if (result.unknownObject) {
        counters.incr('webhooks_unknown_object');
        log.info({ object: result.object.slice(0, 64) }, 'webhook object type not handled; acknowledged');
        return { kind: 'accepted', events: 0, enqueued: 0, duplicates: 0 };
      }
      if (result.skipped > 0) counters.incr('webhook_items_skipped', result.skipped);
      events = result.events;
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof InvalidPayloadError) return { kind: 'invalid' };
      throw err;
    }
    counters.incr('webhooks_received');
    if (events.length === 0) return { kind: 'accepted', events: 0, enqueued: 0, duplicates: 0 };

    // The event id names the job, the dedup key and the PostgreSQL row: an HMAC, never a raw id.
    const byId = new Map<string, NormalisedEvent>();
    for (const event of events) byId.set(hash(event.dedupKey).slice(0, 32), event);
    const receivedAt = Date.now();
    const nonce = deliveryNonce();
    // In timestamp order, so the queue (FIFO) hands one conversation's events out in Meta's order.
    const ordered = [...byId].sort(([, a], [, b]) => a.timestamp - b.timestamp);
    // Earlier events of the same conversation in this delivery, so the worker keeps their order.
    const earlier = new Map<string, NonNullable<InboundJob['prev']>>();
    const named = new Set<string>();
    const jobs = ordered.map(([eventId, e]) => {
      const jobId = inboundJobId(eventId, nonce);
      let prev: InboundJob['prev'];
      if (e.senderId && ordered.length > 1) {
        const conversation = `${e.channel}:${e.pageId}:${e.senderId}`;
        const before = earlier.get(conversation) ?? [];
        if (before.length > 0) {
          prev = before.slice(-MAX_PREDECESSORS);
          for (const p of prev) named.add(p.eventId);
        }
        earlier.set(conversation, [...before, { eventId, jobId, timestamp: e.timestamp }]);
      }
      const personal: InboundPersonal = { senderId: e.senderId, text: e.text, payload: e.payload, appId: e.appId, metadata: e.metadata ?? null, mid: e.type === 'echo' ? e.mid : null };
      const data: InboundJob = {
        v: 1,
        eventId,
        channel: e.channel,
        pageId: e.pageId,
        type: e.type,
        senderHash: e.senderId ? hash(e.senderId) : null,
        ...(e.type === 'echo' && e.recipientId ? { userHash: hash(e.recipientId) } : {}),
        midHash: e.mid ? hash(e.mid) : null,
        timestamp: e.timestamp,
        receivedAt,
        standby: e.standby,
        ...(prev ? { prev } : {}),
        sealed: sealer.sealJson(personal, eventId),
      };
      return { name: e.type, data, opts: { ...jobOptions, ...dedupOptions(eventId), jobId } };
    });
    for (const job of jobs) if (named.has(job.data.eventId)) job.data.named = true;
    const newIds: string[] = [];
    // Fail fast: BullMQ waits for a connection that is not there yet instead of failing, and the
    // producer must answer 503 at once so Meta retries (packages/queue/src/connections.ts).
    if (resources.redis.status !== 'ready') {
      log.error('redis unavailable: events not stored');
      return { kind: 'unavailable' };
    }
    try {
      // One event (the usual delivery) goes through `add`: `addBulk` builds an ioredis pipeline,
      // which copies every one of BullMQ's ~50 script commands onto itself — measurable per request.
      const only = jobs.length === 1 ? jobs[0] : undefined;
      const added = only ? [await inboundQueue.add(only.name, only.data, only.opts)] : await inboundQueue.addBulk(jobs);
      // BullMQ answers a duplicate with the id of the job the first delivery created.
      added.forEach((job, i) => {
        const proposed = jobs[i];
        if (proposed && job.id === proposed.opts.jobId) newIds.push(proposed.data.eventId);
      });
    } catch (err) {
      // Nothing is acknowledged: Meta retries, and whatever did land is then a duplicate.
      log.error({ err: { message: (err as Error).message } }, 'redis unavailable: events not stored');
      return { kind: 'unavailable' };
    }
    noteEchoes(events);
    const duplicates = events.length - newIds.length;
    if (duplicates > 0) counters.incr('webhooks_deduplicated', duplicates);
    for (const id of newIds) counters.count('webhook_events_enqueued', { channel: (byId.get(id) as NormalisedEvent).channel });
    const ackMs = performance.now() - started;
    latency.record('ack', ackMs);
    counters.observe('webhook_ack_seconds', ackMs / 1000);
    return { kind: 'accepted', events: events.length, enqueued: newIds.length, duplicates };
  };
}
