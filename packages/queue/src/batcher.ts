/**
 * Groups the writes of concurrently running jobs into one statement (a PostgreSQL upsert, a Redis
 * script call): a write that arrives while no flush is running starts one after `lingerMs` (or at
 * the next turn of the event loop), together with whatever else arrived meanwhile; writes that
 * arrive while flushes are running wait for one to finish and then go together, after the same
 * linger. Each caller's promise settles when its own write is committed, so a job never completes
 * before its write — batching changes the cost, not the guarantees.
 *
 * Items with the same key never share a batch (one statement may not upsert a row twice); a batch
 * that fails is retried item by item, so one bad item fails only its own job.
 */
export interface BatcherOptions<T> {
  /** Largest batch (bounded statement size). */
  maxBatch?: number;
  /** Flushes allowed to run at once (each holds one database connection). */
  maxInFlight?: number;
  /** Items with equal keys go into different batches. */
  key?: (item: T) => string;
  /** How long a flush waits for more items before it starts (0: the next turn of the event loop). */
  lingerMs?: number;
}

interface Pending<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (err: unknown) => void;
}

export class Batcher<T, R> {
  readonly #run: (items: T[]) => Promise<R[]>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #key: ((item: T) => string) | undefined;
  readonly #lingerMs: number;
  #queue: Pending<T, R>[] = [];
  #inFlight = 0;
  #scheduled = false;

  /** `run` gets a batch and answers one result per item, in order. */
  constructor(run: (items: T[]) => Promise<R[]>, opts: BatcherOptions<T> = {}) {
    this.#run = run;
    this.#maxBatch = opts.maxBatch ?? 100;
    this.#maxInFlight = opts.maxInFlight ?? 2;
    this.#key = opts.key;
    this.#lingerMs = opts.lingerMs ?? 0;
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    this.#scheduled = true;
    const flush = () => {
      this.#scheduled = false;
      this.#flush();
    };
    if (this.#lingerMs > 0) setTimeout(flush, this.#lingerMs);
    else setImmediate(flush);
  }

  #take(): Pending<T, R>[] {
    if (!this.#key) return this.#queue.splice(0, this.#maxBatch);
    const batch: Pending<T, R>[] = [];
    const rest: Pending<T, R>[] = [];
    const seen = new Set<string>();
    for (const p of this.#queue) {
      const k = this.#key(p.item);
      if (batch.length < this.#maxBatch && !seen.has(k)) {
        seen.add(k);
        batch.push(p);
      } else rest.push(p);
    }
    this.#queue = rest;
    return batch;
  }

  #flush(): void {
    if (this.#inFlight >= this.#maxInFlight || this.#queue.length === 0) return;
    const batch = this.#take();
    this.#inFlight += 1;
    void this.#execute(batch).finally(() => {
      this.#inFlight -= 1;
      this.#schedule();
    });
    // More waiting than one batch holds, and room for another flush: start it now.
    if (this.#queue.length > 0) this.#schedule();
  }

  async #execute(batch: Pending<T, R>[]): Promise<void> {
    try {
      const results = await this.#run(batch.map((p) => p.item));
      if (results.length !== batch.length)
        throw new Error(`batch answered ${results.length} results for ${batch.length} items`);
      batch.forEach((p, i) => p.resolve(results[i] as R));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]?.reject(err);
        return;
      }
      // One at a time, so a bad item fails alone.
      await Promise.all(
        batch.map(async (p) => {
          try {
            const [result] = await this.#run([p.item]);
            p.resolve(result as R);
          } catch (e) {
            p.reject(e);
          }
        }),
      );
    }
  }
}
