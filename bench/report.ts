/**
 * The results: one table per part on stdout, then the target ratios as the very last line
 * (`ratios: … targets met|MISSED`), which scripts and the docs quote.
 */
import type { CostResult } from './cost.js';
import type { IngressRow } from './ingress.js';
import { MESSAGES_PER_BATCH } from './payload.js';
import type { PipelineResult } from './pipeline.js';
import type { RateSearchResult } from './rate.js';
import type { SoakResult } from './soak.js';
import { STEADY_GROUPS, type SteadyResult } from './steady.js';

interface Report {
  hardware: string;
  settings: { n: number; soakS: number; durationS: number; connections: number; rounds: number };
  ingress: IngressRow[] | undefined;
  pipeline: PipelineResult | undefined;
  cost?: CostResult | undefined;
  soak: SoakResult | undefined;
  steady?: SteadyResult | undefined;
  rate?: (RateSearchResult & { noopJobsPerS: number }) | undefined;
  ladder?: IngressRow[] | undefined;
}

const MiB = 2 ** 20;
const DAY = 86_400;
const PER_DAY = 1_000_000;
const BULLMQ_COMPLETED_CAP = 10_000;

function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...cells.slice(1).map(line),
  ].join('\n');
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

export function printReport(r: Report): void {
  const out: string[] = [r.hardware, ''];
  const ratios: string[] = [];
  let met = true;
  // Three decimals where two would round a value onto its limit, so that what is printed never
  // looks like the other side of it: 0.098 → "0.10" for "<0.10", 0.146 → "0.15" for ">=0.15".
  const target = (name: string, value: number, ok: boolean, goal: string, digits = 2) => {
    const limit = Number(goal.replace(/^[<>=]+/, ''));
    const shown = Number.isFinite(value) && Number(value.toFixed(digits)) === limit ? Math.max(3, digits) : digits;
    ratios.push(`${name}=${Number.isFinite(value) ? value.toFixed(shown) : 'n/a'} (${goal})`);
    if (!ok) met = false;
  };

  if (r.ingress) {
    const rate = r.ingress[2]?.max.rps ? Math.floor((r.ingress[2]?.max.rps ?? 0) / 2) : 0;
    out.push(
      `## Ingress — ${MESSAGES_PER_BATCH}-message Messenger batch (~1.1 KB), ${r.settings.connections} connections, ${r.settings.durationS} s per measurement, median of ${r.settings.rounds} rounds`,
    );
    out.push(
      table(
        [
          'route',
          'req/s',
          'req/s range',
          'p50 ms',
          'p99 ms',
          `p50 ms @${rate}/s`,
          `p99 ms @${rate}/s`,
          'CPU µs/req server / redis / bench',
        ],
        r.ingress.map((row) => [
          row.route,
          f0(row.max.rps),
          row.rpsRange ? `${f0(row.rpsRange[0])}–${f0(row.rpsRange[1])}` : 'n/a',
          row.max.p50,
          row.max.p99,
          row.half?.p50 ?? 'n/a',
          row.half?.p99 ?? 'n/a',
          [row.cpuUsPerReq, row.redisUsPerReq, row.benchUsPerReq].map((x) => f0(x ?? Number.NaN)).join(' / '),
        ]),
      ),
    );
    out.push('');
    const large = r.ingress[2]?.largeDelivery;
    if (large) {
      out.push(
        `One delivery of ${large.items} events acknowledged in ${f0(large.ms)} ms, one of 1 event in ${f1(large.baselineMs)} ms (medians, one request at a time): ${f0(large.ms / large.baselineMs)}× the single event, ${f0((large.ms * 1000) / large.items)} µs per event.`,
      );
      out.push('');
    }
    const [a, b, c] = r.ingress as [IngressRow, IngressRow, IngressRow];
    target('c/b', c.max.rps / b.max.rps, c.max.rps / b.max.rps >= 0.8, '>=0.80');
    target('c/a', c.max.rps / a.max.rps, c.max.rps / a.max.rps >= 0.3, '>=0.30');
    const p99 = c.half?.p99 ?? Number.NaN;
    ratios.push(`c_p99_at_half=${p99}ms (<=10)`);
    if (!(p99 <= 10)) met = false;
  }

  if (r.ladder) {
    const bill = (row: IngressRow) =>
      (row.cpuUsPerReq ?? Number.NaN) + (row.redisUsPerReq ?? Number.NaN) + (row.benchUsPerReq ?? Number.NaN);
    const floor = r.ladder[0] as IngressRow;
    out.push(
      `## Ladder — from the floor (b) to /webhook (c), the real work a piece at a time; ${r.settings.connections} connections, ${r.settings.durationS} s per measurement, median of ${r.settings.rounds} rounds`,
    );
    out.push(
      table(
        [
          'route',
          'req/s',
          'req/s range',
          'CPU µs/req server / redis / bench',
          'machine µs/req',
          'added by the step',
          'req/s ÷ (b)',
        ],
        r.ladder.map((row, i) => [
          row.route,
          f0(row.max.rps),
          row.rpsRange ? `${f0(row.rpsRange[0])}–${f0(row.rpsRange[1])}` : 'n/a',
          [row.cpuUsPerReq, row.redisUsPerReq, row.benchUsPerReq].map((x) => f0(x ?? Number.NaN)).join(' / '),
          f0(bill(row)),
          i === 0 ? '' : `${f0(bill(row) - bill(r.ladder?.[i - 1] as IngressRow))} µs`,
          f2(row.max.rps / floor.max.rps),
        ]),
      ),
    );
    out.push(
      `(machine µs/req: server + Redis + load generator, the bill that sets req/s once the two cores are busy; c/b >= 0.80 needs (c)'s within 1.25 × (b)'s, i.e. ${f0(bill(floor) * 1.25)} µs in this run; the ladder has no target of its own)`,
    );
    out.push('');
  }

  if (r.pipeline) {
    const p = r.pipeline;
    out.push(
      `## Pipeline — ${p.aiOff.messages} messages, API + 2 workers (concurrency ${p.baseline.concurrency}) → fake Graph`,
    );
    const row = (name: string, x: PipelineResult['aiOff']) => [
      name,
      f0(x.messagesPerS),
      f0(x.p50),
      f0(x.p99),
      `${x.sends}/${x.messages}`,
      x.duplicates,
      x.missing,
      `${f0(x.rssApi / MiB)} / ${x.rssWorkers.map((w) => f0(w / MiB)).join(' + ')}`,
      `${f0(x.cpuApiMs * 1000)} / ${f0(x.cpuWorkersMs * 1000)} / ${f0(x.cpuPostgresMs * 1000)} / ${f0(x.cpuRedisMs * 1000)} / ${f0(x.cpuBenchMs * 1000)}`,
      x.contextSwitches.toFixed(1),
      f0(x.redisCommands),
    ];
    out.push(
      table(
        [
          'run',
          'msg/s',
          'ack→send p50 ms',
          'ack→send p99 ms',
          'sends',
          'dupl.',
          'missing',
          'RSS MiB api / workers',
          'CPU µs/msg api / workers / postgres / redis / bench',
          'ctx switches/msg',
          'redis cmds/msg',
        ],
        [
          [
            'no-op BullMQ worker baseline (jobs/s; per job)',
            f0(p.baseline.jobsPerS),
            '',
            '',
            '',
            '',
            '',
            '',
            // The bench column is the adding of the jobs (addBulk), the load generator's part here.
            [
              '–',
              f0(p.baseline.cpuWorkersMs * 1000),
              '–',
              f0(p.baseline.cpuRedisMs * 1000),
              f0(p.baseline.cpuBenchMs * 1000),
            ].join(' / '),
            p.baseline.contextSwitches.toFixed(1),
            '',
          ],
          row('AI off (fallback reply)', p.aiOff),
          row(`AI on, memory on (fake Gemini 50 ms; ${p.aiOn.aiReplies} AI replies)`, p.aiOn),
          row(`AI on, memory off (${p.aiOnNoMemory.aiReplies} AI replies)`, p.aiOnNoMemory),
          row('AI on, memory off, again', p.aiOnNoMemoryAgain),
          row('AI on, memory on, again', p.aiOnAgain),
        ],
      ),
    );
    out.push('');
    target(
      'e2e/noop',
      p.aiOff.messagesPerS / p.baseline.jobsPerS,
      p.aiOff.messagesPerS / p.baseline.jobsPerS >= 0.15,
      '>=0.15',
    );
    target(
      'e2e_ai/noop',
      p.aiOn.messagesPerS / p.baseline.jobsPerS,
      p.aiOn.messagesPerS / p.baseline.jobsPerS >= 0.15,
      '>=0.15',
    );
    // Memory may cost at most 15 % of throughput; the command counts say what it costs Redis. Each
    // side is the mean of its two runs, taken on, off, off, on.
    const memory =
      (p.aiOn.messagesPerS + p.aiOnAgain.messagesPerS) /
      (p.aiOnNoMemory.messagesPerS + p.aiOnNoMemoryAgain.messagesPerS);
    target('memory_on/off', memory, memory >= 0.85, '>=0.85');
    ratios.push(
      `redis_cmds_per_msg_memory_on=${f0(p.aiOn.redisCommands)} redis_cmds_per_msg_memory_off=${f0(p.aiOnNoMemory.redisCommands)}`,
    );
    const exact = [p.aiOff, p.aiOn, p.aiOnNoMemory, p.aiOnNoMemoryAgain, p.aiOnAgain].every(
      (x) => x.sends === x.messages && x.duplicates === 0 && x.missing === 0 && x.distinctRecipients === x.messages,
    );
    ratios.push(`exactly_once=${exact ? 'yes' : 'NO'}`);
    if (!exact) met = false;

    const s = p.storage;
    out.push(`## Storage — after ${s.messages} messages (AI off)`);
    let perDayRedis = 0;
    out.push(
      table(
        ['redis key', 'keys', 'bytes/key', 'bytes/message', 'ttl', 'retained at 1 M msg/day'],
        s.redis.map((k) => {
          const perMsg = (k.keys * k.avgBytes) / s.messages;
          let retained: string;
          if (k.ttlS !== null && k.keys >= s.messages * 0.5) {
            const bytes = perMsg * PER_DAY * (k.ttlS / DAY);
            perDayRedis += bytes;
            retained = `${f0(bytes / MiB)} MiB (${f1(perMsg)} B × 1 M × ${f1(k.ttlS / DAY)} d)`;
          } else if (k.keys >= BULLMQ_COMPLETED_CAP * 0.9 && k.ttlS === null) {
            const bytes = BULLMQ_COMPLETED_CAP * k.avgBytes;
            perDayRedis += bytes;
            retained = `${f0(bytes / MiB)} MiB (capped at ${BULLMQ_COMPLETED_CAP} by removeOnComplete)`;
          } else {
            perDayRedis += k.keys * k.avgBytes;
            retained = 'fixed';
          }
          return [
            k.pattern,
            k.keys,
            f0(k.avgBytes),
            f1(perMsg),
            k.ttlS === null ? 'none' : `${f1(k.ttlS / 3600)} h`,
            retained,
          ];
        }),
      ),
    );
    out.push(`Redis retained at 1 M messages/day (steady state): ~${f0(perDayRedis / MiB)} MiB`);
    out.push('');
    out.push(
      table(
        ['postgres table', 'rows', 'bytes', 'rows/message', 'bytes/message', 'per day at 1 M msg'],
        s.tables.map((t) => [
          t.table,
          t.rows,
          t.bytes,
          f2(t.rows / s.messages),
          f0(t.bytes / s.messages),
          `${f0(((t.bytes / s.messages) * PER_DAY) / MiB)} MiB`,
        ]),
      ),
    );
    out.push(
      '(every bench message comes from a new user: users rows/message is the worst case; a day of traffic × RETENTION_DAYS is what PostgreSQL holds)',
    );
    out.push('');
  }

  if (r.cost) {
    const runs = r.cost.runs;
    out.push(
      '## What a message costs — per answered message, counted (Redis of its own; PostgreSQL via a counting proxy)',
    );
    out.push(
      table(
        [
          'run',
          'answered',
          'redeliveries',
          'dupl.',
          'missing',
          'redis cmds',
          'top-level',
          'PG statements',
          'Redis CPU ms',
        ],
        runs.map((x) => [
          x.label,
          `${x.answered}/${x.messages}`,
          x.duplicatesPosted,
          x.duplicates,
          x.missing,
          f1(x.redisCommands),
          f1(x.redisTopLevel),
          f2(x.pgStatements),
          f2(x.redisCpuMs),
        ]),
      ),
    );
    out.push('');
    for (const x of runs) {
      const top = new Map<string, number>();
      for (const [name, n] of x.topLevelByCommand) {
        const command = name.split(' ')[0] as string;
        top.set(command, (top.get(command) ?? 0) + n);
      }
      out.push(`### ${x.label}: Redis commands per answered message by name (all / top-level)`);
      out.push(
        table(
          ['command', 'all', 'top-level'],
          x.byCommand.filter(([, n]) => n >= 0.05).map(([name, n]) => [name, f2(n), f2(top.get(name) ?? 0)]),
        ),
      );
      out.push('');
      out.push(`### ${x.label}: scripts called per answered message`);
      out.push(
        table(
          ['script', 'calls', 'commands inside'],
          x.topLevelByCommand
            .filter(([name, n]) => name.startsWith('evalsha ') && n >= 0.01)
            .map(([name, n]) => [name.slice(8), f2(n), f2(x.innerByScript.get(name) ?? 0)]),
        ),
      );
      out.push('');
    }
    const cluster = runs.find((x) => x.nodeShares);
    if (cluster?.nodeShares) {
      out.push(`### ${cluster.label}: each primary's share of the commands (INFO commandstats, scripts' included)`);
      out.push(
        table(
          ['primary', 'share'],
          cluster.nodeShares.map(([port, share]) => [`127.0.0.1:${port}`, `${(100 * share).toFixed(1)} %`]),
        ),
      );
      out.push('');
    }
    const on = runs[0] as CostResult['runs'][number];
    target('cmds_per_answered', on.redisCommands, on.redisCommands <= 60, '<=60', 1);
    target('top_level_per_answered', on.redisTopLevel, on.redisTopLevel <= 8, '<=8', 1);
    if (cluster?.nodeShares) {
      const busiest = Math.max(...cluster.nodeShares.map(([, share]) => share));
      target('cluster_busiest_primary_share', busiest, busiest <= 0.45, '<=0.45');
    }
    ratios.push(`pg_statements_per_answered=${f2(on.pgStatements)}`);
    const exact = runs.every((x) => x.answered === x.messages && x.duplicates === 0 && x.missing === 0);
    ratios.push(`cost_exactly_once=${exact ? 'yes' : 'NO'}`);
    if (!exact) met = false;
  }

  if (r.soak) {
    const k = r.soak;
    out.push(
      `## Soak — ${k.seconds} s at ${k.ratePerS} req/s (${k.ratePerS * MESSAGES_PER_BATCH} msg/s), p99 ${k.p99} ms, inbound backlog at end ${k.backlogAtEnd}`,
    );
    out.push(
      table(
        ['process', 'RSS first third MiB', 'RSS last third MiB', 'max MiB', 'growth'],
        k.series.map((x) => [
          x.process,
          f1(x.firstThird / MiB),
          f1(x.lastThird / MiB),
          f1(x.max / MiB),
          `${f1(x.growth * 100)} %`,
        ]),
      ),
    );
    out.push('');
    const worst = Math.max(...k.series.map((x) => x.growth));
    target('rss_growth', worst, worst < 0.1, '<0.10', 3);
  }

  if (r.steady) {
    const k = r.steady;
    const opt = (x: number | null) => (x === null ? 'n/a' : f2(x));
    out.push(
      `## Steady — AI ${k.ai ? 'on (fake Gemini 50 ms)' : 'off'}, ${k.messages} messages ${k.rate ? `at ${k.rate} req/s` : 'at full load'} after ${k.warmup}, ${f0(k.messagesPerS)} msg/s; per message`,
    );
    out.push(
      table(
        ['process', 'CPU µs', 'voluntary switches', 'involuntary switches', 'read calls', 'write calls'],
        STEADY_GROUPS.map((g) => {
          const c = k.perMessage[g];
          return [g, f0(c.cpuMs * 1000), f2(c.voluntary), f2(c.involuntary), opt(c.reads), opt(c.writes)];
        }),
      ),
    );
    const pg = k.postgres;
    out.push(
      `PostgreSQL per message: ${f2(pg.commits)} commits, ${f2(pg.inserted)} rows inserted, ${f2(pg.updated)} updated, ${f1(pg.walRecords)} WAL records, ${f2(pg.walFlushes)} WAL flushes`,
    );
    out.push(
      `normalised (API + workers + PostgreSQL + Redis CPU ÷ the bench process's, per message): ${f2(k.normalised)}`,
    );
    out.push(
      '(read/write calls: the read(2)/write(2) family from /proc/<pid>/io; PostgreSQL talks to its clients with recv/send, which that does not count)',
    );
    out.push('');
  }

  if (r.rate) {
    const k = r.rate;
    out.push(
      `## Rate search — the highest rate kept up with for ${k.durationS} s (every request accepted, p99 ack→send ≤ ${k.p99LimitMs} ms), API + 2 workers → fake Graph`,
    );
    const probes = (run: RateSearchResult['aiOff']) =>
      run.probes.map((p) => `${p.rate} ${p.keptUp ? '✓' : '✗'}`).join(', ');
    out.push(
      table(
        ['run', 'sustained msg/s', '÷ no-op jobs/s', 'probes (msg/s, in order)', 'acknowledged', 'dupl.', 'missing'],
        (
          [
            ['AI off (fallback reply)', k.aiOff],
            ['AI on (fake Gemini 50 ms)', k.aiOn],
          ] as const
        ).map(([name, x]) => [
          name,
          // No probe failed: the search ran out of probes before it found the limit.
          x.probes.some((p) => !p.keptUp) ? x.sustained : `≥ ${x.sustained}`,
          f2(x.sustained / k.noopJobsPerS),
          probes(x),
          x.acknowledged,
          x.duplicates,
          x.missing,
        ]),
      ),
    );
    out.push('');
    out.push(
      table(
        ['probe', 'msg/s offered', 'accepted', 'ack→send p50 ms', 'ack→send p99 ms', 'machine busy', 'result'],
        [k.aiOff, k.aiOn].flatMap((run) =>
          run.probes.map((p, i) => [
            `AI ${run.ai ? 'on' : 'off'} #${i + 1}`,
            p.rate,
            p.posted,
            f0(p.p50),
            f0(p.p99),
            `${f0(p.machineBusy * 100)} %`,
            p.keptUp ? 'kept up' : p.why,
          ]),
        ),
      ),
    );
    out.push(
      `(no-op baseline: ${f0(k.noopJobsPerS)} jobs/s, a burst drained in this run; the sustained rates are not held to a target)`,
    );
    out.push('');
    const exact = [k.aiOff, k.aiOn].every((x) => x.duplicates === 0 && x.missing === 0);
    ratios.push(`rate_exactly_once=${exact ? 'yes' : 'NO'}`);
    if (!exact) met = false;
  }

  out.push(
    ratios.length > 0
      ? `ratios: ${ratios.join(' ')} — targets ${met ? 'met' : 'MISSED'}`
      : 'ratios: none (this run measured no part with a target)',
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
