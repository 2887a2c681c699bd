import { createHmac } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { PayloadSource } from './payload.js';

/** The line docs/performance.md quotes next to every set of numbers. */
export function hardwareLine(): string {
  const list = cpus();
  const model = list[0]?.model.trim() ?? 'unknown cpu';
  return `hardware: ${model}, ${list.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, node ${process.version}, ${process.platform}/${process.arch}`;
}

/**
 * How fast this VM is this hour, for comparing runs made at different times: the same model of
 * machine has measured the bare server (a) anywhere from 11 000 to 28 000 req/s while the no-op
 * BullMQ baseline stayed near 7 400 jobs/s — the baseline is bound by Redis's Lua, the pipeline by
 * JavaScript and loopback HTTP, and those two do not move together. Two probes, ~1 s each, on an
 * otherwise idle machine: JavaScript alone (JSON.parse + HMAC of the bench's webhook body) and a
 * loopback HTTP round trip (node:http server and client in this process, one keep-alive connection,
 * after a short warm-up).
 */
export async function calibrationLine(): Promise<string> {
  const body = new PayloadSource('calibration').take().body;
  let n = 0;
  let sink = 0;
  const jsStart = performance.now();
  while (performance.now() - jsStart < 1000) {
    for (let i = 0; i < 100; i++, n++) {
      sink += (JSON.parse(body) as { entry: unknown[] }).entry.length;
      sink += createHmac('sha256', 'calibration').update(body).digest('hex').length;
    }
  }
  const jsUs = ((performance.now() - jsStart) * 1000) / n;
  if (sink === 0) throw new Error('calibration: the webhook body did not parse');
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const trip = () =>
    new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, agent }, (res) =>
        res.resume().on('end', resolve).on('error', reject),
      );
      req.on('error', reject).end();
    });
  /** Round trips for `ms`: their count and the time they took. */
  const tripsFor = async (ms: number) => {
    const start = performance.now();
    let trips = 0;
    while (performance.now() - start < ms) {
      await trip();
      trips += 1;
    }
    return { trips, us: (performance.now() - start) * 1000 };
  };
  try {
    await tripsFor(300);
    const { trips, us } = await tripsFor(1000);
    return `calibration: ${jsUs.toFixed(1)} µs per webhook body parsed and HMAC'd, ${(us / trips).toFixed(0)} µs per loopback HTTP round trip (node:http, one keep-alive connection)`;
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
