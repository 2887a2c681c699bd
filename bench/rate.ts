/**
 * Optional part (`BENCH_ONLY=rate`): the sustained capacity, by a rate search. The pipeline part
 * posts N messages as fast as the API takes them and times the drain; an operator asks a different
 * question — what rate does the system keep up with, minute after minute? Here the real API and two
 * workers (AI off, then AI on against the 50 ms fake Gemini) take webhooks at a fixed rate for
 * BENCH_RATE_S seconds (default 60) per probe, and a probe passes when every request was accepted,
 * the rate was actually delivered, and the p99 of ack → Send API call stayed within
 * BENCH_RATE_P99_MS (default 1000): a system that falls behind grows a backlog, and its latency
 * grows with it for the rest of the probe. The rates are bisected (`nextRate`) until the highest
 * passing rate and the lowest failing one are within 5 %, or BENCH_RATE_PROBES (default 7) probes
 * were run. Every acknowledged message is held to exactly once, as in the pipeline part.
 */
import type { Redis } from 'ioredis';
import { deletePrefix } from '../test/helpers/redis.js';
import { FORWARDED_HTTPS } from './ingress.js';
import { load, loadAtRate } from './load.js';
import { MESSAGES_PER_BATCH, PayloadSource } from './payload.js';
import {
  countSends,
  deliveryFaults,
  type EnvFor,
  forgetSends,
  percentile,
  sendLatencies,
  startBenchGemini,
  startSystem,
  stopSystem,
  type System,
} from './pipeline.js';
import { machineTicks, progress, sleep, type Teardown } from './stack.js';

export interface RateProbe {
  /** Messages per second offered. */
  rate: number;
  /** Messages accepted (200) during the probe. */
  posted: number;
  p50: number;
  p99: number;
  /** Share of the machine's CPU time busy while the probe's load ran (0–1). */
  machineBusy: number;
  keptUp: boolean;
  /** Why it did not keep up (empty when it did). */
  why: string;
}

export interface RateSearchRun {
  ai: boolean;
  probes: RateProbe[];
  /** The highest rate kept up with below the lowest rate that was not (0: none was). */
  sustained: number;
  /** Every message acknowledged during the search, the warm-up's included. */
  acknowledged: number;
  duplicates: number;
  missing: number;
}

export interface RateSearchResult {
  durationS: number;
  p99LimitMs: number;
  aiOff: RateSearchRun;
  aiOn: RateSearchRun;
}

export interface RateSettings {
  durationS: number;
  p99LimitMs: number;
  maxProbes: number;
  /** The first rate; 0: 80 % of the warm-up burst's throughput. */
  start: number;
  warmup: number;
  connections: number;
}

/** Rates are probed in steps of ten messages per second. */
const STEP = 10;
/** The search stops when the bracket is this narrow, relative to its upper end. */
const RESOLUTION = 0.05;
/** A probe must deliver at least this share of rate × duration (autocannon's pacing loses a little at the edges). */
const DELIVERED = 0.95;

const roundRate = (x: number) => Math.max(STEP, Math.round(x / STEP) * STEP);

/** The bracket the probes so far define: the highest pass below the lowest failure (noise can invert two probes). */
function bracket(probes: RateProbe[]): { lo: number; hi: number } {
  const hi = Math.min(Infinity, ...probes.filter((p) => !p.keptUp).map((p) => p.rate));
  const lo = Math.max(0, ...probes.filter((p) => p.keptUp && p.rate < hi).map((p) => p.rate));
  return { lo, hi };
}

/**
 * The next rate to probe, or null when the search is done: up by half while every probe passed,
 * then bisecting between the highest pass and the lowest failure.
 */
export function nextRate(probes: RateProbe[], o: { start: number; maxProbes: number }): number | null {
  if (probes.length >= o.maxProbes) return null;
  if (probes.length === 0) return roundRate(o.start);
  const { lo, hi } = bracket(probes);
  if (hi === Infinity) return roundRate(lo * 1.5);
  if (hi <= STEP) return null;
  if (hi - lo <= Math.max(STEP, RESOLUTION * hi)) return null;
  const next = roundRate((lo + hi) / 2);
  return next === lo || next === hi || probes.some((p) => p.rate === next) ? null : next;
}

/** The sustained rate the probes found. */
export function sustainedRate(probes: RateProbe[]): number {
  return bracket(probes).lo;
}

/** Whether a probe kept up, and if not, why. */
export function judgeProbe(p: {
  rate: number;
  durationS: number;
  posted: number;
  failedRequests: number;
  p99: number;
  p99LimitMs: number;
}): string {
  if (p.failedRequests > 0) return `${p.failedRequests} requests failed`;
  if (p.posted < DELIVERED * p.rate * p.durationS)
    return `only ${p.posted} of ${Math.round(p.rate * p.durationS)} messages accepted`;
  if (!(p.p99 <= p.p99LimitMs)) return `p99 ${Math.round(p.p99)} ms`;
  return '';
}

