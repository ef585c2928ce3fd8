import { METER_ID_PATTERN } from '../primitives';

/** device-interface §1: the MQTT topics a meter uses, and the only ones. */
export const UPLINK_CHANNELS = ['telemetry', 'events', 'esipa'] as const;
export type UplinkChannel = (typeof UPLINK_CHANNELS)[number];

export const MQTT_TOPIC_PREFIX = 'mtr/v1';
export const uplinkTopic = (meterId: string, channel: UplinkChannel): string =>
  `${MQTT_TOPIC_PREFIX}/${meterId}/up/${channel}`;
export const downlinkEsipaTopic = (meterId: string): string =>
  `${MQTT_TOPIC_PREFIX}/${meterId}/down/esipa`;
export const downlinkSubscription = (meterId: string): string =>
  `${MQTT_TOPIC_PREFIX}/${meterId}/down/#`;
/** Shared subscription through which the ingestion replicas split the uplink (MQTT 5 / Mosquitto). */
export const INGESTION_SHARE_GROUP = 'ingestion';
export const uplinkSharedSubscription = (group: string = INGESTION_SHARE_GROUP): string =>
  `$share/${group}/${MQTT_TOPIC_PREFIX}/+/up/#`;

export type ParsedUplinkTopic =
  | { ok: true; meterId: string; channel: UplinkChannel }
  | { ok: false; meterId?: string; reason: 'unknown_topic' | 'invalid_meter_id' };

export function parseUplinkTopic(topic: string): ParsedUplinkTopic {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'mtr' || parts[1] !== 'v1' || parts[3] !== 'up') {
    return { ok: false, reason: 'unknown_topic' };
  }
  const meterId = parts[2] ?? '';
  if (!METER_ID_PATTERN.test(meterId)) return { ok: false, reason: 'invalid_meter_id' };
  const channel = parts[4] as UplinkChannel;
  if (!UPLINK_CHANNELS.includes(channel)) return { ok: false, meterId, reason: 'unknown_topic' };
  return { ok: true, meterId, channel };
}

/** device-interface §1: payloads are at most 16 KiB. */
export const MAX_UPLINK_PAYLOAD_BYTES = 16 * 1024;
