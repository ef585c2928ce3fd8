import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { TOPICS, type FleetMeterRecord } from '@meterlink/contracts';
import type { MeterKind } from '@meterlink/coverage-domain';
import { highWatermarks } from '@meterlink/kafka';
import { counter, createLogger, gauge } from '@meterlink/observability';

/** What coverage needs to know about a meter. */
export interface WatchedMeter {
  meterId: string;
  kind: MeterKind;
  region: string;
  reportIntervalS: number;
  active: boolean;
  revision: number;
}

const size = gauge('coverage_meter_directory_size', 'Meters in coverage-monitor’s fleet directory');
const skipped = counter(
  'coverage_meter_directory_skipped_total',
  'fleet.meters.v1 records the directory could not read',
);
const KINDS = new Set<MeterKind>(['electricity', 'gas', 'water']);

/**
 * Coverage-monitor's own copy of fleet.meters.v1, replayed from the start at every boot like the
 * shared FleetView, but keeping only the five fields coverage uses: at a million meters the full
 * records (keys, profiles) are over a gigabyte of heap, which the garbage collector then walks
 * under load, and their schema check (a P-256 point check per key) makes the replay minutes long.
 * The registry validated every record before publishing it; this reads the fields it needs and
 * counts what it can't read.
 */
export class MeterDirectory {
  private readonly meters = new Map<string, WatchedMeter>();
  private readonly regions = new Map<string, string>();
  private readonly listeners: ((meter: WatchedMeter) => void)[] = [];
  private readonly positions = new Map<number, string>();
  private targets: Map<string, string> | undefined;
  private consumer: Consumer | undefined;
  private readonly log = createLogger('MeterDirectory');

  constructor(
    private readonly kafka: Kafka,
    private readonly service: string,
  ) {}

  async start(): Promise<void> {
    const topic = TOPICS.fleetMeters.name;
    this.targets = await highWatermarks(this.kafka, [topic]);
    const consumer = this.kafka.consumer({
      groupId: `${this.service}.meter-directory.${randomUUID()}`,
      maxBytesPerPartition: 4 * 1_048_576,
      maxWaitTimeInMs: 100,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        for (const message of batch.messages) this.apply(message);
        const last = batch.messages.at(-1);
        if (last) {
          payload.resolveOffset(last.offset);
          this.positions.set(batch.partition, (BigInt(last.offset) + 1n).toString());
        }
        size.set(this.meters.size);
        await payload.heartbeat();
      },
    });
  }

  private apply(message: KafkaMessage): void {
    const read = readWatchedMeter(message.value?.toString('utf8') ?? 'null');
    if (!read) {
      skipped.inc();
      return;
    }
    const current = this.meters.get(read.meterId);
    if (current && current.revision > read.revision) return;
    // One string per region for the whole fleet, not one per record.
    const region = this.regions.get(read.region) ?? read.region;
    this.regions.set(region, region);
    const meter = { ...read, region };
    this.meters.set(meter.meterId, meter);
    for (const listener of this.listeners) listener(meter);
  }

  onMeterChange(listener: (meter: WatchedMeter) => void): void {
    this.listeners.push(listener);
  }

  meter(meterId: string): WatchedMeter | undefined {
    return this.meters.get(meterId);
  }

  /** True once every record that existed at start has been applied. */
  isCaughtUp(): boolean {
    if (!this.targets) return false;
    for (const [tp, high] of this.targets) {
      if (high === '0') continue;
      const partition = Number(tp.slice(tp.lastIndexOf(':') + 1));
      const position = this.positions.get(partition);
      if (!position || BigInt(position) < BigInt(high)) return false;
    }
    return true;
  }

  async waitUntilCaughtUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isCaughtUp()) {
      if (Date.now() > deadline) throw new Error('meter directory did not catch up in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    this.log.info({ meters: this.meters.size }, 'meter directory caught up');
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** The fields coverage uses from a fleet.meters.v1 value, or null when they are not there. */
export function readWatchedMeter(json: string): WatchedMeter | null {
  let record: Partial<FleetMeterRecord> | null;
  try {
    record = JSON.parse(json) as Partial<FleetMeterRecord> | null;
  } catch {
    return null;
  }
  if (!record || typeof record !== 'object') return null;
  const { meterId, kind, region, reportIntervalS, status, revision } = record;
  if (
    typeof meterId !== 'string' ||
    !KINDS.has(kind as MeterKind) ||
    typeof region !== 'string' ||
    typeof reportIntervalS !== 'number' ||
    !(reportIntervalS > 0) ||
    typeof revision !== 'number'
  )
    return null;
  return {
    meterId,
    kind: kind as MeterKind,
    region,
    reportIntervalS,
    active: status === 'active',
    revision,
  };
}
