import t from 'tap';
import { trustFunction } from '../../apps/api/src/app.js';

t.test('TRUST_PROXY names who may set X-Forwarded-*: answers per address, remembered, never mixed up', async (t) => {
  t.equal(trustFunction(true), true);
  t.equal(trustFunction(false), false);
  const trust = trustFunction('loopback, 10.0.0.0/8') as (address: string, hop: number) => boolean;
  t.type(trust, 'function');
  for (let round = 0; round < 2; round++) {
    t.equal(trust('127.0.0.1', 0), true, `loopback (round ${round})`);
    t.equal(trust('::1', 0), true);
    t.equal(trust('10.1.2.3', 0), true, 'inside the CIDR');
    t.equal(trust('192.0.2.7', 0), false, 'anyone else');
    t.equal(trust('::ffff:192.0.2.7', 0), false);
  }
  // Past the cache's size the answers stay right.
  for (let i = 0; i < 1100; i++) t.equal(trust(`192.0.${Math.floor(i / 256)}.${i % 256}`, 0), false);
  t.equal(trust('10.200.0.1', 0), true);
});
