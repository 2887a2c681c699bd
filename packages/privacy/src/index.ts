/**
 * Privacy primitives, used wherever a personal id, a text or a secret would otherwise be stored:
 * - `hashId`: HMAC-SHA256 of a user id (PSID/IGSID) under PSID_HASH_SECRET — stable, not reversible;
 * - `Sealer`: AES-256-GCM seal/open with a key id, so ENCRYPTION_KEY can be rotated;
 * - `safeEqual`: constant-time comparison of strings of any length.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Stable, keyed, one-way id for a user: what PostgreSQL, Redis keys and logs carry instead of the PSID. */
export function hashId(secret: string, id: string): string {
  return createHmac('sha256', secret).update(id).digest('hex');
}

/** A hasher bound to its secret, so hot paths do not pass the secret around. */
export function createIdHasher(secret: string): (id: string) => string {
  return (id) => hashId(secret, id);
}

/**
 * Constant-time equality. Both sides are hashed first so neither the content nor the length of the
 * expected value leaks through timing (timingSafeEqual itself requires equal lengths).
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Short public identifier of a key: lets a sealed value name the key that opens it, without revealing it. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

const VERSION = 'v1';
const IV_BYTES = 12; // GCM's recommended nonce size (NIST SP 800-38D)

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

/**
 * AES-256-GCM with a key ring: seals with the current key, opens with whichever key the sealed value
 * names. Output: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts) — text, safe for JSON,
 * Redis and PostgreSQL `text` columns.
 */
export class Sealer {
  private readonly current: { id: string; key: Buffer };
  private readonly keys = new Map<string, Buffer>();

  constructor(currentKey: Buffer, previousKeys: readonly Buffer[] = []) {
    if (currentKey.length !== 32) throw new SealError('encryption key must be 32 bytes');
    this.current = { id: keyId(currentKey), key: currentKey };
    for (const k of [currentKey, ...previousKeys]) {
      if (k.length !== 32) throw new SealError('encryption key must be 32 bytes');
      this.keys.set(keyId(k), k);
    }
  }

  /**
   * Random IVs drawn from a pooled buffer: one getrandom call per 256 seals instead of one per seal
   * (sealing is on the webhook path). Each IV is still 96 fresh random bits, never reused.
   */
  private ivPool = Buffer.alloc(0);
  private ivOffset = 0;
  private nextIv(): Buffer {
    if (this.ivOffset + IV_BYTES > this.ivPool.length) {
      this.ivPool = randomBytes(IV_BYTES * 256);
      this.ivOffset = 0;
    }
    const iv = this.ivPool.subarray(this.ivOffset, this.ivOffset + IV_BYTES);
    this.ivOffset += IV_BYTES;
    return iv;
  }

  get currentKeyId(): string {
    return this.current.id;
  }

  seal(plaintext: string, associatedData?: string): string {
    const iv = this.nextIv();
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    if (associatedData) cipher.setAAD(Buffer.from(associatedData));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [
      VERSION,
      this.current.id,
      iv.toString('base64url'),
      tag.toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  open(sealed: string, associatedData?: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new SealError('not a sealed value');
    const [, id, iv, tag, body] = parts as [string, string, string, string, string];
    const key = this.keys.get(id);
    if (!key) throw new SealError(`no key with id ${id} is configured`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      if (associatedData) decipher.setAAD(Buffer.from(associatedData));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SealError('sealed value failed authentication');
    }
  }

  /** The key id a sealed value was written with (for rotation: re-seal what is not current). */
  static keyIdOf(sealed: string): string | undefined {
    const parts = sealed.split('.');
    return parts.length === 5 ? parts[1] : undefined;
  }

  sealJson(value: unknown, associatedData?: string): string {
    return this.seal(JSON.stringify(value), associatedData);
  }

  openJson<T>(sealed: string, associatedData?: string): T {
    return JSON.parse(this.open(sealed, associatedData)) as T;
  }
}
