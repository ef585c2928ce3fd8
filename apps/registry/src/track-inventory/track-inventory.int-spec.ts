import { randomUUID } from 'node:crypto';
import {
  TOPICS,
  type EsipaInboundRecord,
  type FleetMeterRecord,
  type MeterEventRecord,
  type ProfileSwapRecord,
} from '@meterlink/contracts';
import { BatchingProducer, createKafka, jsonRecord } from '@meterlink/kafka';
import {
  Platform,
  TEST_CATALOGUE,
  TopicRecorder,
  eventually,
  infraEnv,
  manifestOf,
  testMeters,
} from '@meterlink/testing';

/**
 * The registry keeps each meter's eUICC inventory current from swaps, the eUICC's notifications
 * and boot reports, over real Kafka and PostgreSQL.
 */
describe('eUICC inventory from swaps, notifications and boot reports', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4301,
    services: ['registry'],
    logTag: 'int-registry-inventory',
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-inventory' });
  const producer = new BatchingProducer(kafka);
  const recorder = new TopicRecorder(kafka, [TOPICS.fleetMeters.name]);
  const [meter] = testMeters(1);
  const meterId = meter!.line.meterId;
  const [a, b] = meter!.line.profiles.map((p) => p.iccid);
  const minutes = (n: number): string => new Date(Date.UTC(2026, 10, 25, 12, n)).toISOString();

  const notify = (seqNumber: number, event: string, iccid: string, at: string) =>
    producer.send([
      jsonRecord(TOPICS.esipaInbound, meterId, {
        eventId: randomUUID(),
        type: 'esipa.inbound',
        at,
        meterId,
        seq: seqNumber,
        receivedAt: at,
        message: {
          v: 1,
          seq: seqNumber,
          type: 'notifications',
          eid: meter!.line.eid,
          notifications: [{ seqNumber, event, iccid, at }],
        },
      } as EsipaInboundRecord),
    ]);

  const enabledNow = async (): Promise<string[]> => {
    const record = (await platform.registryGet(`/v1/meters/${meterId}`)) as FleetMeterRecord;
    return record.profiles.filter((p) => p.state === 'enabled').map((p) => p.iccid);
  };
  const untilEnabled = (expected: string[], what: string) =>
    eventually(async () => JSON.stringify(await enabledNow()) === JSON.stringify(expected), {
      timeoutMs: 20_000,
      what,
    });

  const boot = (at: string, enabled: string, fallbackOnB: boolean): MeterEventRecord => ({
    eventId: randomUUID(),
    type: 'boot',
    at,
    meterId,
    receivedAt: at,
    seq: 100,
    fw: '1.0.0',
    eid: meter!.line.eid,
    profiles: [
      { iccid: a!, state: enabled === a ? 'enabled' : 'disabled', fallback: false },
      { iccid: b!, state: enabled === b ? 'enabled' : 'disabled', fallback: fallbackOnB },
    ],
  });

  beforeAll(async () => {
    await platform.start();
    // After the registry: it creates the topics the recorder reads.
    await recorder.start();
    await producer.connect();
    await platform.importCatalogue(TEST_CATALOGUE);
    await platform.importManifest({ ndjson: manifestOf([meter!]) });
    expect(await enabledNow()).toEqual([a]);
  });

  afterAll(async () => {
    await platform.stop();
    await producer.stop();
    await recorder.stop();
  });

  it('follows a fallback notification, audits it and republishes the meter', async () => {
    await notify(10, 'fallback', b!, minutes(1));
    await untilEnabled([b!], 'the fallback profile to be enabled');
    const published = await eventually(
      () =>
        recorder
          .on<FleetMeterRecord>(TOPICS.fleetMeters.name, (r) => r.meterId === meterId)
          .find((r) => r.profiles.some((p) => p.iccid === b && p.state === 'enabled')),
      { what: 'the meter republished with its fallback profile enabled' },
    );
    expect(published.revision).toBe(2);
    const audit = (await platform.registryGet(
      `/v1/audit?subject=${meterId}&action=inventory.enabled`,
    )) as { entries: { actor: string; detail: Record<string, unknown> }[] };
    expect(audit.entries).toEqual([
      expect.objectContaining({
        actor: 'meter',
        detail: expect.objectContaining({ notification: 'fallback', seqNumber: 10 }) as unknown,
      }),
    ]);
  });

  it('ignores a notification it has applied already, as meters repeat them until acknowledged', async () => {
    await notify(10, 'enable', a!, minutes(2));
    // A later notification shows the earlier one was read, and changed nothing.
    await notify(11, 'disable', b!, minutes(3));
    await untilEnabled([], 'the disable of seqNumber 11');
  });

  it('takes a boot report as the device’s word, but not one received before what it knows', async () => {
    await producer.send([
      jsonRecord(TOPICS.meterEvents, meterId, boot(minutes(4), a!, true)),
      jsonRecord(TOPICS.meterEvents, meterId, boot(minutes(0), b!, true)),
      jsonRecord(TOPICS.meterEvents, meterId, boot(minutes(6), a!, false)),
    ]);
    await eventually(
      async () => {
        const record = (await platform.registryGet(`/v1/meters/${meterId}`)) as FleetMeterRecord;
        return record.profiles.find((p) => p.iccid === b)?.fallback === false;
      },
      { timeoutMs: 20_000, what: 'the last boot report to clear the fallback attribute' },
    );
    expect(await enabledNow()).toEqual([a]);
    const reported = (await platform.registryGet(
      `/v1/audit?subject=${meterId}&action=inventory.reported`,
    )) as { entries: { detail: { observedAt: string } }[] };
    expect(reported.entries.map((e) => e.detail.observedAt)).toEqual([minutes(6), minutes(4)]);
  });

  it('follows a completed swap, and leaves a profile it does not know out', async () => {
    const swap: ProfileSwapRecord = {
      eventId: randomUUID(),
      type: 'profile.swap',
      at: minutes(8),
      swapId: randomUUID(),
      meterId,
      fromIccid: a!,
      toIccid: b!,
      fromCarrierId: 'carrier-a',
      toCarrierId: 'carrier-b',
      trigger: 'coverage',
      state: 'completed',
    };
    await notify(12, 'install', '8944990000000000099', minutes(7));
    await producer.send([jsonRecord(TOPICS.profileSwaps, meterId, swap)]);
    await untilEnabled([b!], 'the swap to profile b');
    const record = (await platform.registryGet(`/v1/meters/${meterId}`)) as FleetMeterRecord;
    expect(record.profiles.map((p) => p.iccid)).toEqual([a, b]);
    // A boot report received before the swap completed, but read after it, is history.
    await producer.send([
      jsonRecord(TOPICS.meterEvents, meterId, boot(minutes(7), a!, false)),
      jsonRecord(TOPICS.meterEvents, meterId, boot(minutes(9), b!, true)),
    ]);
    await eventually(
      async () => {
        const now = (await platform.registryGet(`/v1/meters/${meterId}`)) as FleetMeterRecord;
        return now.profiles.find((p) => p.iccid === b)?.fallback === true;
      },
      { timeoutMs: 20_000, what: 'the boot report received after the swap to be applied' },
    );
    expect(await enabledNow()).toEqual([b]);
    const reported = (await platform.registryGet(
      `/v1/audit?subject=${meterId}&action=inventory.reported`,
    )) as { entries: { detail: { observedAt: string } }[] };
    expect(reported.entries.map((e) => e.detail.observedAt)).toEqual([
      minutes(9),
      minutes(6),
      minutes(4),
    ]);
  });
});
