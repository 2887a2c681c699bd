/**
 * Graph API versions and when Meta retires them. Meta keeps each version for two years after its
 * successor ships (https://developers.facebook.com/docs/graph-api/guides/versioning); a call to an
 * expired version is silently served by the oldest live one, so a pinned version that lapses
 * changes behaviour without any error. Where Meta published an exact "available until" date it is
 * given; otherwise the end of life is the successor's release plus two years (month precision
 * counts from the 1st, the earlier reading).
 *
 * Update this table when Meta ships a version (docs/meta-platform.md, "Graph API versions").
 */
interface VersionRow {
  version: string;
  /** ISO date (or YYYY-MM when Meta gave only the month). */
  released: string;
  /** ISO date Meta published, when it did. */
  endOfLife?: string;
}

export const GRAPH_VERSIONS: readonly VersionRow[] = Object.freeze([
  { version: 'v17.0', released: '2023-05-23', endOfLife: '2025-09-12' },
  { version: 'v18.0', released: '2023-09-12', endOfLife: '2026-01-26' },
  { version: 'v19.0', released: '2024-01-23', endOfLife: '2026-05-21' },
  { version: 'v20.0', released: '2024-05-21', endOfLife: '2026-09-24' },
  { version: 'v21.0', released: '2024-10-02' },
  { version: 'v22.0', released: '2025-01-21' },
  { version: 'v23.0', released: '2025-05-29' },
  { version: 'v24.0', released: '2025-10' },
  // Meta gives v25.0 as available until about July 2028; the 1st is the earlier reading.
  { version: 'v25.0', released: '2026-02', endOfLife: '2028-07-01' },
  { version: 'v26.0', released: '2026-07' },
]);

/** Health and /ops warn this long before the pinned version's end of life. */
export const GRAPH_VERSION_WARNING_DAYS = 90;

const DAY_MS = 24 * 3600 * 1000;

export interface GraphVersionStatus {
  version: string;
  /** ISO date, or null when not known (the newest version, or one missing from the table). */
  end_of_life: string | null;
  days_left: number | null;
  /** Within GRAPH_VERSION_WARNING_DAYS of its end of life, past it, or older than every known version. */
  warning: boolean;
}

const toDate = (iso: string): Date => new Date(iso.length === 7 ? `${iso}-01T00:00:00Z` : `${iso}T00:00:00Z`);
const versionNumber = (v: string): number => Number(v.replace(/^v/, ''));

function endOfLife(index: number): Date | null {
  const row = GRAPH_VERSIONS[index];
  if (!row) return null;
  if (row.endOfLife) return toDate(row.endOfLife);
  const successor = GRAPH_VERSIONS[index + 1];
  if (!successor) return null;
  const eol = toDate(successor.released);
  eol.setUTCFullYear(eol.getUTCFullYear() + 2);
  return eol;
}

export function graphVersionStatus(version: string, now: Date = new Date()): GraphVersionStatus {
  const index = GRAPH_VERSIONS.findIndex((row) => row.version === version);
  if (index === -1) {
    const oldest = GRAPH_VERSIONS[0];
    // Older than anything in the table: long retired. Newer: not known yet, nothing to warn about.
    const retired = oldest !== undefined && versionNumber(version) < versionNumber(oldest.version);
    return { version, end_of_life: null, days_left: retired ? 0 : null, warning: retired };
  }
  const eol = endOfLife(index);
  if (eol === null) return { version, end_of_life: null, days_left: null, warning: false };
  const daysLeft = Math.floor((eol.getTime() - now.getTime()) / DAY_MS);
  return {
    version,
    end_of_life: eol.toISOString().slice(0, 10),
    days_left: Math.max(0, daysLeft),
    warning: daysLeft <= GRAPH_VERSION_WARNING_DAYS,
  };
}
