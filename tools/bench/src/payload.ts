import type { KeyObject } from 'node:crypto';
import { signCompact } from '@meterlink/jws';
import type { BenchMeter } from './fleet';

/**
 * Device-interface §2 telemetry with one reading, about 330 bytes, built by string
 * concatenation: at tens of thousands of messages per second JSON.stringify of an object tree
 * would cost the generator more than everything else it does per message. `sentAt` (and the
 * reading's `at`) is the SCHEDULED send time to the millisecond, never the actual one.
 * The text is pure ASCII, so its length is its size in bytes.
 */
export function telemetryJson(meter: BenchMeter, seq: number, scheduledMs: number): string {
  const at = new Date(Math.floor(scheduledMs)).toISOString();
  return (
    `{"v":1,"seq":${seq},"sentAt":"${at}","kind":"electricity","readings":[{"at":"${at}",` +
    `"register":"energy_import_wh","value":${seq}}],"radio":{"rat":"nbiot","iccid":"${meter.iccid}",` +
    `"plmn":"23415","cellId":"1A2B3C","rsrp":-95,"rsrq":-10,"sinr":5,"attachFailures":0},` +
    `"usage":{"bytesUp":420,"bytesDown":96}}`
  );
}

/** The same message as a signed meter sends it (§5): the whole payload is `{"jws": …}`. */
export function signedTelemetryJson(
  meter: BenchMeter,
  seq: number,
  scheduledMs: number,
  key: KeyObject,
): string {
  const body = JSON.parse(telemetryJson(meter, seq, scheduledMs)) as unknown;
  return JSON.stringify({ jws: signCompact(body, key, meter.meterId) });
}

/**
 * Reads `"seq":<digits>` out of a JSON text without parsing the rest, or out of the body of a
 * `{"jws": …}` payload (the baseline bridge stores signed payloads as they were sent); -1 when
 * absent.
 */
export function extractSeq(value: Buffer): number {
  const at = value.indexOf(SEQ_FIELD);
  if (at < 0) return value.indexOf(JWS_FIELD) === 0 ? seqOfSignedPayload(value) : -1;
  let n = 0;
  let digits = 0;
  for (let p = at + SEQ_FIELD.length; p < value.length; p++) {
    const c = value[p]!;
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
    digits++;
  }
  return digits > 0 ? n : -1;
}

function seqOfSignedPayload(value: Buffer): number {
  const parsed = JSON.parse(value.toString('utf8')) as { jws?: unknown };
  if (typeof parsed.jws !== 'string') return -1;
  const body = parsed.jws.split('.')[1];
  if (body === undefined) return -1;
  const inner = Buffer.from(body, 'base64url');
  return inner.indexOf(SEQ_FIELD) >= 0 ? extractSeq(inner) : -1;
}

const SEQ_FIELD = Buffer.from('"seq":');
const JWS_FIELD = Buffer.from('{"jws":');
