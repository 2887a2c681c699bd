import type { OpsDeps } from '../routes/ops/ops-deps.js';

/**
 * One section of the ops dashboard: what it reads and how it shows it. The page is the list in
 * sections.ts, in order; a new section is one more module there. Each renders on its own, so the
 * page's script can swap a section for its fresh copy without touching the others (an editor
 * being typed in, a confirmation being answered).
 */
export interface DashboardSection<T = unknown> {
  /** Stable: the element id `section-<id>` and the key the page's script refreshes by. */
  id: string;
  /** The heading, plain text. */
  title: string;
  /** The heading with what the data adds (a count), escaped HTML; the title when absent. */
  heading?(data: T): string;
  load(deps: OpsDeps): Promise<T>;
  /** The section's body, escaped HTML. */
  render(data: T): string;
}

/** A section whose data type is checked where it is written, then kept in one list with the others. */
export const section = <T>(s: DashboardSection<T>): DashboardSection => s as DashboardSection;
