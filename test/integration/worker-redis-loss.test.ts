// Fakes Meta's Graph API (a loopback HTTP server): the real one is unreachable from tests. The API
// and worker are the real processes; Redis losing its data is played by deleting every key of the
// test's prefix (de-duplication keys, jobs, reply-sent markers) between two deliveries.
import t from 'tap';
import { deletePrefix } from '../helpers/redis.js';
import { eventually } from '../helpers/processes.js';
import { startPipeline } from '../helpers/pipeline.js';
import { messengerText } from '../helpers/sign.js';

const PAGE = '100000000000093';

t.test(
  'Redis lost every trace of an answered message: Meta redelivers it, PostgreSQL says replied, nothing is sent again',
  async (t) => {
    const p = await startPipeline(t, 'worker_redis_loss', { env: { AI_ENABLED: 'false' } });
    const user = '900000000000931';
    const message = messengerText({ pageId: PAGE, senderId: user, mid: 'm_redis_loss_1', text: 'hello' });
    const sendsTo = () => p.graph.sends.filter((s) => s.recipientId === user).length;

    t.equal((await p.post(message)).status, 200);
    await eventually(
      async () => (await p.sql`select 1 from events where outcome = 'replied'`).length === 1,
      15_000,
      'the first reply recorded',
    );
    t.equal(sendsTo(), 1);

    await deletePrefix(p.redis, p.prefix);
    t.equal(
      (await p.post(message)).status,
      200,
      'Meta redelivers the message; the ingress, without its de-duplication key, takes it',
    );
    // The redelivery is handled either way: its arrival is recorded (attempts 2), or it is answered again.
    await eventually(
      async () => sendsTo() > 1 || (await p.sql`select 1 from events where attempts = 2`).length === 1,
      15_000,
      'the redelivery handled',
    );
    await new Promise((r) => setTimeout(r, 500));
    t.equal(sendsTo(), 1, 'answered once');
    const [event] = await p.sql`select status, outcome, attempts from events`;
    t.same(event, { status: 'processed', outcome: 'replied', attempts: 2 });
    t.match(p.logs(), /event already on record although Redis had no trace of it/);
  },
);
