// Fakes nothing: HMAC over bytes; Meta's webhook bodies are reproduced byte for byte from fixtures and test/helpers/sign.ts.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { appSecretProof, createSignatureVerifier, signPayload } from '@switchboard/meta';
import { messengerText, metaJson, signedRequest } from '../helpers/sign.js';

const SECRET = 'test-app-secret-1';
const verify = createSignatureVerifier(SECRET);
const body = Buffer.from('{"object":"page","entry":[]}');
const good = signPayload(SECRET, body);

t.test('signPayload is sha256=<lowercase hex HMAC> of the bytes', async (t) => {
  t.match(good, /^sha256=[0-9a-f]{64}$/);
  t.equal(good, `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
  t.equal(signPayload(SECRET, body.toString()), good, 'string and Buffer sign the same bytes');
});

t.test('accepts the right signature, in either hex case', async (t) => {
  t.ok(verify(body, good));
  t.ok(verify(body, `sha256=${good.slice(7).toUpperCase()}`), 'hex digits are case-insensitive');
});

t.test('rejects anything else without throwing', async (t) => {
  const hex = good.slice(7);
  const flipped = hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
  const cases: Array<[string, unknown]> = [
    ['missing', undefined],
    ['empty', ''],
    ['no prefix', hex],
    ['uppercase prefix', `SHA256=${hex}`],
    ['sha1 prefix', `sha1=${hex.slice(0, 40)}`],
    ['one digit changed', `sha256=${flipped}`],
    ['too short', `sha256=${hex.slice(0, 63)}`],
    ['too long', `sha256=${hex}0`],
    ['non-hex digit', `sha256=${hex.slice(0, 63)}g`],
    ['padding around', ` sha256=${hex}`],
    ['array header', [good, good]],
    ['number header', 42],
    ['other secret', signPayload('test-app-secret-2', body)],
    ['signature of another body', signPayload(SECRET, '{"object":"page","entry":[{}]}')],
  ];
  for (const [name, header] of cases) {
    t.equal(verify(body, header as string | undefined), false, name);
  }
  t.equal(verify('{"object":"page","entry":[]}' as unknown as Buffer, good), false, 'a parsed/string body is refused');
  t.equal(verify(Buffer.alloc(0), signPayload(SECRET, '')), true, 'an empty body can still be verified');
});

t.test('refuses an empty app secret at construction, not per request', async (t) => {
  t.throws(() => createSignatureVerifier(''), TypeError);
});

t.test('non-ASCII bodies: the raw bytes Meta sent verify, re-serialised JSON does not', async (t) => {
  const raw = readFileSync(new URL('../fixtures/messenger-non-ascii.json', import.meta.url));
  t.match(raw.toString('latin1'), /\\u00fc/, 'fixture carries Meta-style \\u escapes');
  t.match(raw.toString('latin1'), /\\ud83d\\ude0a/, 'emoji travel as surrogate pairs');
  t.match(raw.toString('latin1'), /https:\\\/\\\//, 'slashes travel as \\/');
  const header = signPayload(SECRET, raw);

  t.ok(verify(raw, header), 'raw bytes verify');
  const reserialised = Buffer.from(JSON.stringify(JSON.parse(raw.toString('utf8'))));
  t.not(reserialised.toString(), raw.toString(), 'JSON.stringify changes the bytes');
  t.notOk(verify(reserialised, header), 're-serialised JSON fails: this is the production bug the raw body avoids');
});

t.test('metaJson reproduces Meta’s escaping exactly', async (t) => {
  const raw = readFileSync(new URL('../fixtures/messenger-non-ascii.json', import.meta.url), 'utf8');
  t.equal(metaJson(JSON.parse(raw)), raw);
  t.equal(metaJson({ t: 'ä/😊' }), '{"t":"\\u00e4\\/\\ud83d\\ude0a"}');
});

t.test('signedRequest signs exactly the body it returns', async (t) => {
  const payload = messengerText({
    pageId: '100000000000001',
    senderId: '200000000000001',
    mid: 'm_test-1',
    text: 'Grüße 😊',
  });
  const req = signedRequest(SECRET, payload);
  t.equal(req.headers['content-type'], 'application/json');
  t.notMatch(req.body, /ü|😊/, 'non-ASCII escaped');
  t.ok(verify(Buffer.from(req.body), req.headers['x-hub-signature-256']));
  t.same(JSON.parse(req.body), payload);
  const verbatim = signedRequest(SECRET, '{"a":1}');
  t.equal(verbatim.body, '{"a":1}', 'a string payload is sent verbatim');
});

t.test('appSecretProof is hex HMAC-SHA256(app secret, token)', async (t) => {
  const proof = appSecretProof(SECRET, 'test-page-token-1');
  t.equal(proof, createHmac('sha256', SECRET).update('test-page-token-1').digest('hex'));
  t.not(proof, appSecretProof(SECRET, 'test-page-token-2'));
  t.not(proof, appSecretProof('test-app-secret-2', 'test-page-token-1'));
});
