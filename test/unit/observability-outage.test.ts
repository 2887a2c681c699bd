// Fakes nothing: the outage tracker and its helpers are pure apart from the logger, a real pino
// logger writing to a string.
import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import { isConnectionError, outageTracker, reasonOf, targetOf } from '@switchboard/observability';

t.test('targetOf: host:port only, never user, password, database or options', async (t) => {
  t.equal(targetOf('postgres://switchboard:s3cret@db.internal:6543/switchboard?sslmode=require'), 'db.internal:6543');
  t.equal(targetOf('postgres://postgres@127.0.0.1/switchboard'), '127.0.0.1:5432', 'the default port');
  t.equal(targetOf('redis://:s3cret@redis:6379/2'), 'redis:6379');
  t.equal(targetOf('rediss://cache.example.com'), 'cache.example.com:6379');
  t.equal(targetOf('redis://[::1]:6380'), '[::1]:6380');
});

t.test('reasonOf and isConnectionError read what the drivers throw', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6380'), { code: 'ECONNREFUSED' });
  t.equal(reasonOf(refused), 'connect ECONNREFUSED 127.0.0.1:6380');
  t.equal(
    reasonOf(Object.assign(new Error('database "x" does not exist\nmore'), { code: '3D000' })),
    '3D000: database "x" does not exist',
  );
  t.ok(isConnectionError(refused));
  t.ok(isConnectionError(new Error('Connection is closed.')));
  t.notOk(isConnectionError(new Error('Missing lock for job 12. moveToFinished')));
});

t.test('the tracker logs the first failure of an outage and its end, nothing in between', async (t) => {
  let out = '';
  const logger = pino(
    { base: undefined, timestamp: false },
    new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }),
  );
  const tracker = outageTracker(logger, 'redis', 'redis://:pw@cache:6379');
  tracker.up();
  for (let i = 0; i < 50; i++) tracker.down('ECONNREFUSED');
  t.equal(tracker.isDown, true);
  tracker.up();
  tracker.up();
  t.equal(tracker.isDown, false);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: number; msg: string; target: string });
  t.same(
    lines.map((l) => [l.level, l.msg, l.target]),
    [
      [50, 'redis unreachable at cache:6379; retrying quietly until it is back', 'cache:6379'],
      [30, 'redis reachable again at cache:6379', 'cache:6379'],
    ],
  );
  t.notMatch(out, /pw/);
});
