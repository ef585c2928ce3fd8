import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ASYNCAPI_VERSION, buildAsyncApiDocument } from './asyncapi';
import { ALL_TOPICS } from './topics';

describe('AsyncAPI document', () => {
  const published = JSON.parse(
    readFileSync(join(__dirname, '..', 'asyncapi.json'), 'utf8'),
  ) as Record<string, unknown>;

  it('is exactly what the schemas generate (run `npm run contracts:asyncapi` after a schema change)', () => {
    expect(published).toEqual(JSON.parse(JSON.stringify(buildAsyncApiDocument(ASYNCAPI_VERSION))));
  });

  it('describes every Kafka topic and the four MQTT channels', () => {
    const channels = published.channels as Record<string, { address: string }>;
    const addresses = Object.values(channels).map((c) => c.address);
    for (const topic of ALL_TOPICS) expect(addresses).toContain(topic.name);
    expect(addresses).toEqual(
      expect.arrayContaining([
        'mtr/v1/{meterId}/up/telemetry',
        'mtr/v1/{meterId}/up/events',
        'mtr/v1/{meterId}/up/esipa',
        'mtr/v1/{meterId}/down/esipa',
      ]),
    );
  });

  it('lists the fields the topic contract requires as required', () => {
    const messages = (
      published.components as { messages: Record<string, { payload: { required?: string[] } }> }
    ).messages;
    expect(messages.MeterReadingsV1?.payload.required).toEqual(
      expect.arrayContaining([
        'meterId',
        'kind',
        'register',
        'at',
        'value',
        'seq',
        'receivedAt',
        'eventId',
      ]),
    );
    expect(messages.ProfileSwapsV1?.payload.required).toEqual(
      expect.arrayContaining([
        'swapId',
        'meterId',
        'fromIccid',
        'toIccid',
        'fromCarrierId',
        'toCarrierId',
        'trigger',
        'state',
        'at',
      ]),
    );
    expect(messages.IngestRejectedV1?.payload.required).toEqual(
      expect.arrayContaining(['reason', 'mqttTopic', 'receivedAt', 'payload']),
    );
  });
});
