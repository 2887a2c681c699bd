// The pooled fetch under @google/genai, against a real HTTP server on loopback.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { aiAgent, pooledFetch } from '@switchboard/ai';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const seen: Seen[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    if (req.url === '/empty') {
      res.writeHead(204).end();
    } else if (req.url === '/error') {
      res
        .writeHead(429, { 'content-type': 'application/json', 'Retry-After': '7' })
        .end(JSON.stringify({ error: { code: 429, message: 'slow down' } }));
    } else if (req.url === '/plain') {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded');
    } else if (req.url === '/slow') {
      setTimeout(() => res.writeHead(200).end('late'), 2000);
    } else {
      res
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'x-answer': ['a', 'b'] })
        .end(JSON.stringify({ ok: true, text: 'grüß dich' }));
    }
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
t.teardown(() => {
  server.closeAllConnections();
  server.close();
});
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const agent = aiAgent(4);
t.teardown(() => agent.close());
const fetchFn = pooledFetch(agent);

t.test(
  'sends method, headers (a Headers object or a record) and the body; reads status, headers and JSON',
  async (t) => {
    const res = await fetchFn(`${origin}/generate`, {
      method: 'POST',
      headers: new Headers({ 'Content-Type': 'application/json', 'X-Goog-Api-Key': 'k' }),
      body: '{"q":1}',
    });
    t.equal(res.ok, true);
    t.equal(res.status, 200);
    t.equal(res.headers.get('Content-Type'), 'application/json; charset=utf-8', 'header names are case-insensitive');
    t.equal(res.headers.get('x-answer'), 'a, b', 'repeated headers are joined');
    t.equal(res.headers.get('x-missing'), null);
    t.same(Object.fromEntries(res.headers.entries())['x-answer'], 'a, b');
    t.same(await res.json(), { ok: true, text: 'grüß dich' });
    t.equal(res.bodyUsed, true);
    await t.rejects(res.text(), /already been read/, 'a body is read once');
    const last = seen.at(-1) as Seen;
    t.equal(last.method, 'POST');
    t.equal(last.headers['x-goog-api-key'], 'k');
    t.equal(last.headers['content-type'], 'application/json');
    t.equal(last.body, '{"q":1}');

    await fetchFn(`${origin}/generate`, {
      method: 'POST',
      headers: { 'X-Record': 'yes' },
      body: new TextEncoder().encode('bytes'),
    });
    t.equal(seen.at(-1)?.headers['x-record'], 'yes');
    t.equal(seen.at(-1)?.body, 'bytes');
  },
);

t.test('errors come back as responses, with their body, for the SDK to turn into ApiError', async (t) => {
  const json = await fetchFn(`${origin}/error`, { method: 'POST', body: '{}' });
  t.equal(json.ok, false);
  t.equal(json.status, 429);
  t.equal(json.headers.get('retry-after'), '7');
  t.same(await json.json(), { error: { code: 429, message: 'slow down' } });
  const plain = await fetchFn(`${origin}/plain`);
  t.equal(plain.status, 503);
  t.equal(await plain.text(), 'overloaded');
  const empty = await fetchFn(`${origin}/empty`, { method: 'DELETE' });
  t.equal(empty.status, 204);
  t.equal(await empty.text(), '', 'no body');
});

t.test('an abort signal cuts the call; an unsupported body is refused before anything is sent', async (t) => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('deadline')), 100);
  const started = Date.now();
  await t.rejects(fetchFn(`${origin}/slow`, { signal: controller.signal }));
  t.ok(Date.now() - started < 1500, 'aborted well before the answer');
  const before = seen.length;
  await t.rejects(
    fetchFn(`${origin}/generate`, { method: 'POST', body: new Blob(['x']) }),
    /string and byte bodies only/,
  );
  t.equal(seen.length, before, 'nothing was sent');
});
