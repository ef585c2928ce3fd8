import { z } from 'zod';
import { ALL_TOPICS } from './topics';
import {
  esipaUplinkMessageSchema,
  deviceEventMessageSchema,
  signedEnvelopeSchema,
  telemetryMessageSchema,
} from './device/uplink';
import { esipaDownlinkMessageSchema } from './device/esipa';

type JsonObject = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): JsonObject {
  // Output types: what a consumer reads (defaults applied, unknown fields stripped).
  return z.toJSONSchema(schema, { target: 'draft-7', io: 'output', unrepresentable: 'any' });
}

function pascal(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}

interface ChannelSpec {
  id: string;
  address: string;
  server: 'kafka' | 'mqtt';
  description: string;
  messageName: string;
  payload: JsonObject;
  /** What the platform does on this channel. */
  action: 'send' | 'receive';
  bindings?: JsonObject;
}

/**
 * The AsyncAPI 3 document for every MQTT and Kafka channel, generated from the zod schemas so the
 * published document cannot drift from what the code validates (a test compares it with the
 * checked-in libs/contracts/asyncapi.json).
 */
export function buildAsyncApiDocument(version: string): JsonObject {
  const deviceUplink = z.union([telemetryMessageSchema, signedEnvelopeSchema]);
  const channels: ChannelSpec[] = [
    {
      id: 'meterTelemetry',
      address: 'mtr/v1/{meterId}/up/telemetry',
      server: 'mqtt',
      action: 'receive',
      description:
        'Readings and radio status from a meter (device-interface §2). QoS 1. May be a compact JWS as {"jws": ...}.',
      messageName: 'TelemetryMessage',
      payload: jsonSchema(deviceUplink),
    },
    {
      id: 'meterEvents',
      address: 'mtr/v1/{meterId}/up/events',
      server: 'mqtt',
      action: 'receive',
      description: 'Alarms and boot events from a meter (device-interface §3). QoS 1.',
      messageName: 'DeviceEventMessage',
      payload: jsonSchema(deviceEventMessageSchema),
    },
    {
      id: 'meterEsipaUp',
      address: 'mtr/v1/{meterId}/up/esipa',
      server: 'mqtt',
      action: 'receive',
      description:
        'IPA → eIM: polls, package results, download results, notifications (device-interface §4.2). QoS 1.',
      messageName: 'EsipaUplinkMessage',
      payload: jsonSchema(esipaUplinkMessageSchema),
    },
    {
      id: 'meterEsipaDown',
      address: 'mtr/v1/{meterId}/down/esipa',
      server: 'mqtt',
      action: 'send',
      description:
        'eIM → IPA: signed packages, download triggers, acknowledgements (device-interface §4.1). QoS 1.',
      messageName: 'EsipaDownlinkMessage',
      payload: jsonSchema(esipaDownlinkMessageSchema),
    },
    ...ALL_TOPICS.map<ChannelSpec>((t) => ({
      id: t.name,
      address: t.name,
      server: 'kafka',
      action: 'send',
      description: `${t.summary} Key: ${t.key}. Audience: ${t.audience}.`,
      messageName: pascal(t.name),
      payload: jsonSchema(t.schema),
      bindings: {
        kafka: {
          topic: t.name,
          partitions: t.partitions,
          topicConfiguration: {
            'cleanup.policy': [t.cleanupPolicy],
            'retention.ms': t.retentionMs,
          },
          bindingVersion: '0.5.0',
        },
      },
    })),
  ];

  const doc: JsonObject = {
    asyncapi: '3.0.0',
    info: {
      title: 'meterlink',
      version,
      description:
        'Meter ↔ platform MQTT interface (device-interface v1) and the Kafka topics of the meterlink platform. ' +
        'Every Kafka record is JSON keyed as stated, and carries eventId, type and at.',
    },
    defaultContentType: 'application/json',
    servers: {
      mqtt: {
        host: 'localhost:11883',
        protocol: 'mqtt',
        description: 'Development broker (tools/stack); production uses TLS on 8883.',
      },
      kafka: {
        host: 'localhost:19092',
        protocol: 'kafka',
        description: 'Development broker (tools/stack).',
      },
    },
    channels: Object.fromEntries(
      channels.map((c) => [
        c.id,
        {
          address: c.address,
          description: c.description,
          servers: [{ $ref: `#/servers/${c.server}` }],
          messages: { [c.messageName]: { $ref: `#/components/messages/${c.messageName}` } },
          ...(c.address.includes('{meterId}')
            ? { parameters: { meterId: { description: 'The meter’s id, ^[A-Za-z0-9._-]{3,64}$' } } }
            : {}),
          ...(c.bindings ? { bindings: c.bindings } : {}),
        },
      ]),
    ),
    operations: Object.fromEntries(
      channels.map((c) => [
        `${c.action}${pascal(c.id)}`,
        {
          action: c.action,
          channel: { $ref: `#/channels/${c.id}` },
          messages: [{ $ref: `#/channels/${c.id}/messages/${c.messageName}` }],
        },
      ]),
    ),
    components: {
      messages: Object.fromEntries(
        channels.map((c) => [
          c.messageName,
          { name: c.messageName, contentType: 'application/json', payload: c.payload },
        ]),
      ),
    },
  };
  return doc;
}

export const ASYNCAPI_VERSION = '1.0.0';
