import t from 'tap';
import { sequenceAt } from '../../apps/worker/src/sequence-time.js';

const second = 1_700_000_000_000;

t.test('Messenger and Instagram stamps order events as they are', async (t) => {
  t.equal(sequenceAt('messenger', second + 123, second + 900), second + 123);
  t.equal(sequenceAt('instagram', second, second + 900), second);
});

t.test('a WhatsApp event is placed within its second by its arrival', async (t) => {
  const a = sequenceAt('whatsapp', second, second + 100);
  const b = sequenceAt('whatsapp', second, second + 300);
  const c = sequenceAt('whatsapp', second, second + 500);
  t.ok(a < b && b < c, 'three messages of one second, in the order they arrived');
  t.equal(a, second + 100);
});

t.test('a WhatsApp event never moves past its second', async (t) => {
  const late = sequenceAt('whatsapp', second, second + 5_000);
  const next = sequenceAt('whatsapp', second + 1000, second + 1000);
  t.equal(late, second + 999, 'received seconds later: the end of its own second');
  t.ok(late < next, 'still before an event of the next second');
  t.equal(sequenceAt('whatsapp', second, second - 50), second, 'a clock behind the stamp: the start of its second');
});
