import type { Redis } from 'ioredis';
import { GraphApiError, splitMessage } from '@switchboard/meta';
import { releaseHeldSends } from '@switchboard/pages';
import { echoField, type OutboundJob, type OutboundPersonal, SENDING, SENT_MARKER_TTL_S, sendMetadata, sentMarkerKey } from '@switchboard/queue';
import { recordReplyHeld } from './records.js';
import type { WorkerResources } from './resources.js';

export type SendOutcome = 'sent' | 'already_sent' | 'dry_run' | 'held';

/**
 * A send attempt that Meta refused (or that did not get an answer), classified
 * (@switchboard/meta classifyGraphError): `permanent` is dead-lettered at once, `transient` retried
 * with backoff (slower when `rateLimited`). It carries no personal data: the message is built from
 * Meta's error code, subcode and HTTP status only.
 */
export class SendFailure extends Error {
  override name = 'SendFailure';
  constructor(
    message: string,
    readonly kind: 'permanent' | 'transient',
    readonly rateLimited = false,
    readonly retryAfterMs: number | null = null,
    readonly code: number | null = null,
  ) {
    super(message);
  }
}

/** Where a send attempt stands: how many attempts went before it (a timed-out send is retried once). */
export interface Attempt {
  attemptsMade: number;
  jobId: string | undefined;
}

/** `HGETALL` of the marker, and when the part is not there yet and nothing is done, claim it. */
const CLAIM = `
local state = redis.call('HGETALL', KEYS[1])
if redis.call('HEXISTS', KEYS[1], 'done') == 0 and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return state`;

/** Sets fields of the marker and renews its expiry, atomically. */
const MARK = `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`;

type Scripted = Redis & {
  sbMarkClaim(key: string, part: string, ttl: number, sending: string): Promise<string[]>;
  sbMark(key: string, ttl: number, ...fields: string[]): Promise<number>;
};

function scripted(redis: Redis): Scripted {
  if (!('sbMarkClaim' in redis)) {
    redis.defineCommand('sbMarkClaim', { numberOfKeys: 1, lua: CLAIM });
    redis.defineCommand('sbMark', { numberOfKeys: 1, lua: MARK });
  }
  return redis as Scripted;
}

/** Sets fields of a reply-sent marker and renews its expiry (one script call, no MULTI). */
export async function markSent(redis: Redis, key: string, ...fields: string[]): Promise<void> {
  await scripted(redis).sbMark(key, SENT_MARKER_TTL_S, ...fields);
}

