import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import type { Pipeline } from './pipeline.js';
import { ROOT } from './processes.js';

/** Debian's Chromium (apt-get install chromium): the browser the dashboard tests drive. */
export const CHROMIUM = '/usr/bin/chromium';

/** Screenshots for people to look at; git-ignored. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

/**
 * Headless, as root, and quiet on a machine without internet: without the background-networking
 * flags Chromium keeps opening connections this sandbox refuses.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser test's `skip`: false when Chromium is there, else the reason. In CI a missing browser
 * fails the run instead (`fail` is the test's own t.fail), so the browser tests never go quiet.
 */
export function browserSkip(fail: (message: string) => void): false | string {
  if (existsSync(CHROMIUM)) return false;
  const reason = `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run the browser test`;
  if (process.env.CI) fail(`${reason}: CI must run it`);
  return reason;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** Where a screenshot named `name` goes. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** The HMAC a pipeline's processes keep an id as (PSID_HASH_SECRET): how a test finds its rows. */
export function hashOf(p: Pipeline, id: string): string {
  return createHmac('sha256', p.env.PSID_HASH_SECRET as string)
    .update(id)
    .digest('hex');
}
