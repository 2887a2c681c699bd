import { graphVersionStatus } from '@switchboard/pages';
import type { Findings } from './findings.js';

/** Below this the upgrade is urgent rather than planned (packages/pages warns earlier). */
const CRITICAL_DAYS = 30;

/**
 * The pinned Graph API version must not be near its end of life: a call to an expired version is
 * silently served by the oldest live one (https://developers.facebook.com/docs/graph-api/guides/versioning).
 * The version table is packages/pages' (shared with health and /ops).
 */
export function checkGraphVersion(version: string, f: Findings, now = new Date()): void {
  const about = ['GRAPH_API_VERSION'];
  const s = graphVersionStatus(version, now);
  const when = s.end_of_life ? `ends ${s.end_of_life}, ${s.days_left} days left` : 'no end of life announced';
  if (s.days_left !== null && s.days_left <= CRITICAL_DAYS)
    f.critical(
      'graph.version',
      `Graph API ${version} ${s.days_left === 0 ? 'is past its end of life' : `(${when})`}: upgrade GRAPH_API_VERSION now`,
      about,
    );
  else if (s.warning)
    f.warning('graph.version', `Graph API ${version} (${when}): plan the upgrade of GRAPH_API_VERSION`, about);
  else f.ok('graph.version', `Graph API ${version} (${when})`, about);
}
