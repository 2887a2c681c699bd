import { eq, sql } from 'drizzle-orm';
import { replies } from '@switchboard/db';
import { messageStats, type MessageStats } from '../routes/ops/message-stats.js';
import type { OpsDeps } from '../routes/ops/ops-deps.js';
import { overview } from '../routes/ops/overview.js';
import { type ChartSeries, stackedBarChart } from '../views/bar-chart.js';
import { escapeHtml as e } from '../views/escape-html.js';
import { section } from './section.js';

const SERIES: ChartSeries[] = [
  { key: 'ai', label: 'AI reply', className: 's-ai' },
  { key: 'fallback', label: 'Fallback text', className: 's-fallback' },
  { key: 'paused', label: 'Paused (person handling)', className: 's-paused' },
  { key: 'failed', label: 'Failed', className: 's-failed' },
];

const hourLabel = (iso: string) => iso.slice(11, 16);
const dayLabel = (iso: string) =>
  new Date(iso).toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', timeZone: 'UTC' });

async function load(deps: OpsDeps) {
  const { db } = deps.resources.dbh;
  const [over, day, week, [dry]] = await Promise.all([
    overview(deps),
    messageStats(db, '24h'),
    messageStats(db, '7d'),
    db
      .select({ n: sql<number>`count(*)::int` })
      .from(replies)
      .where(eq(replies.status, 'dry_run')),
  ]);
  return { over, day, week, dryRun: dry?.n ?? 0, dryRunMode: !over.facebook_token.token_configured };
}

const bars = (stats: MessageStats, label: (iso: string) => string) =>
  stats.buckets.map((b) => ({
    label: label(b.start),
    values: { ai: b.ai, fallback: b.fallback, paused: b.paused, failed: b.failed },
  }));

/** How many people wrote, what the bot answered (sent, or only recorded in a dry run), and charts. */
export const activitySection = section({
  id: 'activity',
  title: 'Messages',
  load,
  render({ over, day, week, dryRun, dryRunMode }) {
    const m = over.message_counts;
    const queueRows = Object.entries(over.queues)
      .map(
        ([name, c]) =>
          `<tr><th scope="row">${e(name)}</th><td>${e(c.waiting ?? 0)}</td><td>${e(c.active ?? 0)}</td><td>${e(c.delayed ?? 0)}</td><td>${e(c.failed ?? 0)}</td></tr>`,
      )
      .join('');
    return `${dryRunMode ? '<p class="warn">Dry run: no Page token is configured, so replies are worked out and recorded but not sent to anyone.</p>' : ''}
<div class="grid">
  <div class="card"><div>Messages today (UTC)</div><div id="messages-today" class="big">${e(m.today)}</div></div>
  <div class="card"><div>In the last hour</div><div class="big">${e(m.last_hour)}</div></div>
  <div class="card"><div>All time</div><div class="big">${e(m.total)}</div></div>
  <div class="card"><div>People who wrote</div><div class="big">${e(over.system_stats.total_users)}</div></div>
  <div class="card"><div>Replies sent</div><div id="replies-sent" class="big">${e(over.system_stats.replies_sent)}</div></div>
  <div class="card"><div>Replies not sent (dry run)</div><div id="replies-dry-run" class="big">${e(dryRun)}</div><div class="muted">worked out and recorded, not sent</div></div>
</div>
<div class="charts">
${stackedBarChart('Messages per hour, last 24 hours (UTC)', SERIES, bars(day, hourLabel))}
${stackedBarChart('Messages per day, last 7 days (UTC)', SERIES, bars(week, dayLabel))}
</div>
<details><summary>Queues (for engineers)</summary><div class="table-wrap"><table><thead><tr><th scope="col">Queue</th><th scope="col">Waiting</th><th scope="col">Active</th><th scope="col">Delayed</th><th scope="col">Failed</th></tr></thead><tbody>${queueRows}</tbody></table></div></details>`;
  },
});
