import { BatchPipeline, ConcurrentStage, SerialStage } from './batch-pipeline';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}
const deferred = (): Deferred => {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('BatchPipeline', () => {
  it('overlaps stages of different batches but keeps each stage in batch order', async () => {
    const store = new SerialStage();
    const publish = new SerialStage();
    const log: string[] = [];
    const gates = new Map<string, Deferred>();
    const gate = (name: string): Promise<void> => {
      log.push(`start ${name}`);
      const d = deferred();
      gates.set(name, d);
      return d.promise.then(() => void log.push(`end ${name}`));
    };
    const pipeline = new BatchPipeline<number>(3, async (n) => {
      await store.run(() => gate(`store ${n}`));
      await publish.run(() => gate(`publish ${n}`));
    });
    await pipeline.submit(1);
    await pipeline.submit(2);
    await settle();
    expect(log).toEqual(['start store 1']);
    gates.get('store 1')!.resolve();
    await settle();
    // Batch 2 is stored while batch 1 is published.
    expect(log).toEqual(['start store 1', 'end store 1', 'start store 2', 'start publish 1']);
    gates.get('store 2')!.resolve();
    await settle();
    expect(log).not.toContain('start publish 2');
    gates.get('publish 1')!.resolve();
    await settle();
    expect(log.slice(-2)).toEqual(['end publish 1', 'start publish 2']);
    gates.get('publish 2')!.resolve();
    await pipeline.drain();
  });

  it('makes submit wait while depth batches are in flight', async () => {
    const gates = [deferred(), deferred(), deferred()];
    let i = 0;
    const pipeline = new BatchPipeline<number>(2, () => gates[i++]!.promise);
    await pipeline.submit(1);
    await pipeline.submit(2);
    let third = false;
    const submitted = pipeline.submit(3).then(() => (third = true));
    await settle();
    expect(third).toBe(false);
    gates[0]!.resolve();
    await submitted;
    expect(third).toBe(true);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await pipeline.drain();
  });

  it('rethrows the first failure from drain and refuses further batches', async () => {
    const pipeline = new BatchPipeline<number>(4, (n) =>
      n === 2 ? Promise.reject(new Error('store failed')) : Promise.resolve(),
    );
    await pipeline.submit(1);
    await pipeline.submit(2);
    await settle();
    await expect(pipeline.submit(3)).rejects.toThrow('store failed');
    await expect(pipeline.drain()).rejects.toThrow('store failed');
  });
});

describe('ConcurrentStage', () => {
  it('runs up to its width at once and lets the others in, in order, as places free up', async () => {
    const stage = new ConcurrentStage(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((g, i) =>
      stage.run(async () => {
        started.push(i);
        await g.promise;
        return i;
      }),
    );
    await settle();
    expect(started).toEqual([0, 1]);
    gates[1]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    gates[2]!.resolve();
    gates[3]!.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
  });

  it('frees the place of a batch that failed', async () => {
    const stage = new ConcurrentStage(1);
    await expect(stage.run(() => Promise.reject(new Error('conflict')))).rejects.toThrow(
      'conflict',
    );
    await expect(stage.run(() => Promise.resolve('next'))).resolves.toBe('next');
  });
});
