import { eq } from 'drizzle-orm';
import { type DbHandle, events } from '@switchboard/db';
import {
  type ConversationEvent,
  type ConversationState,
  conversationId,
  recordConversationEvents,
} from '@switchboard/pages';
import { Batcher } from '@switchboard/queue';
import type { SendFailure } from './send-errors.js';

/**
 * The PostgreSQL writes of an answered message — arrival and reply sent — each ONE statement
 * (data-modifying CTEs), so each costs one round trip and one commit, and each shared by the jobs
 * running at once (createHotWrites). On the worker's hot path a transaction of two drizzle
 * statements costs four round trips (BEGIN, two statements, COMMIT), and the socket writes to
 * PostgreSQL are the worker's largest cost. The reply row is written once, when its send
 * finishes: a separate "reply queued" write before it would change every answered event's row
 * (and its four indexes) once more and cost about a third of PostgreSQL's time (docs/performance.md,
 * decisions `pg-one-statement` and `reply-row-once`). Dead letters (a rare path) go through drizzle.
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
  /**
   * The conversation a user's message belongs to, when this statement is to record it there (its
   * last message, its count; ../conversations.ts): only on the event's first insert, like `users`.
   */
  conversationId?: string;
  /**
   * Which run of the event's job this is (BullMQ's attemptsStarted; default 1). An event answered
   * at its first run is recorded only with its reply, so a run after a crash may be the first to
   * write the row: it starts `attempts` at its own number.
   */
  attempt?: number;
}

/**
 * The `users` part of a statement that inserts events: each sender of a newly inserted event that
 * counts as a message gets its message counted (once per message, so a retried event is not
 * counted again). Expects CTEs `input` (channel, sender_hash, page_id, counts and the event id in
 * `idColumn`) and `ev` (id, inserted) before it. Shared by the arrival and the send-finished
 * statements, which both may insert an event.
 */
function countNewUsers(idColumn: 'id' | 'event_id'): string {
  return `
      insert into users (channel, sender_hash, page_id, message_count)
      select i.channel, i.sender_hash, min(i.page_id), count(*) from input i join ev on ev.id = i.${idColumn}
      where ev.inserted and i.counts
      group by i.channel, i.sender_hash
      on conflict (channel, sender_hash) do update set last_seen_at = now(), message_count = users.message_count + excluded.message_count`;
}

const USERS_OF_ARRIVALS = countNewUsers('id');

/**
 * The `conversations` part of the same statements: each conversation of a newly inserted message
 * gets its last message time and count, created if new (expects `input` with `conv_id`, `event_at`
 * and the event id in `idColumn`, and `ev`). A pause is not touched: the events that change one
 * are recorded by their own upsert (@switchboard/pages recordConversationEvents).
 */
function recordNewConversationMessages(idColumn: 'id' | 'event_id'): string {
  return `
      insert into conversations as c (id, channel, page_id, user_hash, last_message_at, message_count)
      select i.conv_id, i.channel, i.page_id, i.sender_hash, max(i.event_at), count(*) from input i join ev on ev.id = i.${idColumn}
      where ev.inserted and i.conv_id is not null
      group by i.conv_id, i.channel, i.page_id, i.sender_hash
      on conflict (id) do update set last_message_at = greatest(c.last_message_at, excluded.last_message_at),
        message_count = c.message_count + excluded.message_count, updated_at = now()`;
}

const CONVERSATIONS_OF_ARRIVALS = recordNewConversationMessages('id');

export interface ArrivalState {
  inserted: boolean;
  status: string;
  outcome: string | null;
}

/**
 * Records events' arrivals in one statement; on an event's first arrival also its user's message
 * (a user with several messages in the batch is counted once per message). A retried job only
 * bumps `attempts`. Answers what each row says now, in input order. Event ids must be distinct
 * (the batcher guarantees it).
 */
