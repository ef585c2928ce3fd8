import { randomBytes } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import {
  TOPICS,
  stableEventId,
  type FleetMeterRecord,
  type MeterConnectivityRecord,
} from '@meterlink/contracts';
import { generateEcKeyPair } from '@meterlink/jws';

/**
 * Records for coverage-monitor integration tests that feed Kafka directly (the service's real
 * input), with carriers and regions of their own so that runs sharing a stack never meet.
 */
const key = generateEcKeyPair().publicJwk;
let serial = Math.floor(Math.random() * 1e9);

export const runTag = (): string => randomBytes(3).toString('hex');

export interface FixtureMeter {
  meterId: string;
  region: string;
  carrierId: string;
  iccid: string;
  reportIntervalS: number;
  kind: FleetMeterRecord['kind'];
  eid: string;
}

export function fixtureMeters(
  count: number,
  prefix: string,
  where: { region: string; carrierId: string; reportIntervalS: number },
): FixtureMeter[] {
  return Array.from({ length: count }, (_, i) => {
    serial++;
    return {
      meterId: `${prefix}-${i}`,
      region: where.region,
      carrierId: where.carrierId,
      iccid: `8944${String(serial).padStart(15, '0').slice(-15)}`,
      reportIntervalS: where.reportIntervalS,
      kind: 'electricity',
      eid: `89049032${String(serial).padStart(24, '0').slice(-24)}`,
    };
  });
}

export function fleetRecord(m: FixtureMeter): FleetMeterRecord {
  return {
    eventId: stableEventId('fixture-fleet', m.meterId),
    type: 'fleet.meter',
    at: new Date().toISOString(),
    meterId: m.meterId,
    eid: m.eid,
    kind: m.kind,
    region: m.region,
    customerId: 'CUST-TEST',
    tariffId: 'flat',
    reportIntervalS: m.reportIntervalS,
    signedTelemetry: false,
    rollbackWindowS: 30,
    fallbackDelayS: 3600,
    devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y },
    status: 'active',
    profiles: [{ iccid: m.iccid, carrierId: m.carrierId, state: 'enabled', fallback: false }],
    revision: 1,
  };
}

export interface ReportInput {
  seq: number;
  /** The meter's send time (epoch ms). */
  at: number;
  /** When the platform received it (epoch ms); defaults to `at`. */
  receivedAt?: number;
  rsrp: number | null;
}

export function connectivityRecord(m: FixtureMeter, r: ReportInput): MeterConnectivityRecord {
  return {
    eventId: stableEventId('connectivity', m.meterId, r.seq),
    type: 'meter.connectivity',
    at: new Date(r.at).toISOString(),
    meterId: m.meterId,
    receivedAt: new Date(r.receivedAt ?? r.at).toISOString(),
    seq: r.seq,
    kind: m.kind,
    iccid: m.iccid,
    carrierId: m.carrierId,
    plmn: '23415',
    rat: 'nbiot',
    cellId: '1A2B3C',
    rsrp: r.rsrp,
    rsrq: null,
    sinr: null,
    attachFailures: 0,
    bytesUp: 300,
    bytesDown: 40,
  };
}

/** Produces records keyed by meterId, as ingestion does, and waits for Kafka's acknowledgement. */
export class FixtureProducer {
  private readonly producer: Producer;
  constructor(kafka: Kafka) {
    this.producer = kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: true,
      maxInFlightRequests: 1,
    });
  }
  async connect(): Promise<void> {
    await this.producer.connect();
  }
  async fleet(meters: readonly FixtureMeter[]): Promise<void> {
    await this.send(
      TOPICS.fleetMeters.name,
      meters.map((m) => ({ key: m.meterId, value: fleetRecord(m) })),
    );
  }
  async reports(items: readonly { meter: FixtureMeter; report: ReportInput }[]): Promise<void> {
    await this.send(
      TOPICS.meterConnectivity.name,
      items.map(({ meter, report }) => ({
        key: meter.meterId,
        value: connectivityRecord(meter, report),
      })),
    );
  }
  async send(topic: string, records: readonly { key: string; value: unknown }[]): Promise<void> {
    if (records.length === 0) return;
    await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({ key: r.key, value: JSON.stringify(r.value) })),
    });
  }
  /**
   * One record on every partition of a topic: once a consumer has seen them all, it has seen
   * everything written to the topic before.
   */
  async fences(topic: string, partitions: number, value: (partition: number) => unknown) {
    await this.producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: partitions }, (_, partition) => ({
        partition,
        key: `fence-${partition}`,
        value: JSON.stringify(value(partition)),
      })),
    });
  }
  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

/**
 * Meters that report every `everyMs` (good signal unless told otherwise) until stopped, with
 * seqs counting up per meter, like a fleet in the field.
 */
export class ReportLoop {
  private readonly seqs = new Map<string, number>();
  private readonly silent = new Set<string>();
  private readonly rsrp = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly producer: FixtureProducer,
    private readonly meters: readonly FixtureMeter[],
    private readonly everyMs: number,
  ) {}

  start(): void {
    const tick = (): void => {
      this.sending = this.round().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.everyMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Sends one report from every meter that is not silent; resolves once Kafka has them. */
  async round(): Promise<void> {
    const now = Date.now();
    await this.producer.reports(
      this.meters
        .filter((m) => !this.silent.has(m.meterId))
        .map((meter) => {
          const seq = (this.seqs.get(meter.meterId) ?? 0) + 1;
          this.seqs.set(meter.meterId, seq);
          return { meter, report: { seq, at: now, rsrp: this.rsrp.get(meter.meterId) ?? -90 } };
        }),
    );
  }

  silence(meterId: string): void {
    this.silent.add(meterId);
  }
  resume(meterId: string): void {
    this.silent.delete(meterId);
  }
  signal(meterId: string, rsrp: number): void {
    this.rsrp.set(meterId, rsrp);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.sending;
  }
}
