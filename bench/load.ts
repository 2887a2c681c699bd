/**
 * autocannon wrappers. Every request gets a fresh signed batch from the PayloadSource (setupRequest
 * runs per request), so every run is unique work for the server.
 */
import autocannon from 'autocannon';
import type { PayloadSource } from './payload.js';

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface LoadOptions {
  url: string;
  payloads: Pick<PayloadSource, 'take'>;
  connections: number;
  durationS?: number;
  /** Total requests instead of a duration. */
  amount?: number;
  /** Fixed overall rate (req/s). */
  overallRate?: number;
  headers?: Record<string, string>;
  /** Called with the batch's senders when its POST was answered 200 (the "ack"). */
  onAck?: (senders: string[], at: number) => void;
}

interface Ctx {
  senders?: string[];
}

/**
 * A fixed overall rate, paced. autocannon's overallRate lets every connection send its whole
 * per-second quota back to back at the top of each second, so all connections burst together and
 * "half load" measures a full-speed burst. Here the rate is split over `lanes` autocannon instances
 * of one connection each, started 1000/lanes ms apart, so the bursts interleave; latencies come
 * from every response and are merged.
 */
export async function loadAtRate(
  o: LoadOptions & { overallRate: number; durationS: number },
  lanes = 20,
): Promise<LoadResult> {
  const n = Math.max(1, Math.min(lanes, o.overallRate));
  const latencies: number[] = [];
  const runs: Array<Promise<LoadResult>> = [];
  for (let i = 0; i < n; i++) {
    const rate = Math.floor(o.overallRate / n) + (i < o.overallRate % n ? 1 : 0);
    runs.push(load({ ...o, connections: 1, overallRate: rate, onLatency: (ms) => latencies.push(ms) }));
    await new Promise((r) => setTimeout(r, 1000 / n));
  }
  const results = await Promise.all(runs);
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN) * 10) / 10;
  const sum = (k: 'requests' | 'non2xx' | 'errors' | 'timeouts') => results.reduce((a, r) => a + r[k], 0);
  return {
    requests: sum('requests'),
    rps: results.reduce((a, r) => a + r.rps, 0),
    p50: at(0.5),
    p99: at(0.99),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    timeouts: sum('timeouts'),
  };
}

export async function load(o: LoadOptions & { onLatency?: (ms: number) => void }): Promise<LoadResult> {
  const headers = { 'content-type': 'application/json', ...o.headers };
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    pipelining: 1,
    timeout: 10,
    ...(o.amount ? { amount: o.amount } : { duration: o.durationS ?? 10 }),
    ...(o.overallRate ? { overallRate: o.overallRate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (req: Record<string, unknown>, context: Ctx) => {
          const p = o.payloads.take();
          context.senders = p.senders;
          return { ...req, method: 'POST', body: p.body, headers: { ...headers, 'x-hub-signature-256': p.signature } };
        },
        onResponse: (status: number, _body: string, context: Ctx) => {
          if (status === 200 && context.senders) o.onAck?.(context.senders, Date.now());
        },
      },
    ],
  } as unknown as autocannon.Options);
  if (o.onLatency) {
    const record = o.onLatency;
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => record(ms));
  }
  const r = await instance;
  return {
    requests: r.requests.total,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}
