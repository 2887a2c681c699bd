import type { DbHandle } from '@switchboard/db';

/**
 * The three PostgreSQL writes every answered message makes, each ONE statement (data-modifying
 * CTEs), so each costs one round trip and one commit. On the worker's hot path a transaction of
 * two drizzle statements costs four round trips (BEGIN, two statements, COMMIT), and the socket
 * writes to PostgreSQL were the worker's largest cost (docs/performance.md). Everything else
 * (rare paths: holds, dead letters) goes through drizzle.
 */

export interface ArrivalRow {
  eventId: string;
  channel: string;
  pageId: string;
  senderHash: string | null;
  midHash: string | null;
  type: string;
  /** Final outcome when the event gets no reply (recorded as processed at once), else null. */
  settled: string | null;
  eventAt: Date;
  receivedAt: Date;
  /** Whether this event counts as a message of its sender in `users`. */
  countsAsMessage: boolean;
}

/**
 * Records an event's arrival; on its first arrival also the user's message. A retried job only
 * bumps `attempts`. Returns what the row says now.
 */
export async function recordArrival(dbh: DbHandle, a: ArrivalRow): Promise<{ inserted: boolean; status: string; outcome: string | null }> {
  const status = a.settled ? 'processed' : 'processing';
  const rows = await dbh.sql<{ inserted: boolean; status: string; outcome: string | null }[]>`
    with ev as (
      insert into events (id, channel, page_id, sender_hash, mid_hash, type, status, outcome, processed_at, attempts, event_at, received_at)
      values (${a.eventId}, ${a.channel}, ${a.pageId}, ${a.senderHash}::text, ${a.midHash}::text, ${a.type}, ${status}, ${a.settled}::text,
              case when ${a.settled}::text is null then null else now() end, 1, ${a.eventAt.toISOString()}::timestamptz, ${a.receivedAt.toISOString()}::timestamptz)
      on conflict (id) do update set attempts = events.attempts + 1, updated_at = now()
      returning status, outcome, (xmax = 0) as inserted
    ), u as (
      insert into users (channel, sender_hash, page_id, message_count)
      select ${a.channel}::text, ${a.senderHash}::text, ${a.pageId}::text, 1 from ev where ev.inserted and ${a.countsAsMessage && a.senderHash !== null}::boolean
      on conflict (channel, sender_hash) do update set last_seen_at = now(), message_count = users.message_count + 1
    )
    select inserted, status, outcome from ev`;
  const row = rows[0];
  if (!row) throw new Error('event upsert returned no row');
  return row;
}

export interface ReplyRow {
  eventId: string;
  channel: string;
  pageId: string;
  senderHash: string;
  path: string;
  reason: string;
  decideMs: number;
}

/** The reply was decided and its send enqueued: record both (a reply row the send already wrote stays). */
export async function recordReplyQueued(dbh: DbHandle, r: ReplyRow): Promise<void> {
  await dbh.sql`
    with reply as (
      insert into replies (event_id, channel, page_id, sender_hash, path, reason, decide_latency_ms)
      values (${r.eventId}, ${r.channel}, ${r.pageId}, ${r.senderHash}, ${r.path}, ${r.reason}, ${r.decideMs})
      on conflict (event_id) do nothing
    )
    update events set status = 'processed', outcome = 'reply_queued', processed_at = now(), updated_at = now(), last_error = null
    where id = ${r.eventId}`;
}

/**
 * The send finished (sent, or dry run): the reply row (created from the job if the inbound side
 * has not written it yet), and a dead-lettered event that a replay delivered is no longer dead.
 */
export async function recordSendFinished(dbh: DbHandle, r: ReplyRow & { status: 'sent' | 'dry_run'; parts: number; messageIds: string[]; endToEndMs: number }): Promise<void> {
  const { sql } = dbh;
  await sql`
    with reply as (
      insert into replies (event_id, channel, page_id, sender_hash, path, reason, decide_latency_ms, status, parts, graph_message_ids, sent_at, end_to_end_ms, error_code)
      values (${r.eventId}, ${r.channel}, ${r.pageId}, ${r.senderHash}, ${r.path}, ${r.reason}, ${r.decideMs}, ${r.status}, ${r.parts},
              ${sql.array(r.messageIds)}, now(), ${r.endToEndMs}, null)
      on conflict (event_id) do update set status = excluded.status, parts = excluded.parts, graph_message_ids = excluded.graph_message_ids,
        sent_at = excluded.sent_at, end_to_end_ms = excluded.end_to_end_ms, error_code = null
    )
    update events set status = 'processed', last_error = null, last_error_code = null, updated_at = now()
    where id = ${r.eventId} and status = 'dead_letter'`;
}
