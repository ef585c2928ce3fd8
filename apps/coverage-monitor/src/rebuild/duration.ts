const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90m`, `48h`, `30d` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration like 90m, 48h or 30d`);
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}