export async function recordArrivals(dbh: DbHandle, rows: readonly ArrivalRow[]): Promise<ArrivalState[]> {
  const input = rows.map((a) => ({
    id: a.eventId,
    channel: a.channel,
    page_id: a.pageId,
    sender_hash: a.senderHash,
    mid_hash: a.midHash,
    type: a.type,
    status: a.settled ? 'processed' : 'processing',
    outcome: a.settled,
    event_at: a.eventAt.toISOString(),
    received_at: a.receivedAt.toISOString(),
    counts: a.countsAsMessage && a.senderHash !== null,
    attempt: Math.max(1, a.attempt ?? 1),
    conv_id: a.conversationId ?? null,
  }));
  const result = await dbh.sql<(ArrivalState & { id: string })[]>`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as t(
        id text, channel text, page_id text, sender_hash text, mid_hash text, type text, status text, outcome text,
        event_at timestamptz, received_at timestamptz, counts boolean, attempt integer, conv_id text)
    ), ev as (
      insert into events (id, channel, page_id, sender_hash, mid_hash, type, status, outcome, processed_at, attempts, event_at, received_at)
      select id, channel, page_id, sender_hash, mid_hash, type, status, outcome,
             case when outcome is null then null else now() end, attempt, event_at, received_at
      from input
      on conflict (id) do update set attempts = greatest(events.attempts + 1, excluded.attempts), updated_at = now()
      returning id, status, outcome, (xmax = 0) as inserted
    ), u as (${dbh.sql.unsafe(USERS_OF_ARRIVALS)}
    ), conv as (${dbh.sql.unsafe(CONVERSATIONS_OF_ARRIVALS)})
    select id, inserted, status, outcome from ev`;
  const byId = new Map(result.map((r) => [r.id, r]));
  return rows.map((a) => {
    const r = byId.get(a.eventId);
    if (!r) throw new Error('event upsert returned no row');
    return { inserted: r.inserted, status: r.status, outcome: r.outcome };
  });
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

/** A reply row as the columns of the batched statements' JSON input (jsonb_to_recordset). */
function replyColumns(r: ReplyRow) {
  return {
    event_id: r.eventId,
    channel: r.channel,
    page_id: r.pageId,
    sender_hash: r.senderHash,
    path: r.path,
    reason: r.reason,
    decide_ms: r.decideMs,
  };
}

/**
 * The arrival of an event answered at its first run, written with its reply (one statement for
 * the whole message instead of two): the event row is inserted already processed, and its user
 * counted, by the send's statement.
 */
export type DeferredArrival = Pick<
  ArrivalRow,
  'midHash' | 'type' | 'eventAt' | 'receivedAt' | 'countsAsMessage' | 'conversationId'
>;

export type SendFinishedRow = ReplyRow & {
  status: 'sent' | 'dry_run';
  parts: number;
  messageIds: string[];
  endToEndMs: number;
  arrival?: DeferredArrival;
};

/**
 * Sends finished (sent, or dry run), in one statement: the reply rows (from the outbound job, which
 * carries the decision; a row a hold or a dead letter wrote is updated) and the events, processed
 * with outcome `replied` — also when one had been dead-lettered and a replay delivered it. A row
 * with `arrival` inserts its event (and counts its user) instead: the inbound job answered it at
 * its first run and wrote no arrival before (processors/inbound.ts). Event ids must be distinct
 * (the batcher guarantees it).
 */
export async function recordSendsFinished(dbh: DbHandle, rows: readonly SendFinishedRow[]): Promise<void[]> {
  // Not prepared: a prepared statement's cached generic plan is made once, early — on a young table
  // that is a sequential scan, kept while the table grows (seen in the bench). Planned each time,
  // it uses the primary key once the table is more than a few pages.
  await dbh.sql.unsafe(SENDS_FINISHED_SQL, [sendsFinishedInput(rows)], { prepare: false });
  return rows.map(() => undefined);
}

/** SENDS_FINISHED_SQL's $1: the rows as JSON, in the statement's column names. */
export function sendsFinishedInput(rows: readonly SendFinishedRow[]): string {
  return JSON.stringify(
    rows.map((r) => {
      const a = r.arrival;
      return {
        ...replyColumns(r),
        status: r.status,
        parts: r.parts,
        message_ids: r.messageIds,
        e2e_ms: r.endToEndMs,
        fresh: a !== undefined,
        ...(a
          ? {
              mid_hash: a.midHash,
              type: a.type,
              event_at: a.eventAt.toISOString(),
              received_at: a.receivedAt.toISOString(),
              counts: a.countsAsMessage,
              conv_id: a.conversationId ?? null,
            }
          : {}),
      };
    }),
  );
}

/**
 * The statement of recordSendsFinished ($1: sendsFinishedInput). The events of rows without an
 * arrival are found by `id = any(array(...))`, an index lookup: joined to the input instead
 * (`from input where …`), the planner sees a function that yields "100 rows" and reads the whole
 * events table on every statement (a hash join over a sequential scan), which grows with the
 * table — measured 6 ms per statement at 20 000 events, and it would be seconds at a month of
 * traffic. Rows with an arrival insert their event (an upsert through the primary key: a row that
 * exists after all is set processed like the others) and count their user as recordArrivals does.
 * Exported so a test can hold its plan to that (worker-records.test.ts).
 */
export const SENDS_FINISHED_SQL = `
    with input as (
      select * from jsonb_to_recordset($1::jsonb) as t(
        event_id text, channel text, page_id text, sender_hash text, path text, reason text, decide_ms integer, status text,
        parts integer, message_ids text[], e2e_ms integer,
        fresh boolean, mid_hash text, type text, event_at timestamptz, received_at timestamptz, counts boolean, conv_id text)
    ), reply as (
      insert into replies (event_id, channel, page_id, sender_hash, path, reason, decide_latency_ms, status, parts, graph_message_ids, sent_at, end_to_end_ms, error_code)
      select event_id, channel, page_id, sender_hash, path, reason, decide_ms, status, parts, message_ids, now(), e2e_ms, null from input
      on conflict (event_id) do update set status = excluded.status, parts = excluded.parts, graph_message_ids = excluded.graph_message_ids,
        sent_at = excluded.sent_at, end_to_end_ms = excluded.end_to_end_ms, error_code = null
    ), ev as (
      insert into events (id, channel, page_id, sender_hash, mid_hash, type, status, outcome, processed_at, attempts, event_at, received_at)
      select event_id, channel, page_id, sender_hash, mid_hash, type, 'processed', 'replied', now(), 1, event_at, received_at
      from input where fresh
      on conflict (id) do update set status = 'processed', outcome = 'replied', processed_at = coalesce(events.processed_at, now()),
        last_error = null, last_error_code = null, updated_at = now()
      returning id, (xmax = 0) as inserted
    ), u as (${countNewUsers('event_id')}
    ), conv as (${recordNewConversationMessages('event_id')}
    )
    update events set status = 'processed', outcome = 'replied', processed_at = coalesce(events.processed_at, now()),
      last_error = null, last_error_code = null, updated_at = now()
    where events.id = any(array(select event_id from input where not fresh))`;

/**
 * A send attempt failed: its cause goes on the event (`last_error`, and `last_error_code` when
 * Meta gave a code) at once, so an operator sees why while the send still waits for its retry.
 * Off the hot path: only failed attempts write it, and a delivered send clears it
 * (SENDS_FINISHED_SQL).
 */
export async function recordSendFailure(dbh: DbHandle, eventId: string, failure: SendFailure): Promise<void> {
  await dbh.db
    .update(events)
    .set({ lastError: failure.detail.slice(0, 500), lastErrorCode: failure.code, updatedAt: new Date() })
    .where(eq(events.id, eventId));
}

/** What PostgreSQL holds of an event: its status and outcome. */
export type RecordedEvent = Pick<ArrivalState, 'status' | 'outcome'>;

/**
 * The statement of readEvents ($1: the ids as a JSON array), found through the primary key like
 * SENDS_FINISHED_SQL's updates, and not prepared for the same reason (its cached generic plan,
 * made while the table is young, would scan the whole table).
 */
export const READ_EVENTS_SQL =
  'select id, status, outcome from events where id = any(array(select jsonb_array_elements_text($1::jsonb)))';

/**
 * Reads events' rows by primary key, one statement for the batch: the answer for each id, in
 * input order, null where PostgreSQL has no row. Read-only, so it costs no WAL and no commit flush.
 */
export async function readEvents(dbh: DbHandle, ids: readonly string[]): Promise<(RecordedEvent | null)[]> {
  const rows = (await dbh.sql.unsafe(READ_EVENTS_SQL, [JSON.stringify(ids)], {
    prepare: false,
  })) as unknown as (RecordedEvent & { id: string })[];
  const byId = new Map(rows.map((r) => [r.id, { status: r.status, outcome: r.outcome }]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** The hot-path statements, batched across the jobs running at once in this process (@switchboard/queue, batcher.ts). */
export interface HotWrites {
  arrival(row: ArrivalRow): Promise<ArrivalState>;
  sendFinished(row: SendFinishedRow): Promise<void>;
  /** The event's row, or null: asked before a first run answers, since Redis alone can lose its marks. */
  recorded(eventId: string): Promise<RecordedEvent | null>;
  /** The event in its conversation (@switchboard/pages recordConversationEvents); answers the conversation's state. */
  conversation(event: ConversationEvent): Promise<ConversationState>;
}

/**
 * How long a hot write waits for others before its statement starts. Waiting lets the writes of
 * every worker share statements and WAL flushes, and lets more jobs finish per wake-up: at full
 * load 15 ms cost the workers, Redis and PostgreSQL 10–15 % less CPU per message than no wait, and
 * with an answered message being one write (its arrival goes with its reply) 30 ms costs 6–10 %
 * less than 15 ms. A quiet worker adds at most 30 ms to a reply (docs/performance.md, decision
 * `write-linger`).
 */
export const HOT_WRITE_LINGER_MS = 30;

/**
 * One statement of each kind in flight at a time: the writes that arrive meanwhile wait and go
 * together. The inbound job sends the reply itself, so an event's writes are far apart, and with
 * two in flight the batches come out smaller (0.33–0.37 statements per message against 0.29–0.33
 * with one; PostgreSQL 386–395 against 296–365 µs per message: docs/performance.md, decision
 * `pg-batched-writes`).
 */
export function createHotWrites(dbh: DbHandle, maxInFlight = 1, lingerMs = HOT_WRITE_LINGER_MS): HotWrites {
  const arrivals = new Batcher<ArrivalRow, ArrivalState>((rows) => recordArrivals(dbh, rows), {
    key: (r) => r.eventId,
    maxInFlight,
    lingerMs,
  });
  const sends = new Batcher<SendFinishedRow, void>((rows) => recordSendsFinished(dbh, rows), {
    key: (r) => r.eventId,
    maxInFlight,
    lingerMs,
  });
  // No linger: the read stands before the reply is decided, so it is shared by the jobs that reach
  // it while one is in flight, and never waits for company.
  const reads = new Batcher<string, RecordedEvent | null>((ids) => readEvents(dbh, ids), { maxInFlight });
  const conversations = new Batcher<ConversationEvent, ConversationState>(
    (rows) => recordConversationEvents(dbh, rows),
    {
      key: (e) => conversationId(e.channel, e.pageId, e.userHash),
      maxInFlight,
      lingerMs,
    },
  );
  return {
    arrival: (row) => arrivals.add(row),
    sendFinished: (row) => sends.add(row),
    recorded: (eventId) => reads.add(eventId),
    conversation: (event) => conversations.add(event),
  };
}
