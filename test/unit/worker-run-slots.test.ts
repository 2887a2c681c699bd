import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { RunSlots } from '../../apps/worker/src/run-slots.js';

/** Resolves once the event loop has run what is ready (every settled promise's callbacks). */
const settle = () => sleep(5);

/** A promise and the function that resolves it (Promise.withResolvers is Node 22's). */
function gate(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

t.test('no more runs work at once than the working slots; the others start in the order they came', async (t) => {
  const slots = new RunSlots(2, 0);
  t.equal(slots.capacity, 2);
  const started: number[] = [];
  const gates = [0, 1, 2, 3].map(() => gate());
  const runs = gates.map((g, i) =>
    slots.run(async () => {
      started.push(i);
      await g.promise;
    }),
  );
  await settle();
  t.same(started, [0, 1], 'two working');
  gates[1]?.resolve();
  await settle();
  t.same(started, [0, 1, 2], 'the next in line takes the freed slot');
  gates[0]?.resolve();
  gates[2]?.resolve();
  gates[3]?.resolve();
  await Promise.all(runs);
  t.same(started, [0, 1, 2, 3]);
});

t.test('a waiting run gives its working slot to another run, and takes one back to go on', async (t) => {
  const slots = new RunSlots(1, 1);
  t.equal(slots.capacity, 2, "BullMQ's concurrency: the working slot and the waiting place");
  const order: string[] = [];
  const waiter = slots.run(async (wait) => {
    order.push('a works');
    t.equal(await wait(40), true, 'a place to wait in');
    order.push('a goes on');
  });
  const second = gate();
  const worker = slots.run(async () => {
    order.push('b works');
    await second.promise;
    order.push('b done');
  });
  await sleep(60);
  t.same(order, ['a works', 'b works'], 'b worked while a waited; a waits for the slot b holds');
  second.resolve();
  await Promise.all([waiter, worker]);
  t.same(order, ['a works', 'b works', 'b done', 'a goes on']);
});

t.test('with every waiting place taken, a wait is refused at once and the run keeps its slot', async (t) => {
  const slots = new RunSlots(2, 1);
  const release = gate();
  const first = slots.run(async (wait) => {
    const waited = wait(30);
    await release.promise;
    return waited;
  });
  await settle();
  const refused = await slots.run(async (wait) => {
    const before = Date.now();
    const ok = await wait(1000);
    return { ok, ms: Date.now() - before };
  });
  t.equal(refused.ok, false, 'no place left to wait in');
  t.ok(refused.ms < 500, 'answered without waiting');
  t.equal(await slots.run(async (wait) => wait(0)), true, 'nothing to wait for needs no place');
  release.resolve();
  t.equal(await first, true);
});

t.test('a run that throws gives its slot back', async (t) => {
  const slots = new RunSlots(1, 0);
  await t.rejects(
    slots.run(async () => {
      throw new Error('boom');
    }),
  );
  t.equal(await slots.run(async () => 'ran'), 'ran', 'the slot is free again');
});
