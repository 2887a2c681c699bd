import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import { inArray, lt } from 'drizzle-orm';
import { conversations, type Database, events, replies } from '@switchboard/db';
import { releaseHeldSends, runTokenCheck, type TokenCheckSummary } from '@switchboard/pages';
import { maintenanceJobOptions, maintenanceJobSchema } from '@switchboard/queue';
import type { WorkerResources } from '../resources.js';

/**
 * One scheduler id per task: `upsertJobScheduler` keeps a single entry per id in Redis however
 * many workers call it at start, so each run happens once cluster-wide
 * (https://docs.bullmq.io/guide/job-schedulers).
 */
export const TOKEN_CHECK_SCHEDULER_ID = 'token-check-daily';
export const RETENTION_SCHEDULER_ID = 'retention-daily';
/** 02:00 UTC: the quiet hour for most audiences; retention follows once the check is done. */
const TOKEN_CHECK_PATTERN = '0 2 * * *';
const RETENTION_PATTERN = '30 3 * * *';
/** Workers starting within the same window share one start-up check (one job id per window). */
export const START_WINDOW_MS = 10 * 60_000;
/** Rows deleted per statement: short transactions, no long locks on the events table. */
const RETENTION_BATCH = 1000;
const DAY_MS = 24 * 3600 * 1000;

export function startCheckJobId(now: number): string {
  return `token-check-start-${Math.floor(now / START_WINDOW_MS)}`;
}

/** The daily chores, each under its own scheduler id. */
const DAILY_SCHEDULES = [
  { id: TOKEN_CHECK_SCHEDULER_ID, pattern: TOKEN_CHECK_PATTERN, task: 'token-check' },
  { id: RETENTION_SCHEDULER_ID, pattern: RETENTION_PATTERN, task: 'retention' },
] as const;

function declareSchedule(queue: Queue, schedule: (typeof DAILY_SCHEDULES)[number]) {
  return queue.upsertJobScheduler(
    schedule.id,
    { pattern: schedule.pattern, tz: 'UTC' },
    { name: schedule.task, data: { task: schedule.task, requestedBy: 'schedule' }, opts: maintenanceJobOptions() },
  );
}

/**
 * Called at worker start: (re)declares the daily schedulers — a new release may have changed them —
 * and adds the start-up token check with a job id derived from the start window, so workers started
 * together run it once (BullMQ ignores an add whose job id exists; completed maintenance jobs are
 * kept for days).
 */
export async function scheduleMaintenance(queue: Queue, now: number = Date.now()): Promise<void> {
  for (const schedule of DAILY_SCHEDULES) await declareSchedule(queue, schedule);
  await queue.add(
    'token-check',
    { task: 'token-check', requestedBy: 'worker-start' },
    { ...maintenanceJobOptions(), jobId: startCheckJobId(now) },
  );
}

/**
 * Declares again the daily schedulers Redis no longer has (its data was lost: FLUSHALL, a restart
 * without persistence), and answers which. Those it still has are left alone: re-declaring one
 * replaces its pending run, which is needless churn on every check.
 */
export async function restoreMaintenanceSchedules(queue: Queue): Promise<string[]> {
  const restored: string[] = [];
  for (const schedule of DAILY_SCHEDULES) {
    if (await queue.getJobScheduler(schedule.id)) continue;
    await declareSchedule(queue, schedule);
    restored.push(schedule.id);
  }
  return restored;
}

/** `graph.instagram.com` serves the Instagram token refresh; a stand-in Graph (tests, staging) serves both. */
export function instagramBaseUrl(graphBaseUrl: string): string | undefined {
  return graphBaseUrl === 'https://graph.facebook.com' ? 'https://graph.instagram.com' : undefined;
}

export function createMaintenanceProcessor(r: WorkerResources) {
  const { config, dbh, pages, heldSends, graph, logger } = r;
  const releaseDeps = { pages, heldSends, outbound: r.outboundQueue, maxAttempts: config.worker.sendMaxAttempts };
  return async function processMaintenance(job: Job): Promise<TokenCheckSummary | RetentionResult> {
    const parsed = maintenanceJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid maintenance job payload');
    const log = logger.child({
      queue: 'maintenance',
      job: job.id,
      task: parsed.data.task,
      requestedBy: parsed.data.requestedBy,
    });
    if (parsed.data.task === 'token-check') {
      return runTokenCheck({
        db: dbh.db,
        pages,
        graph,
        appId: config.meta.appId,
        defaultToken: config.meta.defaultPageToken,
        defaultWhatsAppToken: config.meta.defaultWhatsAppToken,
        releaseHeld: (pageId) => releaseHeldSends(releaseDeps, pageId),
        instagramBaseUrl: instagramBaseUrl(config.meta.graphBaseUrl),
        logger: log,
      });
    }
    const result = await runRetention(dbh.db, config.retentionDays);
    log.info({ ...result, retention_days: config.retentionDays }, 'retention finished');
    return result;
  };
}

export interface RetentionResult {
  events: number;
  replies: number;
  conversations: number;
}

/**
 * Deletes events, replies and conversations (by their last message) older than RETENTION_DAYS, in batches of RETENTION_BATCH so each
 * statement is short and the tables stay writable for the ingress and the workers meanwhile.
 */
export async function runRetention(
  db: Database,
  retentionDays: number,
  now: Date = new Date(),
  batch = RETENTION_BATCH,
): Promise<RetentionResult> {
  const cutoff = new Date(now.getTime() - retentionDays * DAY_MS);
  const result: RetentionResult = { events: 0, replies: 0, conversations: 0 };
  for (;;) {
    const doomed = db.select({ id: replies.eventId }).from(replies).where(lt(replies.createdAt, cutoff)).limit(batch);
    const deleted = await db.delete(replies).where(inArray(replies.eventId, doomed)).returning({ id: replies.eventId });
    result.replies += deleted.length;
    if (deleted.length < batch) break;
  }
  for (;;) {
    const doomed = db.select({ id: events.id }).from(events).where(lt(events.receivedAt, cutoff)).limit(batch);
    const deleted = await db.delete(events).where(inArray(events.id, doomed)).returning({ id: events.id });
    result.events += deleted.length;
    if (deleted.length < batch) break;
  }
  for (;;) {
    const doomed = db
      .select({ id: conversations.id })
      .from(conversations)
      .where(lt(conversations.lastMessageAt, cutoff))
      .limit(batch);
    const deleted = await db
      .delete(conversations)
      .where(inArray(conversations.id, doomed))
      .returning({ id: conversations.id });
    result.conversations += deleted.length;
    if (deleted.length < batch) break;
  }
  return result;
}
