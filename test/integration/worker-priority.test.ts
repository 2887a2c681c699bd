// Fakes Meta's Graph API and Google's Gemini API (loopback HTTP servers), as every pipeline test
// does; real PostgreSQL, Redis and worker processes.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULT_WORKER_NICE } from '@switchboard/config';
import { startPipeline } from '../helpers/pipeline.js';
import { eventually, startProcess } from '../helpers/processes.js';
import { messengerText } from '../helpers/sign.js';

/** The niceness of a process's main thread: field 19 of /proc/<pid>/stat. */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

t.test('a worker process lowers its own CPU priority to WORKER_NICE, and says so when it starts', async (t) => {
  const p = await startPipeline(t, 'worker_priority', { workers: 0 });
  const started = (w: { output: string[] }) => w.output.join('').includes('"msg":"worker started"');
  const { WORKER_NICE: _tests, ...unset } = p.env;

  const byDefault = startProcess(t, 'worker', unset);
  const explicit = startProcess(t, 'worker', { ...p.env, WORKER_NICE: '3' });
  const off = startProcess(t, 'worker', { ...p.env, WORKER_NICE: '0' });
  await eventually(async () => [byDefault, explicit, off].every(started), 20_000, 'three workers started');

  t.equal(niceOf(byDefault.child.pid as number), DEFAULT_WORKER_NICE, 'unset: the default niceness');
  t.match(byDefault.output.join(''), `"nice":${DEFAULT_WORKER_NICE}`, 'the start line names it');
  t.equal(niceOf(explicit.child.pid as number), 3, 'WORKER_NICE=3');
  t.equal(niceOf(off.child.pid as number), niceOf(process.pid), 'WORKER_NICE=0: the priority it was started with');

  // A worker that yields still does its work: alone, it answers a message.
  await explicit.stop();
  await off.stop();
  await p.post(
    messengerText({
      pageId: '100000000000061',
      senderId: '900000000610001',
      mid: 'm_priority_1',
      text: 'Are you open today?',
    }),
  );
  await p.graph.waitForSends(1, 20_000);
  t.equal(p.graph.sends.length, 1, 'answered once');
  t.equal((await byDefault.stop()).code, 0, 'stops cleanly');
});

t.test('a WORKER_NICE outside 0–19 stops the worker at start with the variable named', async (t) => {
  const p = await startPipeline(t, 'worker_priority_bad', { workers: 0 });
  const bad = startProcess(t, 'worker', { ...p.env, WORKER_NICE: '-1' });
  const exit = await bad.exited;
  t.not(exit.code, 0, 'exits with an error');
  t.match(bad.output.join(''), /WORKER_NICE/, 'names the variable');
});
