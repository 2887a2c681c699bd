// Fakes Meta's Graph API and Gemini (loopback HTTP servers): the real ones are unreachable from
// tests. The API and workers are the real processes. On SIGTERM a worker finishes or returns its
// active jobs, then exits; nothing acknowledged is lost.
import t from 'tap';
import { type Pipeline, startPipeline } from '../helpers/pipeline.js';
import { eventually, type RunningProcess } from '../helpers/processes.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000091';

/** Posts one message, and sends the worker SIGTERM while its AI call is in flight; resolves with the exit and how long it took. */
async function sigtermMidReply(p: Pipeline, senderId: string, mid: string) {
  const res = await p.post(messengerText({ pageId: PAGE, senderId, mid, text: 'hello' }));
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  await eventually(async () => p.gemini.maxInFlight >= 1, 10_000, 'the AI call in flight');
  const worker = p.workers[0] as RunningProcess;
  const started = Date.now();
  worker.child.kill('SIGTERM');
  const exit = await worker.exited;
  return { exit, tookMs: Date.now() - started, output: worker.output.join('') };
}

t.test('SIGTERM within the deadline: the active job is finished, then the worker exits cleanly', async (t) => {
  const p = await startPipeline(t, 'worker_shutdown_clean', {
    env: { SHUTDOWN_TIMEOUT_MS: '10000', AI_TIMEOUT_MS: '5000' },
  });
  p.gemini.setDelay(1500);
  const { exit, tookMs, output } = await sigtermMidReply(p, '900000000000911', 'm_shutdown_clean');
  t.equal(exit.code, 0, 'exits 0');
  t.equal(p.graph.sends.length, 1, 'the job it was running was finished: the reply went out before the exit');
  t.ok(tookMs < 8000, 'without waiting for the deadline');
  t.match(output, /"clean":true/);
});

t.test(
  'SIGTERM with a job that outlasts SHUTDOWN_TIMEOUT_MS: the worker exits at the deadline, another one answers the message once',
  async (t) => {
    const p = await startPipeline(t, 'worker_shutdown_deadline', {
      env: { SHUTDOWN_TIMEOUT_MS: '2000', WORKER_LOCK_DURATION_MS: '2000', AI_TIMEOUT_MS: '30000' },
    });
    // An AI call far longer than the deadline (the orchestrator's SIGKILL would come at its grace period).
    p.gemini.setDelay(20_000);
    const { exit, tookMs, output } = await sigtermMidReply(p, '900000000000912', 'm_shutdown_late');
    t.equal(exit.code, 0, 'exits 0');
    t.ok(tookMs < 5000, `exits at the deadline (2 s), not when the job ends (20 s): took ${tookMs} ms`);
    t.match(output, /"clean":false/, 'and says it did not finish everything');
    t.equal(p.graph.sends.length, 0, 'the interrupted job sent nothing');

    // Another worker takes the job over once its lock expires, and answers it exactly once.
    p.gemini.setDelay(0);
    p.startWorker();
    await eventually(async () => p.graph.sends.length >= 1, 30_000, 'the reply from the other worker');
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(p.graph.sends.length, 1, 'answered once');
    t.equal(p.graph.sends[0]?.recipientId, '900000000000912');
  },
);
