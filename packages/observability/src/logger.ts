import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear (https://getpino.io/#/docs/redaction). Belt and
 * braces: the code logs hashed ids and never texts, but a stray object must not leak a secret.
 */
export const REDACT_PATHS = [
  'authorization',
  'password',
  'pass',
  'token',
  'access_token',
  'accessToken',
  'appsecret_proof',
  'apiKey',
  'api_key',
  'secret',
  'key',
  'text',
  'senderId',
  'recipientId',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'req.headers["x-goog-api-key"]',
  'headers.authorization',
  'headers["x-hub-signature-256"]',
  '*.authorization',
  '*.password',
  '*.token',
  '*.access_token',
  '*.accessToken',
  '*.appsecret_proof',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.text',
  '*.senderId',
  '*.recipientId',
];

export function createLogger(opts: { level: string; service: string; destination?: pino.DestinationStream }): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    base: { service: opts.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // Asynchronous stdout: pino's default synchronous write costs one syscall per line on the webhook
  // path; asynchronously, lines that arrive while a write is in flight leave together, and a quiet
  // process still writes each line at once. The price is the lines in flight if the process is
  // killed with SIGKILL; pino flushes on a normal exit.
  return pino(options, opts.destination ?? pino.destination({ dest: 1, sync: false }));
}