function toRecord(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

/**
 * Sends one reply through the Graph Send API, exactly once in effect: a per-event marker
 * (@switchboard/queue sent-marker) says, per part, "sending" before the call and Meta's message id
 * after it, so an attempt repeated after a crash, a timeout or a stalled lock skips what already
 * went out; a part left "sending" (the process died mid-call, or the call timed out) is settled by
 * Meta's echo of it, and sent again only if no echo comes within SEND_ECHO_WAIT_MS (README,
 * "Delivery guarantees"). Claiming a part and reading what went before is one Lua script, one round
 * trip; recording its message id another.
 *
 * Errors follow one table (@switchboard/meta classifyGraphError): transient/rate-limited →
 * SendFailure('transient'); permanent/page-restricted → SendFailure('permanent'); token invalid →
 * the Page's token is marked invalid and the send held until a new token is registered ('held').
 */
export function createSender(r: WorkerResources) {
  const { config, dbh, counters, latency, pages, graph, logger } = r;
  const redis = scripted(r.redis);

  return async function deliver(data: OutboundJob, personal: OutboundPersonal, attempt: Attempt): Promise<SendOutcome> {
    const log = logger.child({ job: attempt.jobId, attempt: attempt.attemptsMade + 1, eventId: data.eventId, pageId: data.pageId });
    const parts = splitMessage(personal.text, data.channel);
    const resolved = await pages.resolve(data.pageId);
    if (!resolved) {
      // No token known for this page: dry run (CONTRACT §2 FACEBOOK_PAGE_ACCESS_TOKEN).
      log.info({ parts: parts.length, path: data.path, reason: data.reason }, 'dry run: no page token known; reply recorded, not sent');
      await finish(data, 'dry_run', parts.length, []);
      counters.count('sends', { result: 'dry_run' });
      return 'dry_run';
    }
    const marker = sentMarkerKey(config.queuePrefix, data.eventId);
    if (resolved.status === 'invalid') {
      const before = await redis.hgetall(marker);
      if (before.done) return alreadySent(data, before);
      return hold(data, log);
    }

    const messageIds: string[] = [];
    for (const [index, text] of parts.entries()) {
      const before = toRecord(await redis.sbMarkClaim(marker, String(index), SENT_MARKER_TTL_S, SENDING));
      // Sent before a crash or stall: make sure the record says so, send nothing.
      if (before.done) return alreadySent(data, before);
      const state = before[String(index)];
      if (state && state !== SENDING) {
        messageIds.push(state);
        continue;
      }
      if (state === SENDING) {
        // A previous attempt died mid-call: Meta may have delivered this part. Its echo says so.
        const echoed = before[echoField(index)] ?? (await waitForEcho(marker, index));
        if (echoed) {
          log.info({ part: index }, "part confirmed by Meta's echo; not sent again");
          messageIds.push(echoed);
          await markPart(marker, index, echoed, index === parts.length - 1);
          continue;
        }
        log.warn({ part: index }, 'no echo for a part whose send was interrupted; sending it again');
      }
      try {
        const result = await graph.sendText({
          pageId: data.pageId,
          accessToken: resolved.token,
          recipientId: personal.recipientId,
          text,
          metadata: sendMetadata(data.eventId, index),
        });
        messageIds.push(result.messageId);
        await markPart(marker, index, result.messageId, index === parts.length - 1);
      } catch (err) {
        if (!(err instanceof GraphApiError)) throw err;
        // Meta answered with an error: this part was not delivered, nothing to wait for on retry.
        if (err.status !== null && !err.timeout) await redis.hdel(marker, String(index));
        counters.count('send_errors', { code: err.code ?? (err.status ? `http_${err.status}` : 'network'), kind: err.kind });
        if (err.kind === 'token_invalid') {
          await pages.markInvalid(data.pageId, data.channel, `graph error ${err.code ?? ''}`.trim());
          log.error({ code: err.code, subcode: err.subcode, fbtrace_id: err.fbtraceId }, "page token rejected by Meta; holding this page's sends");
          return hold(data, log);
        }
        const detail = `graph ${err.kind} code=${err.code ?? 'none'} subcode=${err.subcode ?? 'none'} status=${err.status ?? 'none'}`;
        if (err.kind === 'permanent' || err.kind === 'page_restricted') {
          log.warn({ code: err.code, subcode: err.subcode, fbtrace_id: err.fbtraceId, kind: err.kind }, 'permanent send error; dead-lettered');
          throw new SendFailure(detail, 'permanent', false, null, err.code);
        }
        // A timed-out send may have been delivered: retry it at most once (META-PLATFORM.md).
        if (err.timeout && attempt.attemptsMade >= 1) throw new SendFailure(`${detail} timeout`, 'permanent', false, null, err.code);
        counters.count('sends', { result: 'retried' });
        log.warn({ code: err.code, subcode: err.subcode, kind: err.kind, fbtrace_id: err.fbtraceId }, 'transient send error; will retry');
        throw new SendFailure(detail, 'transient', err.kind === 'rate_limited', err.retryAfterMs, err.code);
      }
    }
    await finish(data, 'sent', parts.length, messageIds);
    const e2e = Date.now() - data.receivedAt;
    latency.record('reply_e2e', e2e);
    counters.count('sends', { result: 'ok' });
    counters.count('replies_sent', { channel: data.channel, path: data.path, reason: data.reason });
    counters.observe('reply_latency_seconds', e2e / 1000, { channel: data.channel });
    log.info({ parts: parts.length, path: data.path, reason: data.reason, e2e_ms: e2e }, 'reply sent');
    return 'sent';
  };

  async function alreadySent(data: OutboundJob, marker: Record<string, string>): Promise<SendOutcome> {
    const ids = Object.entries(marker)
      .filter(([k]) => /^\d+$/.test(k))
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([, v]) => v);
    await finish(data, 'sent', ids.length, ids);
    counters.count('sends', { result: 'already_sent' });
    return 'already_sent';
  }

  /** Records a delivered part; the last part's write also says "done". */
  async function markPart(marker: string, index: number, messageId: string, last: boolean): Promise<void> {
    const fields = last ? [String(index), messageId, 'done', '1'] : [String(index), messageId];
    await markSent(redis, marker, ...fields);
  }

  /** Polls for Meta's echo of one part, up to SEND_ECHO_WAIT_MS. */
  async function waitForEcho(marker: string, index: number): Promise<string | null> {
    const deadline = Date.now() + config.worker.sendEchoWaitMs;
    for (;;) {
      const echoed = await redis.hget(marker, echoField(index));
      if (echoed || Date.now() >= deadline) return echoed;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async function finish(data: OutboundJob, status: 'sent' | 'dry_run', parts: number, messageIds: string[]) {
    await r.writes.sendFinished({
      eventId: data.eventId,
      channel: data.channel,
      pageId: data.pageId,
      senderHash: data.senderHash,
      path: data.path,
      reason: data.reason,
      decideMs: data.decideMs ?? 0,
      status,
      parts,
      messageIds,
      endToEndMs: Date.now() - data.receivedAt,
    });
  }

  /**
   * Holds the send (not retried in a loop, not lost) until a new token is registered. If the token
   * was replaced while we were holding, release at once so nothing waits for a PUT that already came.
   */
  async function hold(data: OutboundJob, log: typeof logger): Promise<SendOutcome> {
    await pages.hold(data.pageId, { eventId: data.eventId, data: JSON.stringify(data) });
    await recordReplyHeld(dbh, {
      eventId: data.eventId,
      channel: data.channel,
      pageId: data.pageId,
      senderHash: data.senderHash,
      path: data.path,
      reason: data.reason,
      decideMs: data.decideMs ?? 0,
    });
    counters.count('sends', { result: 'held' });
    log.warn('send held until a new page token is registered');
    await releaseHeldSends(pages, r.outboundQueue, config.worker.sendMaxAttempts, data.pageId);
    return 'held';
  }
}

export type Deliver = ReturnType<typeof createSender>;
