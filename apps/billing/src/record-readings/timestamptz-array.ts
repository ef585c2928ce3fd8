import { int64Array } from './binary-arrays';
import { PG_EPOCH_MS } from './reading-columns';

/**
 * A timestamptz[] in PostgreSQL's binary format (a Buffer, which node-postgres sends as a binary
 * parameter), for ISO instants whose value in milliseconds is exact. Parsing timestamps from
 * text was 5 % of PostgreSQL's CPU in the billing bench (DecodeDateTime per reading).
 *
 * Only instants that Date.parse reads exactly are encoded: whole or millisecond seconds (the
 * contract allows more digits, which PostgreSQL keeps to the microsecond) and years 1900 to 2199,
 * where both calendars agree and microseconds since 2000 stay below 2^53 (exact in a double).
 * For anything else this returns undefined and the caller sends text, as before.
 */
const EXACT_ISO = /^(?:19|2[01])\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?(?:Z|[+-]\d\d:\d\d)$/;
const TIMESTAMPTZ_OID = 1184;

export function timestamptzArray(
  isos: readonly string[],
  /** Which of isos goes at each position (default: as they are). */
  order?: Uint32Array,
): Buffer | undefined {
  const n = isos.length;
  // A fleet reports interval by interval: consecutive readings mostly share their instant, which
  // is then parsed once.
  const micros = new Float64Array(n);
  let lastIso = '';
  let us = 0;
  for (let i = 0; i < n; i++) {
    const iso = isos[i]!;
    if (iso !== lastIso) {
      if (!EXACT_ISO.test(iso)) return undefined;
      const ms = Date.parse(iso);
      if (!Number.isFinite(ms)) return undefined;
      us = (ms - PG_EPOCH_MS) * 1000;
      lastIso = iso;
    }
    micros[i] = us;
  }
  return timestamptzArrayOfMicros(micros, order);
}

/** The same from microseconds since 2000-01-01Z (whole numbers, |v| < 2^53). */
export function timestamptzArrayOfMicros(
  micros: ArrayLike<number>,
  /** Which of micros goes at each position (default: as they are). */
  order?: Uint32Array,
): Buffer {
  return int64Array(TIMESTAMPTZ_OID, micros, order);
}
