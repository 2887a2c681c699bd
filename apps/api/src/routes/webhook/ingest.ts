import { createHmac, randomBytes } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '@switchboard/config';
import { InvalidPayloadError, type NormalisedEvent, normaliseWebhook } from '@switchboard/meta';
import {
  dedupOptions,
  type InboundJob,
  type InboundPersonal,
  inboundJobId,
  inboundJobOptions,
  markEcho,
  parseSendMetadata,
  sentMarkerKey,
} from '@switchboard/queue';
import type { ApiResources } from '../../resources.js';
import { boundEvents, type RefusalReason } from './event-bounds.js';

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

/**
 * Items (events, and items skipped as malformed) one delivery may carry. Meta batches at most 1,000
 * updates per delivery; twice that leaves room for a WhatsApp change that carries several messages,
 * while a body of tens of thousands is refused before any of it is sealed or stored.
 */
export const MAX_ITEMS_PER_DELIVERY = 2000;

/**
 * Events sealed and sent to Redis per turn of the event loop. A large delivery is stored in chunks,
 * so the handshake, /health and other deliveries are served in between instead of waiting behind
 * one long stretch of sealing and script calls.
 */
export const STORE_CHUNK_EVENTS = 100;

export type IngestOutcome =
  | {
      kind: 'accepted';
      events: number;
      enqueued: number;
      duplicates: number;
      refused: Partial<Record<RefusalReason, number>>;
      truncated: number;
    }
  | { kind: 'invalid' }
  | { kind: 'too_many'; items: number }
  /** `stored`: the jobs of the chunks Redis confirmed before one failed (0 when Redis was down). */
  | { kind: 'unavailable'; stored: number; events: number };

/** How long a number's Business Account, once recorded, is not written again by this process. */
const BUSINESS_ACCOUNT_RECHECK_MS = 10 * 60 * 1000;

type Job = {
  name: string;
  data: InboundJob;
  opts: ReturnType<typeof inboundJobOptions> & ReturnType<typeof dedupOptions> & { jobId: string };
};

