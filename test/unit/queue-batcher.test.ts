import t from 'tap';
import { Batcher } from '../../packages/queue/src/batcher.js';

const tick = async (turns = 3) => {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
};

t.test('writes arriving together go in one batch; each caller gets its own result', async (t) => {
  const batches: number[][] = [];
  const b = new Batcher<number, string>(async (items) => {
    batches.push(items);
    return items.map((i) => `r${i}`);
  });
  const results = await Promise.all([1, 2, 3].map((i) => b.add(i)));
  t.same(results, ['r1', 'r2', 'r3']);
  t.same(batches, [[1, 2, 3]]);
});

t.test('while flushes run, later writes wait and then go together', async (t) => {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const b = new Batcher<number, number>(
    (items) => {
      batches.push(items);
      return new Promise((resolve) => gates.push(() => resolve(items)));
    },
    { maxInFlight: 1 },
  );
  const first = b.add(1);
  await tick();
  const rest = [2, 3, 4].map((i) => b.add(i));
  await tick();
  t.same(batches, [[1]], 'one flush at a time');
  gates.shift()?.();
  t.equal(await first, 1);
  await tick();
  t.same(batches, [[1], [2, 3, 4]]);
  gates.shift()?.();
  t.same(await Promise.all(rest), [2, 3, 4]);
});

t.test('lingerMs: writes arriving within the linger share the statement; without it they do not', async (t) => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const spread = async (lingerMs: number) => {
    const batches: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        batches.push(items);
        return items;
      },
      { maxInFlight: 1, lingerMs },
    );
    const first = b.add(1);
    await sleep(5);
    const second = b.add(2);
    t.same(await Promise.all([first, second]), [1, 2], 'each caller gets its own result');
    return batches;
  };
  t.same(await spread(0), [[1], [2]], 'no linger: the first write goes at once');
  t.same(await spread(50), [[1, 2]], 'a 50 ms linger: one statement');
});

t.test('equal keys never share a batch; maxBatch bounds a batch', async (t) => {
  const batches: string[][] = [];
  const b = new Batcher<string, string>(
    async (items) => {
      batches.push(items);
      return items;
    },
    { key: (s) => s.split(':')[0] as string, maxBatch: 2, maxInFlight: 1 },
  );
  await Promise.all(['a:1', 'a:2', 'b:1', 'c:1'].map((s) => b.add(s)));
  t.same(batches, [
    ['a:1', 'b:1'],
    ['a:2', 'c:1'],
  ]);
});

t.test('a failing batch is retried item by item, so only the bad item fails', async (t) => {
  const calls: number[][] = [];
  const b = new Batcher<number, number>(async (items) => {
    calls.push(items);
    if (items.includes(13)) throw new Error('bad row 13');
    return items;
  });
  const settled = await Promise.allSettled([12, 13, 14].map((i) => b.add(i)));
  t.same(
    settled.map((s) => s.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.match((settled[1] as PromiseRejectedResult).reason, { message: 'bad row 13' });
  t.same(calls, [[12, 13, 14], [12], [13], [14]]);
});

t.test('a batch answering the wrong number of results fails its caller with a clear error', async (t) => {
  const b = new Batcher<number, number>(async () => []);
  await t.rejects(b.add(5), { message: 'batch answered 0 results for 1 items' });
});
