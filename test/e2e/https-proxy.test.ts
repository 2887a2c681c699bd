// Fakes nothing: the real Caddy (deploy/caddy/Caddyfile, on free loopback ports, its local CA for
// `localhost`) in front of the real API process with REQUIRE_HTTPS=true, as docker-compose.yml runs
// them; skipped with a message when caddy is not installed (.ci/run installs it).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { testDatabase } from '../helpers/db.js';
import { testEnv } from '../helpers/env.js';
import { eventually, freePort, ROOT, startProcess, waitForHttp } from '../helpers/processes.js';
import { deletePrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { messengerText, signedRequest } from '../helpers/sign.js';

function caddyInstalled(): boolean {
  try {
    execFileSync('caddy', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const noCaddy = caddyInstalled()
  ? false
  : 'caddy is not installed (apt-get install caddy; .ci/run does it): the proxy is not exercised';
if (noCaddy && process.env.CI) t.fail(`${noCaddy}: CI must run it`);

/** An HTTPS request to 127.0.0.1 for `localhost`, trusting only Caddy's local CA. */
function httpsPost(
  port: number,
  ca: string,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca,
        method: 'POST',
        path,
        headers: { ...headers, host: `localhost:${port}` },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const warnLines = (output: string[]) =>
  output
    .join('')
    .split('\n')
    .filter((l) => l.includes('webhook refused: HTTPS required'));

t.test(
  'a webhook through the HTTPS proxy is accepted with REQUIRE_HTTPS=true; plain HTTP is refused with one explaining log line',
  { skip: noCaddy },
  async (t) => {
    const databaseUrl = await testDatabase(t, 'https_proxy');
    const prefix = uniquePrefix('https-proxy');
    const { redis } = await testRedis(t, 'https-proxy-conn');
    t.teardown(() => deletePrefix(redis, prefix));
    const apiPort = await freePort();
    // As in compose: HTTPS required, X-Forwarded-Proto believed from the proxy's network (here loopback).
    const env = testEnv({
      databaseUrl,
      prefix,
      PORT: String(apiPort),
      HOST: '127.0.0.1',
      REQUIRE_HTTPS: 'true',
      TRUST_PROXY: 'loopback',
      LOG_LEVEL: 'warn',
    });
    const api = startProcess(t, 'api', env);
    await waitForHttp(`http://127.0.0.1:${apiPort}/health`);

    const dir = mkdtempSync(join(tmpdir(), 'sb-caddy-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // The repository's Caddyfile, bound to loopback only for the test.
    const caddyfile = join(dir, 'Caddyfile');
    writeFileSync(
      caddyfile,
      readFileSync(`${ROOT}/deploy/caddy/Caddyfile`, 'utf8').replace(
        '{$DOMAIN:localhost} {',
        '{$DOMAIN:localhost} {\n\tbind 127.0.0.1',
      ),
    );
    const [httpPort, httpsPort] = [await freePort(), await freePort()];
    const caddy = spawn('caddy', ['run', '--config', caddyfile, '--adapter', 'caddyfile'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        XDG_DATA_HOME: join(dir, 'data'),
        XDG_CONFIG_HOME: join(dir, 'config'),
        HTTP_PORT: String(httpPort),
        HTTPS_PORT: String(httpsPort),
        UPSTREAM: `127.0.0.1:${apiPort}`,
      },
      stdio: 'ignore',
    });
    t.teardown(() => {
      caddy.kill('SIGKILL');
    });
    const rootCert = join(dir, 'data', 'caddy', 'pki', 'authorities', 'local', 'root.crt');
    const ca = await eventually(
      async () => {
        try {
          return readFileSync(rootCert, 'utf8');
        } catch {
          return undefined;
        }
      },
      15_000,
      "Caddy's local CA",
    );

    const secret = env.FACEBOOK_APP_SECRET;
    const signed = signedRequest(
      secret,
      messengerText({
        pageId: '100200300',
        senderId: '900800700',
        mid: 'm_https_proxy_1',
        text: 'hello through the proxy',
      }),
    );
    const accepted = await eventually(
      async () => httpsPost(httpsPort, ca, '/webhook', signed.body, signed.headers).catch(() => undefined),
      15_000,
      'the proxy to answer',
    );
    t.same(
      accepted,
      { status: 200, body: 'EVENT_RECEIVED' },
      'accepted through the proxy: TLS there, X-Forwarded-Proto believed here',
    );
    t.equal((await redis.keys(`{${prefix}}:inbound:[0-9a-f]*-*`)).length, 1, 'the event is stored');

    // Plain HTTP straight to the API: the fixed answer, and one log line for several refusals.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://127.0.0.1:${apiPort}/webhook`, {
        method: 'POST',
        body: signed.body,
        headers: signed.headers,
      });
      t.equal(res.status, 403);
      t.same(await res.json(), { error: 'https_required', message: 'HTTPS required' });
    }
    const lines = await eventually(
      async () => (warnLines(api.output).length > 0 ? warnLines(api.output) : undefined),
      5000,
      'the refusal log line',
    );
    await new Promise((r) => setTimeout(r, 200));
    t.equal(warnLines(api.output).length, 1, 'five refusals, one log line');
    const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
    t.match(line, {
      level: 40,
      require_https: true,
      trust_proxy: 'loopback',
      x_forwarded_proto: 'absent',
      hint: /X-Forwarded-Proto.*REQUIRE_HTTPS=false/,
    });
    t.notMatch(lines[0], new RegExp(`${secret}|900800700|hello`), 'no secret, user id or text');
  },
);

t.test('X-Forwarded-Proto from an address TRUST_PROXY does not name: refused, and the log line says so', async (t) => {
  const databaseUrl = await testDatabase(t, 'https_untrusted');
  const { prefix } = await testRedis(t, 'https-untrusted');
  const port = await freePort();
  const env = testEnv({
    databaseUrl,
    prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    REQUIRE_HTTPS: 'true',
    TRUST_PROXY: '10.0.0.0/8',
    LOG_LEVEL: 'warn',
  });
  const api = startProcess(t, 'api', env);
  await waitForHttp(`http://127.0.0.1:${port}/health`);
  const signed = signedRequest(
    env.FACEBOOK_APP_SECRET,
    messengerText({ pageId: '100200300', senderId: '900800701', mid: 'm_https_untrusted', text: 'hi' }),
  );
  const res = await fetch(`http://127.0.0.1:${port}/webhook`, {
    method: 'POST',
    body: signed.body,
    headers: { ...signed.headers, 'x-forwarded-proto': 'https' },
  });
  t.equal(res.status, 403);
  t.same(await res.json(), { error: 'https_required', message: 'HTTPS required' });
  const lines = await eventually(
    async () => (warnLines(api.output).length > 0 ? warnLines(api.output) : undefined),
    5000,
    'the refusal log line',
  );
  t.match(JSON.parse(lines[0] as string), {
    require_https: true,
    trust_proxy: '10.0.0.0/8',
    x_forwarded_proto: 'https',
    from_trusted_proxy: false,
    hint: /TRUST_PROXY/,
  });
});
