import { TOPICS, type MeterReadingRecord } from '@meterlink/contracts';
import { FleetView } from '@meterlink/fleet-view';
import { BatchingProducer, createKafka } from '@meterlink/kafka';
import { metricsRegistry } from '@meterlink/observability';
import { createRedis, type Redis } from '@meterlink/redis';
import {
  TopicRecorder,
  endOffsets,
  eventually,
  fleetRecordOf,
  infraEnv,
  telemetryMessage,
  testMeters,
  type TestMeter,
} from '@meterlink/testing';
import { ingestionConfigSchema } from '../config';
import { DedupeRepository } from './dedupe.repository';
import { UplinkService, type UplinkInput, type UplinkVerdict } from './uplink.service';

/**
 * Two ingestion replicas handed copies of one message at the same time (a meter resending after a
 * lost PUBACK, the broker spreading the copies over the shared subscription), in one process on
 * the real Kafka and Redis. A replica's writes are held at a gate in front of the real producer,
 * which is what makes "at the same time" happen on cue rather than by luck.
 */
describe('ingestion replicas writing copies of one message', () => {
  const infra = infraEnv();
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-replicas' });
  const producer = new BatchingProducer(kafka, { lingerMs: 1 });
  const fleet = new FleetView(kafka, 'int-replicas');
  const recorder = new TopicRecorder(kafka, [TOPICS.meterReadings.name]);
  let redis: Redis;
  const services: UplinkService[] = [];

  /** A producer whose sends wait for `gate` (and fail with it), then go to the real one. */
  const gated = (gate: Promise<void>): BatchingProducer =>
    new Proxy(producer, {
      get(target, prop) {
        if (prop === 'send')
          return async (records: Parameters<BatchingProducer['send']>[0]) => {
            await gate;
            return target.send(records);
          };
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });

  const replica = (owner: string, claimMs: number, via: BatchingProducer): UplinkService => {
    const config = ingestionConfigSchema.parse({
      ...infra,
      INGESTION_REPLICA_ID: owner,
      INGESTION_DEDUPE_CLAIM_MS: String(claimMs),
    });
    const service = new UplinkService(
      config,
      via,
      fleet,
      new DedupeRepository(redis, owner, claimMs),
    );
    services.push(service);
    return service;
  };

  const input = (meter: TestMeter, seq: number): UplinkInput => ({
    topic: `mtr/v1/${meter.line.meterId}/up/telemetry`,
    payload: Buffer.from(JSON.stringify(telemetryMessage(meter, seq))),
  });
  const claimHolder = (meter: TestMeter, seq: number): Promise<string | null> =>
    redis.get(`dd:{${meter.line.meterId}}:cl:${seq}`);
  const claimWaits = async (): Promise<number> =>
    (await metricsRegistry.getSingleMetric('ingest_dedupe_claim_waits_total')?.get())?.values[0]
      ?.value ?? 0;
  const copiesOf = (meter: TestMeter, seq: number): MeterReadingRecord[] =>
    recorder.on<MeterReadingRecord>(
      TOPICS.meterReadings.name,
      (r) => r.meterId === meter.line.meterId && r.seq === seq,
    );
  /** Writes `seq` through `service` and waits for it in Kafka: everything written before is there. */
  const sentinel = async (service: UplinkService, meter: TestMeter, seq: number): Promise<void> => {
    expect(await service.process(input(meter, seq))).toBe('accepted');
    await eventually(() => copiesOf(meter, seq).length > 0, { what: `sentinel seq ${seq}` });
  };

  beforeAll(async () => {
    redis = createRedis(infra.REDIS_URL, 'int-replicas');
    await producer.connect();
    await recorder.start(await endOffsets(kafka, [TOPICS.meterReadings.name]));
  });

  afterAll(async () => {
    services.forEach((s) => s.stop());
    await recorder.stop();
    await producer.stop();
    await redis.quit();
  });

  it('writes a copy once: the second replica waits for the first one’s write, then acknowledges', async () => {
    const [meter] = testMeters(1);
    fleet.apply(fleetRecordOf(meter!));
    let open = (): void => undefined;
    const a = replica('a', 30_000, gated(new Promise<void>((resolve) => (open = resolve))));
    const b = replica('b', 30_000, producer);

    const fromA = a.process(input(meter!, 1));
    await eventually(async () => (await claimHolder(meter!, 1)) === 'a', {
      what: 'replica a to claim seq 1',
    });
    const waitsBefore = await claimWaits();
    let verdictB: UplinkVerdict | undefined;
    const fromB = b.process(input(meter!, 1)).then((v) => (verdictB = v));
    await eventually(async () => (await claimWaits()) > waitsBefore, {
      what: 'replica b to find the claim and wait',
    });
    // While a's write is held, b neither writes its copy nor acknowledges it.
    expect(verdictB).toBeUndefined();
    expect(copiesOf(meter!, 1)).toEqual([]);

    open();
    expect(await fromA).toBe('accepted');
    expect(await fromB).toBe('duplicate');
    await sentinel(b, meter!, 2);
    expect(copiesOf(meter!, 1)).toHaveLength(1);
    expect(await claimHolder(meter!, 1)).toBeNull();
  });

  it('writes the copy of a replica that died mid-write once its claim lapses', async () => {
    const [meter] = testMeters(1);
    fleet.apply(fleetRecordOf(meter!));
    let kill = (_: Error): void => undefined;
    const dying = replica(
      'dying',
      1_000,
      gated(new Promise<void>((_resolve, reject) => (kill = reject))),
    );
    const b = replica('b2', 1_000, producer);

    const fromDying = dying.process(input(meter!, 1)).catch((error: unknown) => error);
    await eventually(async () => (await claimHolder(meter!, 1)) === 'dying', {
      what: 'the dying replica to claim seq 1',
    });
    // It stops renewing its claim (as a SIGKILL would); its write never reaches Kafka.
    dying.stop();
    const started = Date.now();
    expect(await b.process(input(meter!, 1))).toBe('accepted');
    expect(Date.now() - started).toBeLessThan(10_000);
    await sentinel(b, meter!, 2);
    expect(copiesOf(meter!, 1)).toHaveLength(1);
    kill(new Error('killed'));
    expect(await fromDying).toBeInstanceOf(Error);
  });

  it('keeps a claim renewed while a write is held up longer than the lease', async () => {
    const [meter] = testMeters(1);
    fleet.apply(fleetRecordOf(meter!));
    let open = (): void => undefined;
    const slow = replica('slow', 1_000, gated(new Promise<void>((resolve) => (open = resolve))));
    const b = replica('b3', 1_000, producer);

    const fromSlow = slow.process(input(meter!, 1));
    await eventually(async () => (await claimHolder(meter!, 1)) === 'slow', {
      what: 'the slow replica to claim seq 1',
    });
    let verdictB: UplinkVerdict | undefined;
    const fromB = b.process(input(meter!, 1)).then((v) => (verdictB = v));
    // Three leases' worth: without renewal the claim would lapse and b would write its copy.
    const heldSince = Date.now();
    await eventually(() => Date.now() - heldSince >= 3_000, {
      timeoutMs: 5_000,
      what: 'three claim leases to pass',
      detail: () => `b decided ${verdictB}`,
    });
    expect(await claimHolder(meter!, 1)).toBe('slow');
    expect(verdictB).toBeUndefined();
    open();
    expect(await fromSlow).toBe('accepted');
    expect(await fromB).toBe('duplicate');
    await sentinel(b, meter!, 2);
    expect(copiesOf(meter!, 1)).toHaveLength(1);
  });
});
