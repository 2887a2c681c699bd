/**
 * Signed Messenger webhook batches, each with ids never used before, so de-duplication cannot
 * short-circuit the work. The body is built once through metaJson (Meta's escaping of non-ASCII
 * and `/`), then only fixed-width ASCII ids and the timestamp are swapped in per request: bytes
 * and size stay those of a real batch while a request costs the load generator a string join and
 * one HMAC.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { metaJson } from '@switchboard/meta';

export const BENCH_PAGE_ID = '100000000000042';
/**
 * Messages per POST. One: the floor (b) does one BullMQ `add` per request, so the real route (c)
 * must enqueue one job per request for the ratio to compare the same work. The batch is still a
 * realistic 1–2 KB body (a long, non-ASCII message, escaped the way Meta escapes it).
 */
export const MESSAGES_PER_BATCH = 1;

const TEXTS = [
  'Hallo! Habt ihr am Samstag geöffnet? Ich würde gern mit meiner Familie vorbeikommen — wir sind zu fünft 🙂 und bräuchten einen Tisch für den späten Nachmittag. ' +
    'Außerdem: Kann ich die Lieferadresse für Bestellung #48213 ändern? Das Paket soll bitte ins Büro gehen: Königstraße 12/3, 2. Stock. ' +
    'Und eine letzte Frage — gibt es bei euch auch glutenfreie Optionen und vegane Desserts? Meine Schwester verträgt leider keine Nüsse, ' +
    'deshalb wäre es schön zu wissen, welche Gerichte ohne Nüsse zubereitet werden können. Parkplätze gibt es hoffentlich in der Nähe? ' +
    'Wir kommen mit dem Auto aus Düsseldorf. Vielen Dank für eure Hilfe und bis bald! 🙏',
];

const SENDER = (n: number) => `9${String(n).padStart(15, '0')}`;
const MID = (run: string, n: number) => `m_${run}${String(n).padStart(12, '0')}`;
const MARK = (k: string, i: number) => `@@${k}${i}@@`;
/** A message's timestamp in the template: quoted there, so the number replaces its quotes too. */
const TIME_MARK = (i: number) => `"${MARK('T', i)}"`;

export interface SignedBody {
  body: string;
  signature: string;
  /** The senders of this batch's messages (one new user per message). */
  senders: string[];
}

export class PayloadSource {
  private readonly parts: string[];
  private readonly slots: Array<{ kind: 'S' | 'M' | 'T'; i: number }>;
  private readonly run = randomBytes(60).toString('base64url');
  private next = 0;

  constructor(private readonly appSecret: string) {
    const ts = Date.now();
    const messaging = TEXTS.slice(0, MESSAGES_PER_BATCH).map((text, i) => ({
      sender: { id: MARK('S', i) },
      recipient: { id: BENCH_PAGE_ID },
      timestamp: MARK('T', i),
      message: { mid: MARK('M', i), text },
    }));
    let template = metaJson({ object: 'page', entry: [{ id: BENCH_PAGE_ID, time: ts + 150, messaging }] });
    for (let i = 0; i < MESSAGES_PER_BATCH; i++) template = template.replace(TIME_MARK(i), MARK('T', i));
    const re = /@@([SMT])(\d+)@@/g;
    this.parts = template.split(re).filter((_, idx) => idx % 3 === 0);
    this.slots = [...template.matchAll(re)].map((m) => ({ kind: m[1] as 'S' | 'M' | 'T', i: Number(m[2]) }));
  }

  /** Messages are stamped when taken, as Meta stamps a message when it is sent. */
  take(): SignedBody {
    const base = this.next;
    this.next += MESSAGES_PER_BATCH;
    const senders: string[] = [];
    const now = String(Date.now());
    let body = this.parts[0] as string;
    this.slots.forEach((slot, k) => {
      const n = base + slot.i;
      const value = slot.kind === 'S' ? SENDER(n) : slot.kind === 'M' ? MID(this.run, n) : now;
      if (slot.kind === 'S') senders.push(value);
      body += value + (this.parts[k + 1] as string);
    });
    const signature = `sha256=${createHmac('sha256', this.appSecret).update(body).digest('hex')}`;
    return { body, signature, senders };
  }

  get issuedMessages(): number {
    return this.next;
  }
}
