import { conversationId } from '@switchboard/queue';
import type { Redis } from 'ioredis';
import type { DbHandle } from '@switchboard/db';

/**
 * A conversation is one user with one Page, Instagram account or WhatsApp number. Its id is derived
 * from the channel, the page and the user's hash (itself an HMAC of the raw id), so every process
 * names the same conversation alike without a lookup, and the id reveals nothing. The queue package
 * defines it because it also picks the conversation's queue shard.
 */
export { conversationId };

export type ConversationStatus = 'active' | 'paused' | 'waiting_for_human';
export type PauseReason = 'staff_replied' | 'user_asked' | 'operator' | 'handover';

/**
 * What one inbound event means for its conversation:
 * - `user`: a message from the user (counted; the pause is unchanged — the worker records these
 *   with their event's row instead, apps/worker/src/records.ts);
 * - `keyword`: the user asked for a person (pauses, `user_asked`, unless already paused);
 * - `staff`: a person from the business wrote (pauses, `staff_replied`, from that message on);
 * - `handover_away`: another app owns the thread (pauses, `handover`);
 * - `handover_back`: control came back to us (ends the pause).
 * An operator's pause or resume (`operator_hold`) is changed only by the next `staff` event.
 */
export type ConversationEventKind = 'user' | 'keyword' | 'staff' | 'handover_away' | 'handover_back';

export interface ConversationEvent {
  channel: string;
  pageId: string;
  userHash: string;
  kind: ConversationEventKind;
  /** When the event happened (Meta's timestamp). */
  at: Date;
  /** Whether it is a message (of the user or the staff) to count. */
  counts: boolean;
  /** The pause length a pausing event starts. */
  pauseMs: number;
}

export interface ConversationState {
  id: string;
  status: ConversationStatus;
  pausedUntil: Date | null;
  pauseReason: PauseReason | null;
  /** This event started the pause now in force (a `keyword` that was answered, for one); extending one is not starting it. */
  pauseStarted: boolean;
}

/** Whether the conversation is paused at `now`. */
export function isPaused(state: Pick<ConversationState, 'pausedUntil'>, now = Date.now()): boolean {
  return state.pausedUntil !== null && state.pausedUntil.getTime() > now;
}

/**
 * The statement of recordConversationEvents ($1: the events as JSON). One upsert for every event
 * of a batch (ids distinct: the caller's batcher guarantees it). A pausing event leaves an
 * operator's hold alone, and a `keyword` leaves a pause already in force alone (so the person
 * asking twice gets the reply once); a `staff` event always pauses and ends the operator's hold.
 * The pause an event starts is recognised in RETURNING by its `paused_until`, which only this
 * statement can have written, and by the conversation not being paused for the same reason before
 * (`before` reads the rows as they were when the statement began): a staff message that extends
 * the staff's pause starts no new one.
 */
const RECORD_SQL = `
  with input as (
    select * from jsonb_to_recordset($1::jsonb) as t(
      id text, channel text, page_id text, user_hash text, kind text, at timestamptz, counts integer, pause_until timestamptz)
  ), before as (
    select id, pause_reason from conversations where id in (select id from input) and paused_until > now()
  )
  insert into conversations as c (id, channel, page_id, user_hash, status, paused_until, pause_reason, staff_at, last_message_at, message_count)
  select id, channel, page_id, user_hash,
    case kind when 'staff' then 'paused' when 'handover_away' then 'paused' when 'keyword' then 'waiting_for_human' else 'active' end,
    case when kind in ('staff', 'handover_away', 'keyword') then pause_until end,
    case kind when 'staff' then 'staff_replied' when 'handover_away' then 'handover' when 'keyword' then 'user_asked' end,
    case when kind = 'staff' then at end,
    at, counts
  from input
  on conflict (id) do update set
    last_message_at = greatest(c.last_message_at, excluded.last_message_at),
    message_count = c.message_count + excluded.message_count,
    staff_at = case when excluded.staff_at is null then c.staff_at else greatest(c.staff_at, excluded.staff_at) end,
    operator_hold = case when excluded.pause_reason = 'staff_replied' then false else c.operator_hold end,
    status = case
      when excluded.pause_reason = 'staff_replied' then 'paused'
      when c.operator_hold then c.status
      when excluded.pause_reason = 'handover' then 'paused'
      when excluded.pause_reason = 'user_asked' and not coalesce(c.paused_until > now(), false) then 'waiting_for_human'
      when (select kind from input where input.id = excluded.id) = 'handover_back' then 'active'
      else c.status end,
    paused_until = case
      when excluded.pause_reason = 'staff_replied' then greatest(excluded.paused_until, case when c.pause_reason = 'staff_replied' and not c.operator_hold then c.paused_until end)
      when c.operator_hold then c.paused_until
      when excluded.pause_reason = 'handover' then greatest(excluded.paused_until, c.paused_until)
      when excluded.pause_reason = 'user_asked' and not coalesce(c.paused_until > now(), false) then excluded.paused_until
      when (select kind from input where input.id = excluded.id) = 'handover_back' then null
      else c.paused_until end,
    pause_reason = case
      when excluded.pause_reason = 'staff_replied' then 'staff_replied'
      when c.operator_hold then c.pause_reason
      when excluded.pause_reason = 'handover' then 'handover'
      when excluded.pause_reason = 'user_asked' and not coalesce(c.paused_until > now(), false) then 'user_asked'
      when (select kind from input where input.id = excluded.id) = 'handover_back' then null
      else c.pause_reason end,
    updated_at = now()
  returning c.id, c.status, c.paused_until, c.pause_reason,
    (c.paused_until = (select pause_until from input where input.id = c.id)
      and not exists (select 1 from before where before.id = c.id and before.pause_reason = c.pause_reason)) as pause_started`;

