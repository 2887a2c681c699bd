// Fakes nothing: the rate search's decisions (bench/rate.ts) are pure functions of the probes.
import t from 'tap';
import { judgeProbe, nextRate, type RateProbe, sustainedRate } from '../../bench/rate.js';

const probe = (rate: number, keptUp: boolean): RateProbe => ({
  rate,
  posted: rate * 60,
  p50: 10,
  p99: keptUp ? 100 : 5000,
  machineBusy: 0.8,
  keptUp,
  why: keptUp ? '' : 'p99 5000 ms',
});

/** Runs the search against a system that keeps up with anything up to `capacity`. */
function searchAgainst(capacity: number, start: number, maxProbes = 12): RateProbe[] {
  const probes: RateProbe[] = [];
  for (let rate = nextRate(probes, { start, maxProbes }); rate !== null; rate = nextRate(probes, { start, maxProbes }))
    probes.push(probe(rate, rate <= capacity));
  return probes;
}

t.test('the first probe is the start rate, rounded to a step of ten', async (t) => {
  t.equal(nextRate([], { start: 804.4, maxProbes: 7 }), 800);
  t.equal(nextRate([], { start: 3, maxProbes: 7 }), 10);
});

t.test('while every probe keeps up the rate rises by half', async (t) => {
  t.equal(nextRate([probe(800, true)], { start: 800, maxProbes: 7 }), 1200);
  t.equal(nextRate([probe(800, true), probe(1200, true)], { start: 800, maxProbes: 7 }), 1800);
});

t.test('after a failure it bisects between the highest pass and the lowest failure', async (t) => {
  t.equal(nextRate([probe(800, true), probe(1200, false)], { start: 800, maxProbes: 7 }), 1000);
  t.equal(nextRate([probe(800, true), probe(1200, false), probe(1000, true)], { start: 800, maxProbes: 7 }), 1100);
  // The first probe failing: halve towards zero.
  t.equal(nextRate([probe(800, false)], { start: 800, maxProbes: 7 }), 400);
});

t.test('it stops within 5 % of the capacity, or at the probe limit', async (t) => {
  for (const [capacity, start] of [
    [1234, 800],
    [450, 900],
    [5000, 700],
    [75, 600],
  ] as const) {
    const probes = searchAgainst(capacity, start);
    const found = sustainedRate(probes);
    t.ok(found <= capacity, `never above the capacity (${capacity}: found ${found})`);
    t.ok(
      found >= capacity * 0.94 - 10,
      `within 5 % and a step of the capacity (${capacity}: found ${found} in ${probes.length} probes)`,
    );
  }
  t.equal(searchAgainst(1234, 800, 3).length, 3, 'the probe limit holds');
  t.equal(nextRate([probe(800, true), probe(1200, false)], { start: 800, maxProbes: 2 }), null);
});

t.test('a system that keeps up with nothing ends the search at the lowest step with nothing sustained', async (t) => {
  const probes = searchAgainst(0, 800);
  t.equal(sustainedRate(probes), 0);
  t.equal(probes.at(-1)?.rate, 10);
});

t.test('noise that inverts two probes does not report a rate above a failure', async (t) => {
  // 1000 failed but 1100 passed: the sustained rate is the highest pass below the lowest failure.
  const probes = [probe(800, true), probe(1200, false), probe(1000, false), probe(1100, true)];
  t.equal(sustainedRate(probes), 800);
  t.equal(nextRate(probes, { start: 800, maxProbes: 7 }), 900);
});

t.test('a probe keeps up only with every request accepted, the rate delivered and p99 within the limit', async (t) => {
  const ok = { rate: 1000, durationS: 60, posted: 60_000, failedRequests: 0, p99: 400, p99LimitMs: 1000 };
  t.equal(judgeProbe(ok), '');
  t.equal(judgeProbe({ ...ok, posted: 57_000 }), '', '95 % delivered is enough (pacing loses a little at the edges)');
  t.match(judgeProbe({ ...ok, posted: 50_000 }), /only 50000 of 60000 messages accepted/);
  t.match(judgeProbe({ ...ok, failedRequests: 3 }), /3 requests failed/);
  t.match(judgeProbe({ ...ok, p99: 1500 }), /p99 1500 ms/);
  t.match(judgeProbe({ ...ok, p99: Number.NaN }), /p99 NaN ms/, 'no latencies at all is not keeping up');
});
