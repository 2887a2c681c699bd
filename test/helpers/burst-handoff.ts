import type { Pipeline } from './pipeline.js';
import { eventually } from './processes.js';
import { messengerEcho, messengerText } from './sign.js';

import type { Test } from 'tap';

/** An app id that is not ours: an echo with it is a person writing from Meta's inbox. */
const INBOX_APP = '263902037430900';

const sendsTo = (p: Pipeline, user: string) => p.graph.sends.filter((s) => s.recipientId === user).map((s) => s.text);

/**
 * A user's three messages 200 ms apart get one reply from one AI call (the pipeline runs with
 * REPLY_DEBOUNCE_MS above that); then a person from the business writes from Meta's inbox, and the
 * user's next message is recorded as paused, not answered. `tag` keeps the message ids apart.
 */
export async function burstThenHandOff(t: Test, p: Pipeline, page: string, user: string, tag: string): Promise<void> {
  p.gemini.setReply('one answer to all three');
  const calls = p.gemini.calls.length;
  for (const [i, text] of ['hello', 'I have a question', 'about my order'].entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, 200));
    const res = await p.post(
      messengerText({ pageId: page, senderId: user, mid: `m_${tag}_burst_${i}`, text, timestamp: Date.now() }),
    );
    t.equal(res.status, 200);
  }
  await eventually(async () => sendsTo(p, user).length >= 1, 20_000, 'the reply');
  await new Promise((r) => setTimeout(r, 2000));
  t.same(sendsTo(p, user), ['one answer to all three'], 'one reply to the burst');
  t.equal(p.gemini.calls.length - calls, 1, 'decided by one AI call');

  const staff = await p.post(
    messengerEcho({ pageId: page, recipientId: user, mid: `m_${tag}_staff`, text: 'staff here', appId: INBOX_APP }),
  );
  t.equal(staff.status, 200);
  await eventually(
    async () => (await p.sql`select 1 from events where outcome = 'echo_human'`).length > 0,
    15_000,
    'the staff echo',
  );
  await p.post(messengerText({ pageId: page, senderId: user, mid: `m_${tag}_paused`, text: 'still there?' }));
  await eventually(
    async () => (await p.sql`select 1 from events where outcome = 'paused'`).length > 0,
    20_000,
    'the message recorded as paused',
  );
  t.equal(sendsTo(p, user).length, 1, 'nothing sent while a person has taken over');
}