/**
 * Records events in their conversations, one statement for the batch, and answers each
 * conversation's state after its event, in input order.
 */
export async function recordConversationEvents(
  dbh: Pick<DbHandle, 'sql'>,
  events: readonly ConversationEvent[],
): Promise<ConversationState[]> {
  const input = events.map((e) => ({
    id: conversationId(e.channel, e.pageId, e.userHash),
    channel: e.channel,
    page_id: e.pageId,
    user_hash: e.userHash,
    kind: e.kind,
    at: e.at.toISOString(),
    counts: e.counts ? 1 : 0,
    pause_until: new Date(e.at.getTime() + e.pauseMs).toISOString(),
  }));
  const rows = await dbh.sql.unsafe<
    Array<{
      id: string;
      status: ConversationStatus;
      paused_until: Date | string | null;
      pause_reason: PauseReason | null;
      pause_started: boolean | null;
    }>
  >(RECORD_SQL, [JSON.stringify(input)], { prepare: false });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return input.map((i) => {
    const r = byId.get(i.id);
    if (!r) throw new Error('conversation upsert returned no row');
    // Without a prepared statement postgres.js does not know the column types: timestamps come as text.
    return {
      id: r.id,
      status: r.status,
      pausedUntil: r.paused_until === null ? null : new Date(r.paused_until),
      pauseReason: r.pause_reason,
      pauseStarted: r.pause_started === true,
    };
  });
}

/**
 * The pause as the reply path reads it — before deciding a user's message, and right before every
 * Send API call: a Redis key per paused conversation that lives exactly as long as the pause,
 * holding its reason. PostgreSQL keeps the record; this copy makes each check one Redis round trip
 * instead of a query. Whoever changes a pause (the worker, an operator) writes it here too.
 *
 * Outside the queues' hash tag, unlike the conversation's other keys: it is only ever read or
 * written alone, which a Redis Cluster routes by the key itself, and PostgreSQL does not put a
 * missing gate back, so a new name would lift every pause in force when the name changed.
 */
export const pauseGateKey = (prefix: string, id: string) => `${prefix}:conv:${id}:paused`;

/** Mirrors a conversation's state into its pause gate: set while paused, gone otherwise. */
export async function writePauseGate(
  redis: Redis,
  prefix: string,
  state: { id: string; pausedUntil: Date | null; pauseReason: string | null },
  now = Date.now(),
): Promise<void> {
  const key = pauseGateKey(prefix, state.id);
  const left = state.pausedUntil ? state.pausedUntil.getTime() - now : 0;
  if (left > 0) await redis.set(key, state.pauseReason ?? 'operator', 'PX', left);
  else await redis.del(key);
}

/** The reason the conversation is paused now, or null. */
export async function readPauseGate(redis: Redis, prefix: string, id: string): Promise<PauseReason | null> {
  return (await redis.get(pauseGateKey(prefix, id))) as PauseReason | null;
}
