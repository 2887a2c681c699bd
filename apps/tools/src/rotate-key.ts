import { loadConfigOrExit } from '@switchboard/config';
import { createDb } from '@switchboard/db';
import { resealPageInstructions, resealPageTokens } from '@switchboard/pages';
import { Sealer } from '@switchboard/privacy';

/**
 * `npm run rotate-key`: re-seals every stored page token and every page's instructions with the
 * current ENCRYPTION_KEY.
 *
 * Rotation: set the new key as ENCRYPTION_KEY and the old one in ENCRYPTION_KEY_PREVIOUS, restart
 * the API and workers (they read both, write with the new one), run this, and once it reports
 * nothing left on an old key the old key is no longer needed for them. Prints counts, never a token
 * or a text. Exits 1 when something could not be opened with any configured key (it stays as it was).
 */
const config = loadConfigOrExit();
const dbh = createDb(config.databaseUrl, { max: 2, applicationName: 'switchboard-rotate-key' });
try {
  const sealer = new Sealer(config.privacy.encryptionKey, config.privacy.previousEncryptionKeys);
  const r = await resealPageTokens(dbh.db, sealer);
  process.stdout.write(
    `page tokens: ${r.total} stored, ${r.resealed} re-sealed with the current key (id ${sealer.currentKeyId}), ${r.current} already on it, ${r.failed} unreadable\n`,
  );
  if (r.failed > 0) {
    process.stderr.write(
      `${r.failed} token(s) could not be opened with ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS: add the key that sealed them, or register new tokens (PUT /ops/pages/:pageId)\n`,
    );
    process.exitCode = 1;
  }
  const i = await resealPageInstructions(dbh.db, sealer);
  process.stdout.write(
    `page instructions: ${i.total} stored, ${i.resealed} re-sealed with the current key, ${i.current} already on it, ${i.failed} unreadable\n`,
  );
  if (i.failed > 0) {
    process.stderr.write(
      `${i.failed} page(s)' instructions could not be opened with ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS: add the key that sealed them, or set them again (PUT /ops/pages/:pageId/instructions)\n`,
    );
    process.exitCode = 1;
  }
} catch (err) {
  process.stderr.write(`key rotation failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await dbh.close();
}
