// Fakes nothing: the send retry schedule is pure arithmetic (the random source is passed in).
import t from 'tap';
import { RATE_LIMIT_MIN_DELAY_MS, SEND_BACKOFF_CAP_MS, sendBackoffDelay, sendRetryDelay } from '@switchboard/queue';

/** The waits between SEND_MAX_ATTEMPTS attempts (attempts − 1 of them), for a fixed jitter. */
const schedule = (attempts: number, jitter: number) =>
  Array.from({ length: attempts - 1 }, (_, i) => sendRetryDelay(i + 1, false, null, () => jitter));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const MIN = 60_000;

t.test('with the default 8 attempts the waits ride out a 30-minute outage, each capped at 12 minutes', async (t) => {
  const longest = schedule(8, 0);
  t.same(longest, [1000, 4000, 16_000, 64_000, 256_000, 720_000, 720_000], 'capped exponential: a blip costs a second');
  t.equal(SEND_BACKOFF_CAP_MS, 12 * MIN);
  t.ok(longest.every((d) => d <= SEND_BACKOFF_CAP_MS));
  t.equal(sum(longest), 1_781_000, 'about 30 minutes without jitter');
  const shortest = schedule(8, 1);
  t.same(
    shortest,
    longest.map((d) => Math.round(d * 0.8)),
    'jitter takes at most a fifth off',
  );
  t.ok(sum(shortest) >= 23.5 * MIN, `at least ${(sum(shortest) / MIN).toFixed(1)} minutes with the most jitter`);
});

t.test('even the largest SEND_MAX_ATTEMPTS (50) stays well inside the 24-hour reply window', async (t) => {
  const waits = schedule(50, 0);
  t.ok(sum(waits) < 10 * 60 * MIN, `${(sum(waits) / 60 / MIN).toFixed(1)} hours`);
});

t.test(
  'throttling waits longer: four times the wait within the cap, at least 10 s, or Meta’s own estimate',
  async (t) => {
    const none = () => 0;
    t.equal(sendRetryDelay(1, true, null, none), RATE_LIMIT_MIN_DELAY_MS);
    t.equal(sendRetryDelay(4, true, null, none), 4 * 64_000);
    t.equal(sendRetryDelay(7, true, null, none), SEND_BACKOFF_CAP_MS);
    t.equal(sendRetryDelay(2, true, 45 * MIN, none), 45 * MIN, 'estimated_time_to_regain_access is honoured');
    t.equal(sendBackoffDelay(0, none), 1000, 'never below the base');
  },
);
