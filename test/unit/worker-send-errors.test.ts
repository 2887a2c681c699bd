// How a refused send ends: typed errors carrying Meta's code as data, never parsed back from words.
import { UnrecoverableError } from 'bullmq';
import t from 'tap';
import { GraphApiError } from '@switchboard/meta';
import {
  PermanentSendError,
  RetryableSendError,
  sendErrorCode,
  sendFailureOf,
} from '../../apps/worker/src/send-errors.js';

t.test('a permanent send error is one BullMQ does not retry, and keeps its code', async (t) => {
  const err = new PermanentSendError({ detail: 'graph 10/2018278 (status 400): outside the window', code: 10 });
  t.ok(err instanceof UnrecoverableError, 'dead-lettered at once');
  t.equal(err.message, 'graph 10/2018278 (status 400): outside the window');
  t.equal(sendErrorCode(err), 10);
});

t.test('a retryable send error carries its retry hints as typed fields', async (t) => {
  const err = new RetryableSendError(
    { detail: 'graph 4 (status 400): too many calls', code: 4 },
    {
      rateLimited: true,
      retryAfterMs: 30_000,
    },
  );
  t.notOk(err instanceof UnrecoverableError);
  t.same([err.rateLimited, err.retryAfterMs, sendErrorCode(err)], [true, 30_000, 4]);
});

t.test('an error that is not a send error has no Graph code, whatever its message says', async (t) => {
  t.equal(sendErrorCode(new Error('graph 10 (status 400): looks like a code')), null);
});

t.test("a Graph error's failure: its summary and its code", async (t) => {
  const err = new GraphApiError({ status: 400, code: 551, graphMessage: 'This person is not available' });
  const failure = sendFailureOf(err);
  t.equal(failure.code, 551);
  t.equal(failure.detail, err.summary);
});
