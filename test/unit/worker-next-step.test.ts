// What happens next for an event in its conversation: one pure decision, as a table.
import t from 'tap';
import {
  type ConversationFacts,
  type EventFacts,
  mayReplyWhilePaused,
  type NextStep,
  nextStep,
  unansweredByNature,
} from '../../apps/worker/src/next-step.js';

const settings = { staleAfterMs: 60_000, debounceMs: 0 };
const debounced = { ...settings, debounceMs: 1500 };
const text: EventFacts = {
  type: 'text',
  ours: false,
  answerable: true,
  textOnly: false,
  standby: false,
  hasSender: true,
  hasText: true,
  ageMs: 100,
  replyKept: false,
  held: false,
};
const user: ConversationFacts = { kind: 'user', paused: false, asksForPerson: false };

t.test('why an event gets no reply by its nature', async (t) => {
  const rows: Array<[string, Partial<EventFacts>, ReturnType<typeof unansweredByNature>]> = [
    ['a user text', {}, null],
    ['an echo of our own send', { type: 'echo', ours: true }, 'echo_ours'],
    ["a person's message from Meta's inbox", { type: 'echo' }, 'echo_human'],
    ['a read receipt', { type: 'read', answerable: false }, 'recorded'],
    ['a WhatsApp picture', { type: 'image', answerable: false, textOnly: true, hasText: false }, null],
    ['a message on the standby channel', { standby: true }, 'standby'],
    ['a message from nobody known', { hasSender: false }, 'not_answered'],
    ['a postback without text or payload', { type: 'postback', hasText: false }, 'not_answered'],
    ['a message older than the stale limit', { ageMs: 60_001 }, 'stale'],
    ['a late message whose reply was decided already', { ageMs: 60_001, replyKept: true }, null],
  ];
  for (const [name, facts, want] of rows) t.equal(unansweredByNature({ ...text, ...facts }, settings), want, name);
});

t.test('what happens next, by the event and its conversation', async (t) => {
  const rows: Array<[string, Partial<EventFacts>, ConversationFacts | null, typeof settings, NextStep]> = [
    ['a user text in an active conversation', {}, user, settings, { step: 'answer', source: 'responder' }],
    [
      'a user text while a person has taken over',
      {},
      { ...user, paused: true },
      settings,
      { step: 'settle', outcome: 'paused', keep: true },
    ],
    [
      'the keyword that starts the pause gets HANDOFF_REPLY',
      {},
      { kind: 'keyword', paused: true, asksForPerson: true },
      settings,
      { step: 'answer', source: 'handoff' },
    ],
    [
      'the keyword again while already waiting for a person',
      {},
      { kind: 'keyword', paused: true, asksForPerson: false },
      settings,
      { step: 'settle', outcome: 'paused', keep: true },
    ],
    ['a user text while bursts are on', {}, user, debounced, { step: 'burst' }],
    [
      'a keyword while bursts are on is answered at once',
      {},
      { kind: 'keyword', paused: true, asksForPerson: true },
      debounced,
      { step: 'answer', source: 'handoff' },
    ],
    [
      'a WhatsApp picture while bursts are on gets TEXT_ONLY_REPLY at once',
      { type: 'image', answerable: false, textOnly: true, hasText: false },
      user,
      debounced,
      { step: 'answer', source: 'text_only' },
    ],
    ['a held message stays in its burst when bursts are turned off', { held: true }, user, settings, { step: 'burst' }],
    [
      'a held message whose conversation was paused meanwhile is let go',
      { held: true },
      { ...user, paused: true },
      debounced,
      { step: 'let_go', outcome: 'paused', keep: true },
    ],
    [
      'a held message grown too old is let go',
      { held: true, ageMs: 60_001 },
      user,
      debounced,
      { step: 'let_go', outcome: 'stale', keep: false },
    ],
    [
      "a person's message pauses, and is only recorded",
      { type: 'echo' },
      { kind: 'staff', paused: true, asksForPerson: false },
      settings,
      { step: 'settle', outcome: 'echo_human', keep: false },
    ],
    [
      'a message on the standby channel is kept for memory',
      { standby: true },
      { kind: 'handover_away', paused: true, asksForPerson: false },
      settings,
      { step: 'settle', outcome: 'standby', keep: true },
    ],
    [
      'a run after a crash sends the reply it kept',
      { replyKept: true },
      user,
      settings,
      { step: 'answer', source: 'kept' },
    ],
    [
      'an event with no conversation (no sender hash) is answered alone',
      {},
      null,
      debounced,
      { step: 'answer', source: 'responder' },
    ],
  ];
  for (const [name, facts, conversation, s, want] of rows) {
    const event = { ...text, ...facts };
    t.same(nextStep(event, unansweredByNature(event, s), conversation, s), want, name);
  }
});

t.test('a decided reply goes out while paused only if it answers the request for a person', async (t) => {
  t.equal(mayReplyWhilePaused(null, false), true, 'not paused');
  t.equal(mayReplyWhilePaused('staff_replied', false), false, 'a person replied');
  t.equal(mayReplyWhilePaused('staff_replied', true), false, 'a person replied after the request');
  t.equal(mayReplyWhilePaused('user_asked', true), true, 'HANDOFF_REPLY to the request itself');
  t.equal(mayReplyWhilePaused('user_asked', false), false, 'any other reply while waiting for a person');
  t.equal(mayReplyWhilePaused('operator', true), false, 'paused by an operator');
});