/**
 * Parse → normalise → bound → seal → enqueue with de-duplication, for one verified webhook body.
 * Redis sees one pipeline per STORE_CHUNK_EVENTS events, each sent without waiting for the one
 * before (the usual delivery, one event, is one round trip): `addBulk` pipelines one atomic
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
   * after the echo's job has waited its turn behind a backlog. Not awaited: the worker writes it
   * again when it processes the echo, so a failure here only delays a retried send; it is logged
   * and counted.
   */
  const noteEchoes = (events: NormalisedEvent[], log: FastifyBaseLogger) => {
    for (const e of events) {
      if (e.type !== 'echo' || !e.appId || e.appId !== config.meta.appId) continue;
      const sent = parseSendMetadata(e.metadata);
      if (!sent) continue;
      // The marker lives in the shard of the conversation the reply went to: the echo's recipient's
      // (an HMAC on the request path, so computed only when there is more than one shard to pick).
      const { shards } = resources;
      const shard =
        shards.count === 1
          ? 0
          : shards.ofJob({
              channel: e.channel,
              pageId: e.pageId,
              eventId: sent.eventId,
              senderHash: null,
              userHash: e.recipientId ? hash(e.recipientId) : undefined,
            });
      const key = sentMarkerKey(shards.tags[shard] as string, sent.eventId);
      markEcho(resources.redis, key, sent.part, e.mid ?? 'echo').catch((err: unknown) => {
        counters.count('state_write_failures', { what: 'echo_marker' });
        log.warn({ err: { message: (err as Error).message } }, "echo not noted on its reply's sent marker");
      });
    }
  };

  /** One chunk's jobs into Redis; resolves to the event ids it enqueued (not those an earlier delivery did). */
  const addChunk = async (chunk: Job[]): Promise<string[]> => {
    // One event (the usual delivery) goes through `add`: `addBulk` builds an ioredis pipeline,
    // which copies every one of BullMQ's ~50 script commands onto itself — measurable per request.
    const only = chunk.length === 1 ? chunk[0] : undefined;
    const added = only ? [await inboundQueue.add(only.name, only.data, only.opts)] : await inboundQueue.addBulk(chunk);
    // BullMQ answers a duplicate with the id of the job the first delivery created.
    return added.flatMap((job, i) => {
      const proposed = chunk[i] as Job;
      return job.id === proposed.opts.jobId ? [proposed.data.eventId] : [];
    });
  };

  /**
   * Stores `count` jobs, built and sent a chunk per turn of the event loop. A chunk goes out without
   * waiting for the one before: Redis runs one chunk's scripts while the next is sealed, and the
   * connection keeps them in order. After a chunk fails, no further one is sent. A chunk is a
   * pipeline, not a transaction, so a failure can leave the delivery stored in part; it is then not
   * acknowledged, and Meta's retry of the whole delivery finds the stored events already seen.
   */
  const store = async (
    count: number,
    build: (from: number, to: number) => Job[],
  ): Promise<{ newIds: string[] } | { failed: Error; stored: number }> => {
    if (count <= STORE_CHUNK_EVENTS) {
      try {
        return { newIds: await addChunk(build(0, count)) };
      } catch (err) {
        return { failed: err as Error, stored: 0 };
      }
    }
    let failed: Error | undefined;
    const pending: Array<Promise<{ ids: string[]; size: number } | null>> = [];
    for (let from = 0; from < count && !failed; from += STORE_CHUNK_EVENTS) {
      if (from > 0) await setImmediate();
      const chunk = build(from, Math.min(from + STORE_CHUNK_EVENTS, count));
      // Handled at once: a chunk may fail while the next one is being built.
      pending.push(
        addChunk(chunk).then(
          (ids) => ({ ids, size: chunk.length }),
          (err: unknown) => {
            failed ??= err as Error;
            return null;
          },
        ),
      );
    }
    const results = await Promise.all(pending);
    if (failed) return { failed, stored: results.reduce((n, r) => n + (r?.size ?? 0), 0) };
    return { newIds: results.flatMap((r) => r?.ids ?? []) };
  };

  /**
   * A WhatsApp webhook names the number's Business Account, whose subscription the token check
   * watches. Recorded when this process has not seen it lately (not on every delivery). Not
   * awaited: a failed write is forgotten as seen, so the number's next delivery tries again; it is
   * logged and counted.
   */
  const accountsSeen = new Map<string, { wabaId: string; at: number }>();
  const noteBusinessAccounts = (events: NormalisedEvent[], log: FastifyBaseLogger) => {
    const now = Date.now();
    for (const e of events) {
      if (!e.businessAccountId) continue;
      const seen = accountsSeen.get(e.pageId);
      if (seen && seen.wabaId === e.businessAccountId && now - seen.at < BUSINESS_ACCOUNT_RECHECK_MS) continue;
      if (accountsSeen.size >= 10_000) accountsSeen.clear();
      accountsSeen.set(e.pageId, { wabaId: e.businessAccountId, at: now });
      resources.pages.recordBusinessAccount(e.pageId, e.businessAccountId).catch((err: unknown) => {
        accountsSeen.delete(e.pageId);
        counters.count('state_write_failures', { what: 'business_account' });
        log.warn(
          { pageId: e.pageId, err: { message: (err as Error).message } },
          "WhatsApp number's Business Account not recorded",
        );
      });
    }
  };

  return async function ingest(raw: Buffer, log: FastifyBaseLogger): Promise<IngestOutcome> {
    const started = performance.now();
    let normalised: NormalisedEvent[];
    try {
      const result = normaliseWebhook(JSON.parse(raw.toString('utf8')));
      if (result.unknownObject) {
        counters.incr('webhooks_unknown_object');
        log.info({ object: result.object.slice(0, 64) }, 'webhook object type not handled; acknowledged');
        return { kind: 'accepted', events: 0, enqueued: 0, duplicates: 0, refused: {}, truncated: 0 };
      }
      const items = result.events.length + result.skipped;
      if (items > MAX_ITEMS_PER_DELIVERY) return { kind: 'too_many', items };
      if (result.skipped > 0) counters.incr('webhook_items_skipped', result.skipped);
      normalised = result.events;
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof InvalidPayloadError) return { kind: 'invalid' };
      throw err;
    }
    counters.incr('webhooks_received');
    const receivedAt = Date.now();
    const { events, refused, truncated } = boundEvents(normalised, receivedAt);
    for (const [reason, n] of Object.entries(refused)) counters.count('webhook_items_refused', { reason }, n);
    if (truncated > 0) counters.incr('webhook_texts_truncated', truncated);
    if (events.length === 0) return { kind: 'accepted', events: 0, enqueued: 0, duplicates: 0, refused, truncated };

    // The event id names the job, the dedup key and the PostgreSQL row: an HMAC, never a raw id.
    const byId = new Map<string, NormalisedEvent>();
    for (const event of events) byId.set(hash(event.dedupKey).slice(0, 32), event);
    const nonce = deliveryNonce();
    // In timestamp order, so the queue (FIFO) hands one conversation's events out in Meta's order.
    const ordered = [...byId].sort(([, a], [, b]) => a.timestamp - b.timestamp);
    // Earlier events of the same conversation in this delivery, so the worker keeps their order.
    // Worked out for the whole delivery before any chunk is stored: a job is `named` by a later one.
    const earlier = new Map<string, NonNullable<InboundJob['prev']>>();
    const named = new Set<string>();
    const prevs = ordered.map(([eventId, e]) => {
      if (!e.senderId || ordered.length === 1) return undefined;
      // The user the job routes by (an echo's recipient), so a named predecessor is in the same queue shard.
      const user = e.type === 'echo' && e.recipientId ? e.recipientId : e.senderId;
      const conversation = `${e.channel}:${e.pageId}:${user}`;
      const before = earlier.get(conversation);
      const mine = { eventId, jobId: inboundJobId(eventId, nonce), timestamp: e.timestamp };
      if (!before) {
        earlier.set(conversation, [mine]);
        return undefined;
      }
      const prev = before.slice(-MAX_PREDECESSORS);
      for (const p of prev) named.add(p.eventId);
      before.push(mine);
      return prev;
    });
    const toJob = (k: number): Job => {
      const [eventId, e] = ordered[k] as [string, NormalisedEvent];
      const prev = prevs[k];
      const personal: InboundPersonal = {
        senderId: e.senderId,
        text: e.text,
        payload: e.payload,
        appId: e.appId,
        metadata: e.metadata ?? null,
        mid: e.type === 'echo' || e.channel === 'whatsapp' ? e.mid : null,
      };
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
        ...(e.errorCode !== undefined ? { errorCode: e.errorCode } : {}),
        ...(prev ? { prev } : {}),
        ...(named.has(eventId) ? { named: true } : {}),
        sealed: sealer.sealJson(personal, eventId),
      };
      return {
        name: e.type,
        data,
        opts: { ...jobOptions, ...dedupOptions(eventId, e.channel), jobId: inboundJobId(eventId, nonce) },
      };
    };
    // Fail fast: BullMQ waits for a connection that is not there yet instead of failing, and the
    // producer must answer 503 at once so Meta retries (packages/queue/src/connections.ts).
    if (resources.redis.status !== 'ready') {
      log.error('redis unavailable: events not stored');
      return { kind: 'unavailable', stored: 0, events: events.length };
    }
    const outcome = await store(ordered.length, (from, to) =>
      Array.from({ length: to - from }, (_, i) => toJob(from + i)),
    );
    if ('failed' in outcome) {
      // Not acknowledged: Meta retries the whole delivery, and whatever did land is then a duplicate.
      log.error(
        { err: { message: outcome.failed.message }, stored: outcome.stored, events: ordered.length },
        outcome.stored > 0
          ? 'redis failed part of the delivery: not acknowledged'
          : 'redis unavailable: events not stored',
      );
      return { kind: 'unavailable', stored: outcome.stored, events: ordered.length };
    }
    const { newIds } = outcome;
    noteEchoes(events, log);
    noteBusinessAccounts(events, log);
    const duplicates = events.length - newIds.length;
    if (duplicates > 0) counters.incr('webhooks_deduplicated', duplicates);
    for (const id of newIds)
      counters.count('webhook_events_enqueued', { channel: (byId.get(id) as NormalisedEvent).channel });
    const ackMs = performance.now() - started;
    latency.record('ack', ackMs);
    counters.observe('webhook_ack_seconds', ackMs / 1000);
    return { kind: 'accepted', events: events.length, enqueued: newIds.length, duplicates, refused, truncated };
  };
}
