// Fakes nothing: reads docs/setup.md and README.md as a new user would, and holds what they say
// against the code that does it (the webhook fields the token check subscribes, the permissions it
// checks for, the answers and log lines the processes write, the npm scripts).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { requiredFields, requiredScopes } from '@switchboard/pages';
import { ROOT } from '../helpers/processes.js';

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const setup = read('docs/setup.md');

/** The guide's section `## N. Title` (or `## Title`), up to the next one. */
function sectionOf(title: RegExp): string {
  const parts = setup.split(/^(?=## )/m);
  const found = parts.find((p) => title.test(p.split('\n')[0] ?? ''));
  if (!found) throw new Error(`docs/setup.md has no section ${title}`);
  return found;
}

/** Every TypeScript source of the apps and packages, for the strings the guide quotes. */
function sources(): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name === 'node_modules' || name === 'dist') continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) out.push(readFileSync(path, 'utf8'));
    }
  };
  walk(join(ROOT, 'apps'));
  walk(join(ROOT, 'packages'));
  return out.join('\n');
}

t.test('the README sends a new user to docs/setup.md before anything else', async (t) => {
  const readme = read('README.md');
  const pointer = readme.indexOf('](docs/setup.md)');
  t.ok(pointer > 0, 'linked');
  t.ok(pointer < readme.indexOf('\n## '), 'before the first section');
});

t.test('the guide covers the Meta app, the webhook, the permissions, the token, production and trouble', async (t) => {
  for (const title of [
    /Create the Meta app/,
    /callback URL and verify token/,
    /Permissions and App Review/,
    /Page token/,
    /Production checklist/,
    /Troubleshooting/,
    /WhatsApp/,
  ])
    t.ok(sectionOf(title), String(title));
  const webhook = sectionOf(/callback URL and verify token/);
  t.match(webhook, /https:\/\/[^\s`]+\/webhook/, 'the callback URL, with its path');
  t.match(webhook, /FACEBOOK_VERIFY_TOKEN/, 'the verify token is the variable');
});

t.test('the fields to subscribe are the ones the token check subscribes, per channel', async (t) => {
  const rows = sectionOf(/callback URL and verify token/)
    .split('\n')
    .map((line) => /^\| (Messenger|Instagram) \| (`[^|]+`) \|/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null);
  const fields = (channel: string) =>
    rows.filter((m) => m[1] === channel).flatMap((m) => [...(m[2] as string).matchAll(/`(\w+)`/g)].map((f) => f[1]));
  t.same(fields('Messenger').sort(), requiredFields('messenger').sort(), 'Messenger: the required fields, no more');
  t.same(fields('Instagram').sort(), requiredFields('instagram').sort(), 'Instagram: the required fields');
  t.match(
    sectionOf(/WhatsApp/),
    new RegExp(
      requiredFields('whatsapp')
        .map((f) => `\`${f}\``)
        .join('|'),
    ),
    'WhatsApp',
  );
});

t.test('the guide asks for every permission a token is checked for', async (t) => {
  const text = sectionOf(/Permissions and App Review/) + sectionOf(/WhatsApp/);
  for (const channel of ['messenger', 'instagram', 'whatsapp'] as const)
    for (const group of requiredScopes(channel))
      t.ok(
        group.some((scope) => text.includes(`\`${scope}\``)),
        `${channel}: ${group.join(' or ')}`,
      );
});

t.test('the production checklist runs a script that exists', async (t) => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  const named = [...sectionOf(/Production checklist/).matchAll(/`npm run ([\w:-]+)`/g)].map((m) => m[1] as string);
  t.ok(named.includes('security-audit'), 'npm run security-audit');
  for (const script of named) t.ok(scripts[script], `npm run ${script} exists`);
});

t.test('every answer and log line the troubleshooting table quotes is one the code writes', async (t) => {
  const table = sectionOf(/Troubleshooting/);
  const code = sources();
  // What a person sees, quoted in the table; the log lines of an outage name their target after "at".
  const quoted: Array<[string, string]> = [
    ['"error":"https_required"', "'https_required'"],
    ['"error":"invalid_signature"', "'invalid_signature'"],
    ['webhook refused: HTTPS required', 'webhook refused: HTTPS required'],
    ['webhook signature invalid', 'webhook signature invalid'],
    ['webhook verification handshake refused', 'webhook verification handshake refused'],
    ['dry run: no page token known', 'dry run: no page token known'],
    ['redis unreachable at HOST:PORT', "outageTracker(logger, 'redis'"],
    ['postgresql unreachable at HOST:PORT', "outageTracker(logger, 'postgresql'"],
    ['starting without PostgreSQL', 'starting without PostgreSQL'],
    ['reachable again', 'reachable again'],
  ];
  for (const [inGuide, inCode] of quoted) {
    t.ok(table.includes(inGuide), `the table quotes ${inGuide}`);
    t.ok(code.includes(inCode), `…and the code writes it (${inCode})`);
  }
  t.ok(code.includes('unreachable at ${target}'), 'an outage line names its target');
  t.match(table, /TRUST_PROXY/, 'a refused plain-HTTP webhook points to TRUST_PROXY');
});
