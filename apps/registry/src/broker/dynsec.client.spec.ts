import { splitIntoMessages, type DynsecCommand } from './dynsec.client';

const command = (n: number, padding = 0): DynsecCommand => ({
  command: 'createClient',
  username: `EM-${n}`,
  textname: 'x'.repeat(padding),
});

describe('splitIntoMessages', () => {
  it('keeps every message under the byte limit, with its envelope and correlation data', () => {
    const commands = Array.from({ length: 500 }, (_, i) => command(i, 500));
    const messages = splitIntoMessages(commands, 16 * 1024, 1_000);
    expect(messages.length).toBeGreaterThan(1);
    for (const m of messages) {
      const withCorrelation = [
        { ...m[0]!, correlationData: `${'f'.repeat(36)}:123456` },
        ...m.slice(1),
      ];
      expect(Buffer.byteLength(JSON.stringify({ commands: withCorrelation }))).toBeLessThan(
        16 * 1024,
      );
    }
    expect(messages.flat()).toEqual(commands);
  });

  it('caps the commands per message', () => {
    const messages = splitIntoMessages(
      Array.from({ length: 450 }, (_, i) => command(i)),
      1024 * 1024,
      200,
    );
    expect(messages.map((m) => m.length)).toEqual([200, 200, 50]);
  });

  it('sends a command larger than the limit on its own rather than dropping it', () => {
    const big = command(1, 40_000);
    expect(splitIntoMessages([command(0), big, command(2)], 16 * 1024)).toEqual([
      [command(0)],
      [big],
      [command(2)],
    ]);
  });
});
