// Fakes nothing: the real API app listening on a real loopback socket (real PostgreSQL and Redis); clients are raw TCP sockets, some bound to other loopback addresses to stand for other clients.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';

const HEALTH = 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n';

async function listen(app: { listen(o: { port: number; host: string }): Promise<string> }): Promise<number> {
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return Number(new URL(address).port);
}

interface Client {
  socket: Socket;
  /** Everything received so far. */
  received(): string;
  closed: Promise<void>;
  isClosed(): boolean;
}

async function open(port: number, from = '127.0.0.1'): Promise<Client> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  let data = '';
  let isClosed = false;
  socket.setEncoding('utf8').on('data', (d: string) => (data += d));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => ((isClosed = true), resolve())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed, isClosed: () => isClosed };
}

/** Sends one request and waits for its whole response; `null` when the socket closes without one. */
async function exchange(client: Client, request: string): Promise<string | null> {
  const before = client.received().length;
  client.socket.write(request);
  for (const deadline = Date.now() + 5000; ;) {
    if (Date.now() > deadline) return 'no answer, and the socket still open';
    const answer = client.received().slice(before);
    const end = answer.indexOf('\r\n\r\n');
    if (end >= 0) {
      const length = Number(/content-length: (\d+)/i.exec(answer)?.[1] ?? 0);
      if (answer.length >= end + 4 + length) return answer;
    }
    if (client.isClosed()) return null;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves `true` when the socket closes within `ms`, `false` when it is still open then. */
async function closesWithin(client: Client, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const open = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const result = await Promise.race([client.closed.then(() => true), open]);
  clearTimeout(timer);
  return result;
}

t.test(
  'a request whose body never finishes, or that never starts, gets 408 and its socket is closed; keep-alive still works',
  async (t) => {
    const ctx = await buildTestApp(t, 'edge-conn', { HTTP_REQUEST_TIMEOUT_MS: '1000' });
    const port = await listen(ctx.app);

    // The attack: headers announcing 1000 bytes, one byte of body, then nothing. No signature needed.
    const slow = await open(port);
    slow.socket.write(
      'POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{',
    );
    const idle = await open(port);
    const keptAlive = await open(port);
    t.match(await exchange(keptAlive, HEALTH), /^HTTP\/1\.1 200 /, 'a complete request is answered');

    t.equal(await closesWithin(slow, 8000), true, 'the unfinished body is cut');
    t.match(slow.received(), /^HTTP\/1\.1 408 /, 'with 408');
    t.equal(await closesWithin(idle, 2000), true, 'a connection that never sends a request is cut too');
    t.equal(keptAlive.isClosed(), false, 'an idle keep-alive connection between requests is not');
    t.match(await exchange(keptAlive, HEALTH), /^HTTP\/1\.1 200 /, 'and carries the next request');
    keptAlive.socket.destroy();
  },
);

t.test('open connections per client are capped; other clients, and trusted proxies, are not affected', async (t) => {
  const ctx = await buildTestApp(t, 'edge-conn', { HTTP_MAX_CONNECTIONS_PER_CLIENT: '3', TRUST_PROXY: '10.0.0.1' });
  const port = await listen(ctx.app);

  const mine: Client[] = [];
  for (let i = 0; i < 3; i++) {
    const client = await open(port);
    t.match(await exchange(client, HEALTH), /^HTTP\/1\.1 200 /, `connection ${i + 1} of 127.0.0.1 is served`);
    mine.push(client);
  }
  const fourth = await open(port);
  t.equal(await exchange(fourth, HEALTH), null, 'the fourth from the same address is closed unanswered');

  const other = await open(port, '127.0.0.2');
  t.match(await exchange(other, HEALTH), /^HTTP\/1\.1 200 /, 'another address is served');
  for (const client of mine)
    t.match(await exchange(client, HEALTH), /^HTTP\/1\.1 200 /, 'the first three keep working (keep-alive)');

  mine[0]?.socket.destroy();
  await mine[0]?.closed;
  await new Promise((r) => setTimeout(r, 50));
  const again = await open(port);
  t.match(await exchange(again, HEALTH), /^HTTP\/1\.1 200 /, 'a closed connection frees its place');
  for (const client of [...mine, again, other]) client.socket.destroy();

  // Behind a proxy every connection comes from the proxy: its peers are not capped per client.
  const proxied = await buildTestApp(t, 'edge-conn', { HTTP_MAX_CONNECTIONS_PER_CLIENT: '3', TRUST_PROXY: 'loopback' });
  const proxiedPort = await listen(proxied.app);
  const fromProxy: Client[] = [];
  for (let i = 0; i < 5; i++) {
    const client = await open(proxiedPort);
    t.match(await exchange(client, HEALTH), /^HTTP\/1\.1 200 /, `connection ${i + 1} from a trusted proxy is served`);
    fromProxy.push(client);
  }
  for (const client of fromProxy) client.socket.destroy();
});

t.test('open connections of all clients together are capped', async (t) => {
  const ctx = await buildTestApp(t, 'edge-conn', { HTTP_MAX_CONNECTIONS: '4', TRUST_PROXY: '10.0.0.1' });
  const port = await listen(ctx.app);
  const clients: Client[] = [];
  for (let i = 0; i < 4; i++) {
    const client = await open(port, `127.0.0.${i + 1}`);
    t.match(await exchange(client, HEALTH), /^HTTP\/1\.1 200 /, `client ${i + 1} is served`);
    clients.push(client);
  }
  const fifth = await open(port, '127.0.0.5');
  t.equal(await exchange(fifth, HEALTH), null, 'past the total, a new connection is closed unanswered');
  clients[0]?.socket.destroy();
  await clients[0]?.closed;
  await new Promise((r) => setTimeout(r, 50));
  const next = await open(port, '127.0.0.5');
  t.match(await exchange(next, HEALTH), /^HTTP\/1\.1 200 /, 'a closed connection frees its place');
  for (const client of [...clients, next]) client.socket.destroy();
});
