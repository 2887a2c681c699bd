import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The node arguments of a package.json script of the form `node <args>`: `start:api` and
 * `start:worker` say how each process runs (node flags included), for `npm start` and the bench alike.
 */
export function scriptArgs(root: string, name: string): string[] {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [node, ...args] = (scripts[name] ?? '').split(' ');
  if (node !== 'node' || args.length === 0) throw new Error(`package.json script ${name} is not "node <args>"`);
  return args;
}
