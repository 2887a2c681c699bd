import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits a run may make at once, per slot that works: a held message waits REPLY_DEBOUNCE_MS, so
 * the places needed are the new messages a second times the debounce. At the default 128 slots,
 * 1 024 places hold ~680 new messages a second per worker at the default 1.5 s, more than one
 * worker answers (docs/performance.md); at four per slot, the cost bench's flood overflows into
 * delayed jobs, ~30 Redis commands more each.
 */
export const WAITS_PER_SLOT = 8;

/**
 * The inbound worker's runs, as two kinds of slot: WORKER_CONCURRENCY runs that work at once, and
 * up to `maxWaiting` more that wait inside their run (a message held for its burst waits out the
 * debounce) without keeping a working slot. BullMQ's concurrency is the sum (`capacity`), so a
 * waiting run never stops the worker from fetching the next job, and the runs that work stay as
 * many as configured; a job fetched while every working slot is taken waits for one, in the order
 * the jobs were fetched.
 *
 * Waiting in the run instead of delaying the job spares a second lifecycle of it: BullMQ's move
 * to delayed, its fetch again and the mark that it was held, ~30 Redis commands and 3 round trips
 * per held message (docs/performance.md, `held-wait-in-run`). When every waiting place is taken,
 * `wait` answers false and the caller delays its job as before.
 */
export class RunSlots {
  /** BullMQ's concurrency for the worker: the runs that work and the runs that wait. */
  readonly capacity: number;
  readonly #maxWaiting: number;
  #free: number;
  #waiting = 0;
  readonly #queue: Array<() => void> = [];

  constructor(working: number, maxWaiting: number) {
    this.#free = working;
    this.#maxWaiting = maxWaiting;
    this.capacity = working + maxWaiting;
  }

  /** Runs `fn` in a working slot; `fn` may give it up for a while with `wait(ms)`. */
  async run<T>(fn: (wait: (ms: number) => Promise<boolean>) => Promise<T>): Promise<T> {
    await this.#acquire();
    let holding = true;
    const wait = async (ms: number): Promise<boolean> => {
      if (ms <= 0) return true;
      if (this.#waiting >= this.#maxWaiting) return false;
      this.#waiting += 1;
      holding = false;
      this.#release();
      try {
        await sleep(ms);
      } finally {
        this.#waiting -= 1;
        await this.#acquire();
        holding = true;
      }
      return true;
    };
    try {
      return await fn(wait);
    } finally {
      if (holding) this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  /** Hands the slot to the first run that waits for one, in the order they asked. */
  #release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free += 1;
  }
}
