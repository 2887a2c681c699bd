/**
 * JSON serialised the way Meta serialises webhook bodies: every non-ASCII UTF-16 unit escaped as
 * \uXXXX (so emoji become surrogate-pair escapes) and `/` escaped as `\/`. Meta signs these exact
 * bytes (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/), so the
 * simulator and tests must produce them to exercise the raw-body signature path for real.
 */
export function metaJson(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('value is not serialisable as JSON');
  return json
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}
