import { cpus, totalmem } from 'node:os';

/** The line docs/performance.md quotes next to every set of numbers. */
export function hardwareLine(): string {
  const list = cpus();
  const model = list[0]?.model.trim() ?? 'unknown cpu';
  return `hardware: ${model}, ${list.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, node ${process.version}, ${process.platform}/${process.arch}`;
}
