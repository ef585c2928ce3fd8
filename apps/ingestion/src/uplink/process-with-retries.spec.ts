import { processWithRetries, type RetryPolicy } from './process-with-retries';

class Unavailable extends Error {}

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy & { slept: number[] } => {
  const slept: number[] = [];
  return {
    maxDefects: 3,
    isTransient: (error) => error instanceof Unavailable,
    delayMs: (attempt) => attempt * 10,
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    stopping: () => false,
    slept,
    ...overrides,
  };
};

describe('processWithRetries', () => {
  it('retries a dependency outage without limit and never dead-letters it', async () => {
    let calls = 0;
    const deadLetter = jest.fn();
    const outcome = await processWithRetries(
      () => (++calls <= 50 ? Promise.reject(new Unavailable('kafka away')) : Promise.resolve()),
      deadLetter,
      policy(),
    );
    expect(outcome).toBe('processed');
    expect(calls).toBe(51);
    expect(deadLetter).not.toHaveBeenCalled();
  });

  it('dead-letters a message after maxDefects failures of another kind, with the last error', async () => {
    const bug = new TypeError('cannot read properties of undefined');
    const deadLetter = jest.fn(() => Promise.resolve());
    const process = jest.fn(() => Promise.reject(bug));
    const p = policy();
    expect(await processWithRetries(process, deadLetter, p)).toBe('dead-lettered');
    expect(process).toHaveBeenCalledTimes(3);
    expect(deadLetter).toHaveBeenCalledWith(bug);
    expect(p.slept).toEqual([10, 20, 30]);
  });

  it('counts only defects towards the limit, not outages in between', async () => {
    const errors = [
      new TypeError('a'),
      new Unavailable('x'),
      new Unavailable('y'),
      new TypeError('b'),
    ];
    const deadLetter = jest.fn(() => Promise.resolve());
    const outcome = await processWithRetries(
      () => {
        const next = errors.shift();
        return next ? Promise.reject(next) : Promise.resolve();
      },
      deadLetter,
      policy(),
    );
    expect(outcome).toBe('processed');
    expect(deadLetter).not.toHaveBeenCalled();
  });

  it('keeps retrying the dead-letter write while Kafka is away', async () => {
    let deadLetterCalls = 0;
    const outcome = await processWithRetries(
      () => Promise.reject(new TypeError('bug')),
      () => (++deadLetterCalls < 4 ? Promise.reject(new Unavailable('away')) : Promise.resolve()),
      policy({ maxDefects: 1 }),
    );
    expect(outcome).toBe('dead-lettered');
    expect(deadLetterCalls).toBe(4);
  });

  it('abandons without acknowledging when the service stops', async () => {
    let stopping = false;
    const outcome = await processWithRetries(
      () => {
        stopping = true;
        return Promise.reject(new Unavailable('away'));
      },
      () => Promise.resolve(),
      policy({ stopping: () => stopping }),
    );
    expect(outcome).toBe('abandoned');
  });
});
