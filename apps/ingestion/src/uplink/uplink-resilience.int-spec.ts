import { TOPICS, type MeterReadingRecord } from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import {
  MeterLoad,
  Platform,
  TEST_CATALOGUE,
  TopicRecorder,
  endOffsets,
  eventually,
  infraEnv,
  kafkaOutage,
  manifestOf,
  readMetric,
  testMeters,
  type KafkaOutage,
} from '@meterlink/testing';

const CONNECTIONS = 2;
const RECEIVE_MAXIMUM = 200;

/**
 * Ingestion when things break under load: Kafka away for 30 s, and ingestion itself killed. Every
 * message the broker acknowledged to a meter must reach Kafka; with Kafka away, nothing twice.
 */
jest.setTimeout(300_000);

describe('ingestion under failure', () => {
  const infra = infraEnv();
  const platform = new Platform({
    infra,
    basePort: 4701,
    services: ['registry', 'ingestion'],
    logTag: 'int-ingestion-resilience',
    extraEnv: {
      ingestion: {
        INGESTION_MQTT_CONNECTIONS: String(CONNECTIONS),
        INGESTION_MQTT_RECEIVE_MAXIMUM: String(RECEIVE_MAXIMUM),
      },
    },
  });
  const kafka = createKafka({
    brokers: infra.KAFKA_BROKERS.split(','),
    clientId: 'int-ingestion-resilience',
  });
  const meters = testMeters(40);
  let outage: KafkaOutage | undefined;
  const broker = (): KafkaOutage => {
    if (!outage) throw new Error('Kafka outage control not set up');
    return outage;
  };
  const loads: MeterLoad[] = [];
  const ingestionUrl = (): string => platform.service('ingestion').baseUrl;
  let lastReadiness = '';
  const ready = async (): Promise<number> => {
    const res = await fetch(`${ingestionUrl()}/health/ready`).catch(() => undefined);
    lastReadiness = res ? `${res.status} ${await res.text()}` : 'unreachable';
    return res?.status ?? 0;
  };

  /** Per (meterId, seq), the eventIds of the readings Kafka holds from `from` on. */
  const readingsInKafka = (recorder: TopicRecorder): Map<string, string[]> => {
    const seen = new Map<string, string[]>();
    for (const r of recorder.on<MeterReadingRecord>(TOPICS.meterReadings.name)) {
      const key = `${r.meterId}#${r.seq}`;
      seen.set(key, [...(seen.get(key) ?? []), r.eventId]);
    }
    return seen;
  };
  const owed = (load: MeterLoad): string[] =>
    [...load.acknowledged].flatMap(([meterId, seqs]) => seqs.map((seq) => `${meterId}#${seq}`));

  const allInKafka = async (recorder: TopicRecorder, expected: string[]): Promise<void> => {
    let missing: string[] = [];
    await eventually(
      () => {
        const seen = readingsInKafka(recorder);
        missing = expected.filter((k) => !seen.has(k));
        return missing.length === 0;
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: `all ${expected.length} messages in Kafka`,
        detail: () =>
          `${missing.length} missing, e.g. ${missing.slice(0, 5).join(' ')}; ${recorder.messages.length} records read`,
      },
    );
  };

  beforeAll(async () => {
    outage = await kafkaOutage(infra.KAFKA_BROKERS);
    await platform.start();
    await platform.importCatalogue(TEST_CATALOGUE);
    expect(await platform.importManifest({ ndjson: manifestOf(meters) })).toMatchObject({
      imported: meters.length,
      rejected: 0,
    });
  });

  afterAll(async () => {
    await outage?.start(); // in case a failed assertion left it stopped
    await Promise.all(loads.map((l) => l.close()));
    await platform.stop();
  });

  it('loses and duplicates nothing when Kafka is away for 30 s under load', async () => {
    const from = await endOffsets(kafka, [TOPICS.meterReadings.name]);
    const load = new MeterLoad({
      mqttUrl: infra.MQTT_URL,
      meters: meters.slice(0, 20),
      ratePerSecond: 400,
    });
    loads.push(load);
    await load.connect();
    load.start();
    const acceptedBefore = await readMetric(ingestionUrl(), 'ingest_accepted_total');
    await eventually(
      async () =>
        (await readMetric(ingestionUrl(), 'ingest_accepted_total')) > acceptedBefore + 200,
      { what: 'load flowing into Kafka' },
    );
    const rssBefore = await readMetric(ingestionUrl(), 'process_resident_memory_bytes');
    // Sessions retired by earlier tests (more connections) are drained at start; wait for that,
    // so that what is in flight below is this test's connections only.
    await eventually(
      async () => (await readMetric(ingestionUrl(), 'ingest_retired_sessions_draining')) === 0,
      { what: 'retired sessions drained' },
    );

    await broker().stop();
    const stoppedAt = Date.now();
    await eventually(async () => (await ready()) === 503, {
      what: 'readiness to report Kafka away',
      detail: () => lastReadiness,
    });
    // Sample what ingestion holds while the broker keeps the backlog.
    let maxInFlight = 0;
    let maxRss = 0;
    await eventually(
      async () => {
        maxInFlight = Math.max(maxInFlight, await readMetric(ingestionUrl(), 'ingest_in_flight'));
        maxRss = Math.max(
          maxRss,
          await readMetric(ingestionUrl(), 'process_resident_memory_bytes'),
        );
        return Date.now() - stoppedAt >= 30_000;
      },
      { timeoutMs: 40_000, intervalMs: 500, what: '30 s of Kafka outage' },
    );
    const sentDuringOutage = load.totalAcknowledged();
    await broker().start();
    await eventually(async () => (await ready()) === 200, {
      timeoutMs: 60_000,
      what: 'ingestion ready again after Kafka is back',
      detail: () => lastReadiness,
    });
    await load.stop();
    expect(load.failed()).toBe(0);

    const recorder = new TopicRecorder(kafka, [TOPICS.meterReadings.name]);
    await recorder.start(from);
    try {
      const expected = owed(load);
      await allInKafka(recorder, expected);
      const seen = readingsInKafka(recorder);
      const duplicated = [...seen].filter(([, ids]) => ids.length > 1).map(([k]) => k);
      expect(duplicated).toEqual([]);
      expect(expected.filter((k) => !seen.has(k))).toEqual([]);
    } finally {
      await recorder.stop();
    }
    // The broker held the backlog, not ingestion: per connection at most Receive Maximum, plus
    // what one socket read holds (64 KiB, under 200 telemetry messages) when Mosquitto sends
    // beyond it.
    expect(sentDuringOutage).toBeGreaterThan(5_000);
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(CONNECTIONS * (RECEIVE_MAXIMUM + 200));
    expect(maxRss - rssBefore).toBeLessThan(150 * 1024 * 1024);
  });

  it('loses nothing when ingestion is killed with SIGKILL under load and restarted', async () => {
    const from = await endOffsets(kafka, [TOPICS.meterReadings.name]);
    const load = new MeterLoad({
      mqttUrl: infra.MQTT_URL,
      meters: meters.slice(20),
      ratePerSecond: 400,
    });
    loads.push(load);
    await load.connect();
    load.start();
    const ingestion = platform.service('ingestion');
    const acceptedBefore = await readMetric(ingestion.baseUrl, 'ingest_accepted_total');
    await eventually(
      async () =>
        (await readMetric(ingestion.baseUrl, 'ingest_accepted_total')) > acceptedBefore + 500,
      { what: 'load flowing into Kafka' },
    );
    expect(await ingestion.stop('SIGKILL')).toBeNull();
    const killedAt = load.totalAcknowledged();
    await eventually(() => load.totalAcknowledged() > killedAt + 1_000, {
      what: 'meters sending on while ingestion is down',
    });
    await ingestion.start();
    await eventually(() => load.totalAcknowledged() > killedAt + 3_000, {
      what: 'meters sending on after the restart',
    });
    await load.stop();
    expect(load.failed()).toBe(0);

    const recorder = new TopicRecorder(kafka, [TOPICS.meterReadings.name]);
    await recorder.start(from);
    try {
      const expected = owed(load);
      await allInKafka(recorder, expected);
      // A message may be written twice only if the kill fell between Kafka's ack and the dedupe
      // mark: at most what was in flight then (every connection's Receive Maximum), never a
      // replay of older traffic. The copy carries the same eventId, on which consumers dedupe.
      const copies = [...readingsInKafka(recorder)].filter(([, ids]) => ids.length > 1);
      expect(copies.length).toBeLessThanOrEqual(CONNECTIONS * RECEIVE_MAXIMUM);
      for (const [key, ids] of copies) expect([key, ids.length]).toEqual([key, 2]);
    } finally {
      await recorder.stop();
    }
  });

  it('delivers what the broker queued for sessions retired by fewer connections', async () => {
    const ingestion = platform.service('ingestion');
    expect(await ingestion.stop()).toBe(0);
    const from = await endOffsets(kafka, [TOPICS.meterReadings.name]);
    // With ingestion away, the broker spreads the backlog over all its CONNECTIONS sessions.
    const load = new MeterLoad({
      mqttUrl: infra.MQTT_URL,
      meters: meters.slice(0, 10),
      ratePerSecond: 500,
      firstSeq: 1_000_000,
    });
    loads.push(load);
    await load.connect();
    load.start();
    await eventually(() => load.totalAcknowledged() >= 600, { what: 'a backlog at the broker' });
    await load.stop();
    const shrunk = new Platform({
      infra,
      basePort: 4711,
      services: ['ingestion'],
      logTag: 'int-ingestion-shrunk',
      extraEnv: {
        ingestion: { INGESTION_MQTT_CONNECTIONS: '1' },
      },
    });
    await shrunk.start();
    const recorder = new TopicRecorder(kafka, [TOPICS.meterReadings.name]);
    try {
      await recorder.start(from);
      await allInKafka(recorder, owed(load));
    } finally {
      await recorder.stop();
      expect((await shrunk.stop()).get('ingestion')).toBe(0);
      await ingestion.start();
    }
  });
  it('reports Kafka away, and back, while no message flows', async () => {
    // Without traffic no produce request fails; the producer's idle probe is what notices.
    await eventually(async () => (await ready()) === 200, {
      what: 'ingestion ready before the outage',
      detail: () => lastReadiness,
    });
    await broker().stop();
    try {
      // The producer's own check, not only a consumer's: ingestion's acknowledgements depend on it.
      const kafkaCheck = (): boolean | undefined =>
        (JSON.parse(lastReadiness.slice(4) || '{}') as { checks?: { kafka?: { ok: boolean } } })
          .checks?.kafka?.ok;
      await eventually(async () => (await ready()) === 503 && kafkaCheck() === false, {
        timeoutMs: 30_000,
        what: 'readiness to report the producer’s Kafka away with no traffic',
        detail: () => lastReadiness,
      });
    } finally {
      await broker().start();
    }
    await eventually(async () => (await ready()) === 200, {
      timeoutMs: 60_000,
      what: 'ingestion ready again once Kafka answers, still with no traffic',
      detail: () => lastReadiness,
    });
  });
});
