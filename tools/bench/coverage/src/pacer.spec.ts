import { pace, quota } from './pacer';

describe('pacing', () => {
  it('owes rate × elapsed records minus those sent, capped', () => {
    expect(quota(20_000, 50, 0, 10_000)).toBe(1_000);
    expect(quota(20_000, 50, 900, 10_000)).toBe(100);
    expect(quota(20_000, 50, 1_200, 10_000)).toBe(0);
    expect(quota(20_000, 5_000, 0, 1_600)).toBe(1_600);
  });

  it('sends exactly the total asked for, in requests of what was due', async () => {
    const sizes: number[] = [];
    const result = await pace({
      rate: 100_000,
      total: 2_500,
      next: (n) => Array.from({ length: n }, (_, i) => i),
      send: (records) => {
        sizes.push(records.length);
        return Promise.resolve();
      },
      tickMs: 1,
    });
    expect(result.sent).toBe(2_500);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(2_500);
  });

  it('surfaces a failed request', async () => {
    await expect(
      pace({
        rate: 10_000,
        total: 100,
        next: (n) => Array.from({ length: n }, () => 0),
        send: () => Promise.reject(new Error('broker gone')),
        tickMs: 1,
      }),
    ).rejects.toThrow('broker gone');
  });
});
