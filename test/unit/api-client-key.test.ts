// Fakes nothing: a pure function over address strings.
import t from 'tap';
import { clientKey } from '../../apps/api/src/client-key.js';

t.test('one client is an IPv4 address or an IPv6 /64, whatever form the address comes in', async (t) => {
  t.equal(clientKey('192.0.2.7'), '192.0.2.7');
  t.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7', 'IPv4-mapped IPv6 is the IPv4 address');
  t.equal(clientKey('::FFFF:c000:0207'), '192.0.2.7', 'in hex and capitals too');
  t.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  t.equal(
    clientKey('2001:0db8:0001:0002:ffff:eeee:dddd:cccc'),
    '2001:db8:1:2::/64',
    'every address of one /64 is one client',
  );
  t.not(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'), 'the next /64 is another client');
  t.equal(clientKey('::1'), '0:0:0:0::/64');
  t.equal(clientKey(undefined), 'unknown');
  t.equal(clientKey('not-an-address'), 'not-an-address');
});
