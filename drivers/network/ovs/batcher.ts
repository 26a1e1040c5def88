/**
 * Coalesces concurrent requests into one host command: while one batch runs, new requests
 * queue, and the next batch takes all of them. 20 callers plugging ports cost a handful of
 * ovs-vsctl transactions instead of 20 (one ovs-vsctl call per port costs ~15 ms, 200 ports
 * in one call ~0.5 ms each). `execute` may return one error (or null) per item; when it
 * throws, each item is retried alone, so one bad request fails only its own caller.
 */
export class Batcher<T> {
  private queue: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly execute: (items: T[]) => Promise<(Error | null)[] | undefined>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    // Let the callers of this tick queue up first.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const errors = await this.execute(batch.map((b) => b.item));
        batch.forEach((b, i) => {
          const err = errors?.[i];
          if (err) b.reject(err);
          else b.resolve();
        });
      } catch (err) {
        if (batch.length === 1) batch[0].reject(err);
        else {
          for (const b of batch) {
            try {
              const [err] = (await this.execute([b.item])) ?? [];
              if (err) b.reject(err);
              else b.resolve();
            } catch (itemErr) {
              b.reject(itemErr);
            }
          }
        }
      }
    }
    this.running = false;
  }
}

/** Runs callers with the same key one after another (ensure/delete of one object). */
export class KeyedLock {
  private tails = new Map<string, Promise<void>>();

  async with<R>(key: string, fn: () => Promise<R>): Promise<R> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