async function search(
  td: Teardown,
  redis: Redis,
  envFor: EnvFor,
  s: RateSettings,
  ai: boolean,
): Promise<RateSearchRun> {
  const label = ai ? 'rate-ai-on' : 'rate-ai-off';
  const extra = ai ? (await startBenchGemini(td)).env : { AI_ENABLED: 'false' };
  progress(`${label}: starting api + 2 workers`);
  const sys = await startSystem(td, redis, envFor, label, extra, {});
  try {
    const payloads = new PayloadSource(sys.env.FACEBOOK_APP_SECRET as string);
    const acks = new Map<string, number>();
    const url = `${sys.url}/webhook`;
    const drained = (count: number) => sys.graph.waitForSends(count, Math.max(120_000, count * 20));

    const warmup = Math.ceil(s.warmup / MESSAGES_PER_BATCH) * MESSAGES_PER_BATCH;
    let start = s.start;
    if (warmup > 0 || start === 0) {
      const count = Math.max(warmup, 1000);
      progress(`${label}: warm-up, ${count} messages at full load`);
      const began = Date.now();
      const r = await load({
        url,
        payloads,
        connections: s.connections,
        amount: Math.ceil(count / MESSAGES_PER_BATCH),
        headers: FORWARDED_HTTPS,
        onAck: (senders, at) => senders.forEach((x) => acks.set(x, at)),
      });
      if (r.non2xx > 0 || r.errors > 0)
        throw new Error(`${label}: ${r.non2xx} non-2xx, ${r.errors} errors during the warm-up`);
      await drained(acks.size);
      const burst = acks.size / ((Date.now() - began) / 1000);
      if (start === 0) start = 0.8 * burst;
      progress(`${label}: warm-up drained at ${burst.toFixed(0)} msg/s`);
      await sleep(2000);
    }

    // A search acknowledges hundreds of thousands of messages. The fake Graph's record of each send
    // is counted per recipient after every probe and then dropped, so the bench process's heap (on
    // the same two cores as the system it measures) stays small; a late duplicate still lands in the
    // next tally.
    const perRecipient = new Map<string, number>();
    const tally = () => {
      countSends(sys.graph.sends, perRecipient);
      forgetSends(sys);
    };
    tally();

    const probes: RateProbe[] = [];
    for (
      let rate = nextRate(probes, { start, maxProbes: s.maxProbes });
      rate !== null;
      rate = nextRate(probes, { start, maxProbes: s.maxProbes })
    ) {
      probes.push(await probe(sys, payloads, acks, rate, s, label));
      tally();
      await sleep(2000);
    }

    // Anything sent twice would arrive shortly after the last first send: give it a moment.
    await sleep(2000);
    tally();
    const { duplicates, missing } = deliveryFaults(perRecipient, acks.keys());
    const run: RateSearchRun = {
      ai,
      probes,
      sustained: sustainedRate(probes),
      acknowledged: acks.size,
      duplicates,
      missing,
    };
    progress(
      `${label}: sustained ${run.sustained} msg/s; ${acks.size} acknowledged, ${duplicates} duplicates, ${missing} missing`,
    );
    return run;
  } finally {
    await stopSystem(sys);
    await deletePrefix(redis, sys.prefix);
  }
}

async function probe(
  sys: System,
  payloads: PayloadSource,
  acks: Map<string, number>,
  rate: number,
  s: RateSettings,
  label: string,
): Promise<RateProbe> {
  progress(`${label}: ${rate} msg/s for ${s.durationS} s`);
  const sentBefore = sys.graph.sends.length;
  const mine = new Map<string, number>();
  const ticksBefore = await machineTicks();
  const r = await loadAtRate({
    url: `${sys.url}/webhook`,
    payloads,
    connections: 1,
    overallRate: Math.max(1, Math.round(rate / MESSAGES_PER_BATCH)),
    durationS: s.durationS,
    headers: FORWARDED_HTTPS,
    onAck: (senders, at) => {
      for (const x of senders) {
        mine.set(x, at);
        acks.set(x, at);
      }
    },
  });
  const ticksAfter = await machineTicks();
  // Every acknowledged message is sent before the next probe starts, however far behind this one fell.
  await sys.graph.waitForSends(sentBefore + mine.size, Math.max(120_000, mine.size * 20));
  const latencies = sendLatencies(sys.graph.sends.slice(sentBefore), mine);
  const p99 = percentile(latencies, 0.99);
  const why = judgeProbe({
    rate,
    durationS: s.durationS,
    posted: mine.size,
    failedRequests: r.non2xx + r.errors + r.timeouts,
    p99,
    p99LimitMs: s.p99LimitMs,
  });
  const result: RateProbe = {
    rate,
    posted: mine.size,
    p50: percentile(latencies, 0.5),
    p99,
    machineBusy: (ticksAfter.busy - ticksBefore.busy) / Math.max(1, ticksAfter.total - ticksBefore.total),
    keptUp: why === '',
    why,
  };
  const heap = process.memoryUsage();
  progress(
    `${label}: ${rate} msg/s — p50 ${result.p50} ms, p99 ${result.p99} ms, machine ${(result.machineBusy * 100).toFixed(0)} % busy: ${why || 'kept up'} (bench heap ${(heap.heapUsed / 2 ** 20).toFixed(0)} MiB, rss ${(heap.rss / 2 ** 20).toFixed(0)} MiB)`,
  );
  return result;
}

export async function runRateSearch(
  td: Teardown,
  redis: Redis,
  envFor: EnvFor,
  s: RateSettings,
): Promise<RateSearchResult> {
  const aiOff = await search(td, redis, envFor, s, false);
  const aiOn = await search(td, redis, envFor, s, true);
  return { durationS: s.durationS, p99LimitMs: s.p99LimitMs, aiOff, aiOn };
}
