/** One stage of a batch pipeline: batches pass it one at a time, in the order they entered. */
export class SerialStage {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** A stage that up to `width` batches occupy at once; the others wait their turn, in order. */
export class ConcurrentStage {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly width: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.busy < this.width) this.busy++;
    // The finishing batch hands its place over, so `busy` stays counted.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy--;
    }
  }
}

/**
 * Runs batches through consecutive serial stages so that different batches occupy different
 * stages at the same time (batch n+1 is stored while batch n is published), in order, with at
 * most `depth` batches in flight: `submit` waits for room, which is what slows the reader, and
 * through it the upload, down. The first failure is kept; `drain` waits for every batch and
 * rethrows it.
 */
export class BatchPipeline<B> {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly depth: number,
    private readonly process: (batch: B) => Promise<void>,
  ) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  async submit(batch: B): Promise<void> {
    this.throwIfFailed();
    while (this.inFlight.size >= this.depth) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
    const done: Promise<void> = this.process(batch).then(
      () => {
        this.inFlight.delete(done);
      },
      (error: unknown) => {
        this.failure ??= { error };
        this.inFlight.delete(done);
      },
    );
    this.inFlight.add(done);
  }

  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
