/**
 * Names in the environment that look like a misspelt Switchboard variable (ADMIN_PASSWORD for
 * ADMIN_PASS, GEMINI_API_KY for GEMINI_API_KEY): a variable that is never read is otherwise
 * silently ignored, and its setting with it. Only names are looked at, never values.
 */

/** Upper-case names only: the machine's ordinary environment is mostly ours-unlike (PATH, npm_*). */
const CANDIDATE = /^[A-Z][A-Z0-9_]{3,}$/;

/**
 * Optimal-string-alignment distance (Levenshtein plus swapping two neighbours): a dozen lines for
 * names of a few dozen characters, not worth a dependency.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * How close `name` is to `known`, or undefined when it is not close enough to be a slip: a typo
 * (one edit for short names, two from 8 characters on, so HOME is not taken for HOST), or the same
 * name with something added or cut off after a shared first word (ADMIN_PASSWORD, ADMIN_PASS).
 */
function closeness(name: string, known: string): number | undefined {
  const distance = editDistance(name, known);
  if (distance <= (known.length >= 8 ? 2 : 1)) return distance;
  const first = known.split('_')[0] as string;
  if (known.includes('_') && name.startsWith(`${first}_`) && (name.startsWith(known) || known.startsWith(name)))
    return distance;
  return undefined;
}

/** One warning per unknown name that nearly matches a known one, naming the nearest. */
export function nearMissWarnings(env: Record<string, unknown>, known: ReadonlySet<string>): string[] {
  const warnings: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (known.has(name) || !CANDIDATE.test(name)) continue;
    let best: { known: string; distance: number } | undefined;
    for (const k of known) {
      const distance = closeness(name, k);
      if (distance !== undefined && (!best || distance < best.distance)) best = { known: k, distance };
    }
    if (best) warnings.push(`${name} is not a Switchboard variable and is ignored; did you mean ${best.known}?`);
  }
  return warnings;
}
