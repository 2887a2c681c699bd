/**
 * Webhook signatures (X-Hub-Signature-256) and appsecret_proof.
 *
 * Meta signs the exact bytes it sends, with non-ASCII escaped as \uXXXX and `/` possibly as `\/`,
 * so the HMAC must be computed over the raw received body, never over re-serialised JSON
 * (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/).
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

const PREFIX = 'sha256=';
const HEX_DIGEST_LENGTH = 64; // SHA-256 = 32 bytes
const HEADER_LENGTH = PREFIX.length + HEX_DIGEST_LENGTH;

function secretKey(appSecret: string): KeyObject {
  // An empty secret would make every forged signature trivially computable: refuse it up front
  // instead of "verifying" with it, as a receiver that skips the check when no secret is set would.
  if (typeof appSecret !== 'string' || appSecret.length === 0) {
    throw new TypeError('app secret must be a non-empty string');
  }
  return createSecretKey(Buffer.from(appSecret, 'utf8'));
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/**
 * Returns a verifier bound to one App Secret. The key object and a scratch buffer are prepared
 * once; a call allocates only the HMAC. Any missing, malformed or wrong-length header yields
 * `false` (the route answers 403), never an exception. The SHA-1 `X-Hub-Signature` is not
 * accepted: only the `sha256=` form, with a lowercase prefix exactly as Meta sends it; hex digits
 * are accepted in either case because they denote the same bytes.
 */
export function createSignatureVerifier(appSecret: string): (rawBody: Buffer, header: string | undefined) => boolean {
  const key = secretKey(appSecret);
  // Safe to reuse: the verifier is synchronous, so no two calls interleave on this buffer.
  const received = Buffer.alloc(HEX_DIGEST_LENGTH / 2);

  return (rawBody, header) => {
    if (typeof header !== 'string' || header.length !== HEADER_LENGTH || !header.startsWith(PREFIX)) return false;
    if (!Buffer.isBuffer(rawBody)) return false;
    for (let i = PREFIX.length; i < HEADER_LENGTH; i++) {
      if (!isHexDigit(header.charCodeAt(i))) return false;
    }
    received.write(header.slice(PREFIX.length), 0, 'hex');
    const expected = createHmac('sha256', key).update(rawBody).digest();
    return timingSafeEqual(received, expected);
  };
}

/** `sha256=<hex>` over the given bytes, as Meta would send it (used by tests and the simulator). */
export function signPayload(appSecret: string, body: Buffer | string): string {
  return PREFIX + createHmac('sha256', secretKey(appSecret)).update(body).digest('hex');
}

/**
 * Hex HMAC-SHA256 of the access token keyed with the App Secret, sent with every server-side
 * Graph call (https://developers.facebook.com/docs/graph-api/securing-requests).
 */
export function appSecretProof(appSecret: string, accessToken: string): string {
  return createHmac('sha256', secretKey(appSecret)).update(accessToken, 'utf8').digest('hex');
}
