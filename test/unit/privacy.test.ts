// Fakes nothing: pure cryptographic primitives.
import t from 'tap';
import { Sealer, hashId, safeEqual, keyId } from '@switchboard/privacy';
import { randomBytes } from 'node:crypto';

t.test('hashId is stable, keyed and never the raw id', async (t) => {
  const a = hashId('secret-one', '1234567890');
  t.equal(a, hashId('secret-one', '1234567890'));
  t.not(a, hashId('secret-two', '1234567890'));
  t.match(a, /^[0-9a-f]{64}$/);
  t.notMatch(a, /1234567890/);
});

t.test('safeEqual compares content and length', async (t) => {
  t.ok(safeEqual('abc', 'abc'));
  t.notOk(safeEqual('abc', 'abd'));
  t.notOk(safeEqual('abc', 'abcd'));
  t.notOk(safeEqual('', 'a'));
  t.ok(safeEqual('', ''));
});

t.test('Sealer round-trips, authenticates and rotates keys', async (t) => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const old = new Sealer(oldKey);
  const sealed = old.seal('héllo 👋', 'page:1');
  t.notMatch(sealed, /héllo/);
  t.equal(old.open(sealed, 'page:1'), 'héllo 👋');
  t.throws(() => old.open(sealed, 'page:2'), /failed authentication/);
  t.not(old.seal('x'), old.seal('x'), 'fresh IV per seal');

  const rotated = new Sealer(newKey, [oldKey]);
  t.equal(rotated.open(sealed, 'page:1'), 'héllo 👋', 'old key still opens');
  t.equal(Sealer.keyIdOf(rotated.seal('y')), keyId(newKey), 'new values use the new key');
  t.throws(() => new Sealer(newKey).open(sealed, 'page:1'), /no key with id/);

  const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
  t.throws(() => old.open(tampered, 'page:1'), /failed authentication/);
  t.throws(() => old.open('garbage'), /not a sealed value/);
  t.throws(() => new Sealer(Buffer.alloc(16)), /32 bytes/);
  t.same(old.openJson(old.sealJson({ a: [1, 'ü'] })), { a: [1, 'ü'] });
});
