// Fakes nothing, and runs no container: there is no Docker engine here. `docker compose config`
// first checks a file against the Compose Specification's JSON schema; this test does the same with
// the schema dclint ships (validated with Ajv, YAML anchors and merge keys resolved as Compose does),
// and runs `config` itself where a Compose v2 binary is installed.
//
// Debian's docker-compose (1.29.2) is not used: it predates parts of the Compose Specification this
// file relies on — the top-level `name` (the project name, so volumes are named alike wherever the
// repository is cloned) and `env_file` entries with `required: false` (so `config` works before
// .env exists) — and refuses the file for them, whatever is wrong or right in the rest.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DCLinter } from 'dclint';
import t from 'tap';
import { ROOT } from '../helpers/processes.js';

const COMPOSE = join(ROOT, 'docker-compose.yml');
/** dclint's mandatory checks; its style rules are not this project's conventions. */
const VALIDITY_RULES = new Set(['invalid-yaml', 'invalid-schema']);

/** What the Compose Specification schema finds wrong in a file: empty when it conforms. */
function schemaProblems(file: string): string[] {
  const linter = new DCLinter({ rules: {}, quiet: true, debug: false, exclude: [] });
  // dclint's declaration files use extensionless relative imports, which NodeNext cannot follow: its results are typed here.
  const results = linter.lintFiles([file], false) as Array<{ messages: Array<{ rule: string; message: string }> }>;
  return results
    .flatMap((result) => result.messages)
    .filter((m) => VALIDITY_RULES.has(m.rule))
    .map((m) => m.message);
}

/** The compose file with one change, written to a scratch directory. */
function variant(t: { teardown(fn: () => void): void }, from: string, to: string): string {
  const text = readFileSync(COMPOSE, 'utf8');
  if (!text.includes(from)) throw new Error(`docker-compose.yml no longer contains ${JSON.stringify(from)}`);
  const dir = mkdtempSync(join(tmpdir(), 'compose-variant-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'docker-compose.yml');
  writeFileSync(file, text.replace(from, to));
  return file;
}

t.test('docker-compose.yml conforms to the Compose Specification schema', async (t) => {
  t.same(schemaProblems(COMPOSE), []);
});

t.test('the schema check refuses what `docker compose config` refuses', async (t) => {
  const mistakes: Array<[string, string, RegExp]> = [
    // Inside the shared x-app block: caught in every service that merges it.
    [
      '  restart: unless-stopped\n  env_file:',
      '  restrat: unless-stopped\n  env_file:',
      /\/services\/migrate.*additional properties/,
    ],
    ['condition: service_completed_successfully', 'condition: service_done', /\/services\/\w+\/depends_on/],
    ['required: false', 'requird: false', /env_file/],
    [
      'networks: [edge]\n    depends_on:',
      'network: [edge]\n    depends_on:',
      /\/services\/proxy.*additional properties/,
    ],
  ];
  for (const [from, to, problem] of mistakes) {
    const problems = schemaProblems(variant(t, from, to));
    t.equal(problems.length, 1, `${JSON.stringify(to)}: refused`);
    t.match(problems[0], problem, '…naming where');
  }
});

t.test('every variable the file reads has a default, so `config` needs no .env', async (t) => {
  const uses = [...readFileSync(COMPOSE, 'utf8').matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1] as string);
  t.ok(uses.length > 0);
  for (const use of uses) t.match(use, /^[A-Z_][A-Z0-9_]*:-/, `\${${use}} has a default`);
});

/** `docker compose` (the v2 plugin) or a v2 `docker-compose`, or why neither is here. */
function composeV2(): { command: string[] } | { missing: string } {
  for (const command of [['docker', 'compose'], ['docker-compose']]) {
    const run = spawnSync(command[0] as string, [...command.slice(1), 'version', '--short'], { encoding: 'utf8' });
    if (run.status !== 0) continue;
    const version = run.stdout.trim();
    if (/^v?[2-9]\./.test(version)) return { command };
    return {
      missing: `${command.join(' ')} ${version} predates the Compose Specification's top-level name and optional env_file this file uses; the schema check covers it`,
    };
  }
  return {
    missing: 'no Compose v2 (docker compose or docker-compose 2.x) is installed; the schema check covers the file',
  };
}

const compose = composeV2();
t.test(
  '`docker compose config` accepts the file',
  { skip: 'missing' in compose ? compose.missing : false },
  async (t) => {
    if ('missing' in compose) return;
    const [bin, ...args] = compose.command as [string, ...string[]];
    const run = spawnSync(bin, [...args, '-f', COMPOSE, 'config', '--quiet'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', DOMAIN: 'bot.example.com' },
    });
    t.equal(run.status, 0, run.stderr);
  },
);
