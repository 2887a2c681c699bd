import type { Job } from 'bullmq';
import { and, desc, eq, gte } from 'drizzle-orm';
import { auditLog } from '@switchboard/db';
import { type DeadLetterJob, describeDeadLetter, listDeadLetters } from '../routes/ops/dead-letters.js';
import type { OpsDeps } from '../routes/ops/ops-deps.js';
import { DEAD_LETTER_QUEUES, type DeadLetterQueue, queuesOf } from '../routes/ops/queue-stats.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { describeFailure } from '../views/plain-language.js';
import { section } from './section.js';

/** Dead letters shown on the page; the rest are in GET /ops/dlq. */
const ROWS = 50;
/** Replays shown with their result: the last this many, of the last day. */
const REPLAYS = 10;
const REPLAY_WINDOW_MS = 86_400_000;

type ReplayResult =
  { kind: 'pending'; text: string } | { kind: 'done'; text: string } | { kind: 'failed'; job: DeadLetterJob };

interface Replay {
  id: string;
  at: string;
  /** What was replayed, in words: "a reply on Page …", not the queue's job id. */
  subject: string;
  result: ReplayResult;
}

/** A replayed job in words, from its queue and the Page its data names. */
function subjectOf(queue: DeadLetterQueue, pageId: string | null): string {
  const what = queue === 'outbound' ? 'a reply' : 'a message received';
  return pageId ? `${what} on Page ${pageId}` : what;
}

/** What became of a replayed job, read from BullMQ: still queued, sent, or dead-lettered again. */
async function replayResult(deps: OpsDeps, id: string): Promise<{ subject: string; result: ReplayResult }> {
  const colon = id.indexOf(':');
  const queue = id.slice(0, colon) as DeadLetterQueue;
  if (!DEAD_LETTER_QUEUES.includes(queue))
    return { subject: 'a message', result: { kind: 'done', text: 'Unknown queue' } };
  const bull = queuesOf(deps.resources)[queue];
  // The state first, then the job: a job read before it failed would be described without the
  // reason it failed with.
  const state = await bull.getJobState(id.slice(colon + 1));
  const job = (await bull.getJob(id.slice(colon + 1))) as Job | undefined;
  // Completed jobs are removed after a while: a replayed job that is gone went through.
  if (!job) return { subject: subjectOf(queue, null), result: { kind: 'done', text: 'Handled' } };
  const described = describeDeadLetter(queue, job);
  const subject = subjectOf(queue, described.page_id);
  if (state === 'failed') return { subject, result: { kind: 'failed', job: described } };
  if (state === 'completed') return { subject, result: { kind: 'done', text: 'Handled' } };
  if (state === 'active') return { subject, result: { kind: 'pending', text: 'Being handled now' } };
  return { subject, result: { kind: 'pending', text: 'Waiting to be handled again' } };
}

async function load(deps: OpsDeps) {
  const since = new Date(Date.now() - REPLAY_WINDOW_MS);
  const audits = await deps.resources.dbh.db
    .select({ target: auditLog.target, at: auditLog.at })
    .from(auditLog)
    .where(and(eq(auditLog.action, 'dlq.retry'), gte(auditLog.at, since)))
    .orderBy(desc(auditLog.id))
    .limit(REPLAYS * 3);
  // The newest replay of each job only.
  const seen = new Set<string>();
  const latest = audits.filter((a) => a.target && !seen.has(a.target) && seen.add(a.target)).slice(0, REPLAYS);
  const replays: Replay[] = await Promise.all(
    latest.map(async (a) => ({
      id: a.target as string,
      at: a.at.toISOString(),
      ...(await replayResult(deps, a.target as string)),
    })),
  );
  // Listed after the replays are read: a replay seen failing again is in the list too.
  const jobs = await listDeadLetters(deps.resources, ROWS);
  return { jobs, replays };
}

const when = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC` : 'unknown');

function reasonCell(reason: string): string {
  const plain = describeFailure(reason);
  return `<strong class="reason">${e(plain.text)}</strong> <span class="next">What to do: ${e(plain.next)}</span>`;
}

/**
 * Messages the bot gave up on, each with its reason in words and a replay button, then the recent
 * replays with what became of them: a replay that failed again says so, and why.
 */
export const deadLettersSection = section({
  id: 'dead-letters',
  title: 'Messages that could not be handled',
  heading: ({ jobs }) =>
    `Messages that could not be handled <span id="dlq-count" class="muted">(${e(jobs.length)})</span>`,
  load,
  render({ jobs, replays }) {
    const replayed = new Set(replays.map((r) => r.id));
    const rows = jobs.map(
      (j) => `<tr data-job-id="${e(j.id)}">
<td data-label="When">${e(when(j.failed_at))}${replayed.has(j.id) ? ' <span class="bad">(failed again after a replay)</span>' : ''}</td>
<td data-label="What happened">${reasonCell(j.reason)}</td>
<td data-label="Page" class="num">${e(j.page_id ?? '')}</td>
<td data-label="Tries" class="num">${e(j.attempts)}</td>
<td><button type="button" class="replay" id="replay-${e(j.id)}" data-action="replay" data-job-id="${e(j.id)}">Replay</button></td>
</tr>`,
    );
    const table =
      rows.length === 0
        ? '<p id="dlq-empty" class="muted">Nothing to replay: every message was handled.</p>'
        : `<div class="table-wrap"><table class="cards"><thead><tr><th scope="col">When</th><th scope="col">What happened</th><th scope="col">Page</th><th scope="col">Tries</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
    const replayRows = replays.map((r) => {
      const result =
        r.result.kind === 'failed'
          ? `<span class="bad">Failed again.</span> ${reasonCell(r.result.job.reason)}`
          : `<span class="${r.result.kind === 'done' ? 'ok' : 'muted'}">${e(r.result.text)}</span>`;
      return `<li class="replay-result" data-job-id="${e(r.id)}" data-result="${e(r.result.kind)}"><span class="muted">${e(when(r.at))}, ${e(r.subject)}:</span> ${result}</li>`;
    });
    return `${table}
${replayRows.length > 0 ? `<h3>Replays in the last 24 hours</h3><ul class="replays">${replayRows.join('')}</ul>` : ''}`;
  },
});
