import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The node arguments of a package.json script of the form `[exec] node <args>`: `start:api` and
 * `start:worker` say how each process runs (node flags included), for `npm start`, the bench and
 * the deployment files alike.
 *
 * The long-running scripts start with `exec`: npm runs a script through `sh -c`, and Debian's sh
 * (dash) does not replace itself with the last command, so npm's SIGTERM would reach only the shell
 * and leave node running, orphaned. With `exec`, node is npm's child and gets the signal itself.
 */
export function scriptArgs(root: string, name: string): string[] {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  const words = (scripts[name] ?? '').split(' ');
  const [node, ...args] = words[0] === 'exec' ? words.slice(1) : words;
  if (node !== 'node' || args.length === 0) throw new Error(`package.json script ${name} is not "[exec] node <args>"`);
  return args;
}

/** The command a container runs for a script: `node <args>` (a container's node is PID 1, no shell). */
export function scriptCommand(root: string, name: string): string[] {
  return ['node', ...scriptArgs(root, name)];
}
