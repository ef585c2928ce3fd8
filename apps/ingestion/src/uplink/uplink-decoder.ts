import {
  MAX_UPLINK_PAYLOAD_BYTES,
  deviceEventMessageSchema,
  esipaUplinkMessageSchema,
  parseUplinkTopic,
  telemetryMessageSchema,
  type DeviceEventMessage,
  type EsipaUplinkMessage,
  type FleetMeterRecord,
  type RejectReason,
  type TelemetryMessage,
  type UplinkChannel,
} from '@meterlink/contracts';
import type { KeyObject } from 'node:crypto';
import { verifyCompact, type PublicKeyCache } from '@meterlink/jws';
import { conformingTelemetry } from './telemetry-fast-path';

export type DecodedUplink =
  | { channel: 'telemetry'; message: TelemetryMessage }
  | { channel: 'events'; message: DeviceEventMessage }
  | { channel: 'esipa'; message: EsipaUplinkMessage };

export type DecodeOutcome =
  | ({ ok: true; meterId: string; meter: FleetMeterRecord; signed: boolean } & DecodedUplink)
  | { ok: false; reason: RejectReason; detail: string; meterId?: string; seq?: number };

const SCHEMAS = {
  telemetry: telemetryMessageSchema,
  events: deviceEventMessageSchema,
  esipa: esipaUplinkMessageSchema,
} as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Three base64url segments: a JWS in compact serialization (it cannot be JSON, which a `{` opens). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The payload as a compact JWS, when it is one (surrounding whitespace aside). */
function compactJws(text: string): string | undefined {
  const trimmed = text.trim();
  return trimmed.charCodeAt(0) !== 0x7b && COMPACT_JWS.test(trimmed) ? trimmed : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Pure decision on one uplink message: who sent it, whether to believe it, and what it says.
 * Order matters: cheap and identity checks first, so that nothing of an impostor's payload is
 * parsed further than needed.
 */
export function decodeUplink(
  topic: string,
  payload: Buffer,
  lookupMeter: (meterId: string) => FleetMeterRecord | undefined,
  keys: PublicKeyCache,
): DecodeOutcome {
  const parsedTopic = parseUplinkTopic(topic);
  const topicMeterId = parsedTopic.meterId;
  if (payload.length > MAX_UPLINK_PAYLOAD_BYTES) {
    return {
      ok: false,
      reason: 'payload_too_large',
      detail: `${payload.length} bytes > ${MAX_UPLINK_PAYLOAD_BYTES}`,
      ...(topicMeterId ? { meterId: topicMeterId } : {}),
    };
  }
  // The broker lets a meter publish only under its own prefix, so the topic's meterId is the sender's.
  if (!parsedTopic.ok)
    return {
      ok: false,
      reason: 'unknown_topic',
      detail: `not an uplink topic: ${topic.slice(0, 200)}`,
      ...(topicMeterId ? { meterId: topicMeterId } : {}),
    };
  const { meterId, channel } = parsedTopic;
  const meter = lookupMeter(meterId);
  if (!meter)
    return { ok: false, reason: 'unknown_meter', detail: 'meter is not registered', meterId };
  if (meter.status !== 'active')
    return {
      ok: false,
      reason: 'meter_decommissioned',
      detail: 'meter is decommissioned',
      meterId,
    };

  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    // §1: the payload is UTF-8. Replacement characters would change what was signed and sent.
    return {
      ok: false,
      reason: 'malformed_payload',
      detail: 'payload is not valid UTF-8',
      meterId,
    };
  }
  let json: unknown;
  const bareJws = compactJws(text);
  if (bareJws !== undefined) {
    // §1 allows the compact JWS itself as the payload, as well as §5's {"jws": "…"} wrapper.
    json = { jws: bareJws };
  } else {
    try {
      json = JSON.parse(text);
    } catch (error) {
      return {
        ok: false,
        reason: 'malformed_payload',
        detail: error instanceof Error ? error.message : 'invalid JSON',
        meterId,
      };
    }
  }
  if (!isRecord(json))
    return {
      ok: false,
      reason: 'malformed_payload',
      detail: 'payload is not a JSON object',
      meterId,
    };

  let signed = false;
  if (typeof json.jws === 'string' && json.v === undefined) {
    let deviceKey: KeyObject;
    try {
      deviceKey = keys.get(meterId, meter.devicePublicKeyJwk);
    } catch {
      // An unusable registered key must reject the message, not throw (which would hold the ack forever).
      return {
        ok: false,
        reason: 'bad_signature',
        detail: 'the meter’s registered device key is unusable',
        meterId,
      };
    }
    const verified = verifyCompact(json.jws, deviceKey, meterId);
    if (!verified.ok) {
      return {
        ok: false,
        reason:
          verified.error === 'kid_mismatch'
            ? 'topic_owner_mismatch'
            : verified.error === 'malformed' || verified.error === 'payload_not_json'
              ? 'malformed_payload'
              : 'bad_signature',
        detail: `signature check failed: ${verified.error}`,
        meterId,
      };
    }
    if (!isRecord(verified.payload))
      return {
        ok: false,
        reason: 'malformed_payload',
        detail: 'signed payload is not a JSON object',
        meterId,
      };
    json = verified.payload;
    signed = true;
  }
  const seq = isRecord(json) && typeof json.seq === 'number' ? json.seq : undefined;
  if (channel === 'telemetry' && meter.signedTelemetry && !signed) {
    return {
      ok: false,
      reason: 'unsigned_not_allowed',
      detail: 'this meter must sign its telemetry',
      meterId,
      ...(seq !== undefined ? { seq } : {}),
    };
  }
  return decodeChannel(channel, json, meterId, meter, signed, seq);
}

function decodeChannel(
  channel: UplinkChannel,
  json: unknown,
  meterId: string,
  meter: FleetMeterRecord,
  signed: boolean,
  seq: number | undefined,
): DecodeOutcome {
  if (channel === 'telemetry' && isRecord(json)) {
    const message = conformingTelemetry(json);
    if (message) return { ok: true, meterId, meter, signed, channel, message };
  }
  const parsed = SCHEMAS[channel].safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return {
      ok: false,
      reason: 'schema_violation',
      detail,
      meterId,
      ...(seq !== undefined ? { seq } : {}),
    };
  }
  const base = { ok: true as const, meterId, meter, signed };
  switch (channel) {
    case 'telemetry':
      return { ...base, channel, message: parsed.data as TelemetryMessage };
    case 'events':
      return { ...base, channel, message: parsed.data as DeviceEventMessage };
    case 'esipa':
      return { ...base, channel, message: parsed.data as EsipaUplinkMessage };
  }
}
