// Fakes Meta's Graph API (a loopback HTTP server scripted to answer with Meta's errors, or a closed
// loopback port for a Graph that cannot be reached): the real one cannot be made to fail on demand.
// API and worker are the real processes.
import { createHmac } from 'node:crypto';
import t from 'tap';
import { eventually, freePort } from '../helpers/processes.js';
import { startPipeline, TEST_PAGE_TOKEN } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000051';
let seq = 0;
const mid = () => `m_send_cause_${++seq}_${Date.now()}`;

interface EventDetail {
  status: string;
  last_error: string | null;
  last_error_code: number | null;
}

t.test(
  'a failed send says why: on the event after each attempt, in the dead-letter reason and in the log',
  async (t) => {
    // A transient failure gets three attempts: the inbound job's own, then two by the send job, a
    // second and then four apart (time to read the event between them). A network failure leaves its
    // part's delivery open, and the send job's attempts do not wait for an echo that cannot come.
    const p = await startPipeline(t, 'worker_send_cause', {
      workers: 0,
      env: { AI_ENABLED: 'false', SEND_MAX_ATTEMPTS: '2', SEND_ECHO_WAIT_MS: '0', LOG_LEVEL: 'info' },
    });
    const eventIdOf = (m: string) =>
      createHmac('sha256', p.env.PSID_HASH_SECRET).update(`messenger:${PAGE}:${m}`).digest('hex').slice(0, 32);
    const auth = `Basic ${Buffer.from(`${p.env.ADMIN_USER}:${p.env.ADMIN_PASS}`).toString('base64')}`;
    const eventOf = async (id: string): Promise<EventDetail | null> => {
      const res = await fetch(`${p.apiUrl}/ops/events/${id}`, { headers: { authorization: auth } });
      return res.status === 200 ? ((await res.json()) as EventDetail) : null;
    };

    await t.test('Graph unreachable: the network error code', async (t) => {
      const closed = await freePort();
      const worker = p.startWorker({ GRAPH_API_BASE_URL: `http://127.0.0.1:${closed}` });
      const m = mid();
      await p.post(messengerText({ pageId: PAGE, senderId: '900000000000301', mid: m, text: 'hello?' }));
      const cause = 'network: ECONNREFUSED connecting to graph';

      const waiting = await eventually(
        async () => {
          const e = await eventOf(eventIdOf(m));
          return e?.last_error && e.status !== 'dead_letter' ? e : null;
        },
        15_000,
        "the first attempt's failure on the event",
      );
      t.equal(waiting.last_error, cause, 'recorded after the first attempt, before any dead letter');
      t.equal(waiting.last_error_code, null, 'no Graph code for a network failure');

      const dead = await eventually(
        async () => {
          const e = await eventOf(eventIdOf(m));
          return e?.status === 'dead_letter' ? e : null;
        },
        20_000,
        'the event dead-lettered after its attempts',
      );
      t.equal(dead.last_error, cause, 'the dead-letter reason names the cause');
      t.equal(dead.last_error_code, null);

      const lines = worker.output
        .join('')
        .split('\n')
        .filter((l) => l.includes(cause));
      t.ok(
        lines.some((l) => l.includes('transient send error; will retry')),
        'the retry line names it',
      );
      t.ok(
        lines.some((l) => l.includes('job dead-lettered')),
        'the dead-letter line names it',
      );
      t.notMatch(worker.output.join(''), /code=none/, 'no empty codes in the log');
      await worker.stop();
    });

    await t.test('Graph answers an error: its code, subcode, status and sanitised message', async (t) => {
      const worker = p.startWorker();
      const user = '900000000000302';
      p.graph.failNextSends({
        status: 400,
        code: 10,
        subcode: 2018278,
        message: `This message is sent outside of allowed window. Recipient ${user} token ${TEST_PAGE_TOKEN}-0123456789abcdef`,
      });
      const m = mid();
      await p.post(messengerText({ pageId: PAGE, senderId: user, mid: m, text: 'late' }));
      const dead = await eventually(
        async () => {
          const e = await eventOf(eventIdOf(m));
          return e?.status === 'dead_letter' ? e : null;
        },
        15_000,
        'the event dead-lettered',
      );
      const cause =
        'graph 10/2018278 (status 400): This message is sent outside of allowed window. Recipient [redacted] token [redacted]';
      t.equal(dead.last_error, cause, 'code, subcode, status and the message, without the user id or the token');
      t.equal(dead.last_error_code, 10);
      const out = worker.output.join('');
      t.ok(
        out.split('\n').some((l) => l.includes('permanent send error; dead-lettered') && l.includes(cause)),
        'the log line names it',
      );
      t.ok(
        out.split('\n').some((l) => l.includes('job dead-lettered') && l.includes(cause)),
        'the dead-letter line names it',
      );
      t.notOk(out.includes(user) || p.logs().includes(TEST_PAGE_TOKEN), 'neither the user id nor the token in any log');
      await worker.stop();
    });
  },
);
