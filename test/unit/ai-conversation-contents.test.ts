// Fakes nothing: conversationContents is pure.
import t from 'tap';
import { conversationContents } from '@switchboard/ai';

t.test('earlier turns oldest first, roles alternating, ending with the current message', async (t) => {
  t.same(conversationContents([], 'hi'), [{ role: 'user', parts: [{ text: 'hi' }] }], 'no history: the message alone');
  t.same(
    conversationContents(
      [
        { role: 'model', text: 'staff wrote first' },
        { role: 'user', text: 'q1' },
        { role: 'model', text: 'bot answer' },
        { role: 'model', text: 'staff added' },
        { role: 'user', text: 'unanswered' },
      ],
      'current',
    ),
    [
      { role: 'model', parts: [{ text: 'staff wrote first' }] },
      { role: 'user', parts: [{ text: 'q1' }] },
      { role: 'model', parts: [{ text: 'bot answer' }, { text: 'staff added' }] },
      { role: 'user', parts: [{ text: 'unanswered' }, { text: 'current' }] },
    ],
    "consecutive turns of one role share one content, a part each; the last is the user's",
  );
});
