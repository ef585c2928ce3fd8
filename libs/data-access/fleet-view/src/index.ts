import type { Kafka } from 'kafkajs';
import {
  TOPICS,
  type FleetCarrierRecord,
  type FleetMeterRecord,
  type FleetRegionRecord,
} from '@meterlink/contracts';
import { createLogger, gauge } from '@meterlink/observability';
import { TopicReplica } from './topic-replica';

export { TopicReplica } from './topic-replica';
export { CoverageStatsView } from './coverage-stats-view';

const fleetSize = gauge('fleet_view_meters', 'Meters in this process’s fleet view');

/**
 * Each service's local, read-only copy of the registry's compacted fleet topics, replayed from
 * the start on every boot, so that no hot path calls the registry (ARCHITECTURE.md).
 */
export class FleetView {
  private readonly meters = new Map<string, FleetMeterRecord>();
  private readonly carriers = new Map<string, FleetCarrierRecord>();
  private readonly regions = new Map<string, FleetRegionRecord>();
  private readonly plmnToCarrier = new Map<string, string>();
  private readonly listeners: ((meter: FleetMeterRecord) => void)[] = [];
  private readonly replica: TopicReplica;
  private readonly log = createLogger('FleetView');

  constructor(kafka: Kafka, service: string) {
    this.replica = new TopicReplica(
      kafka,
      `${service}.fleet-view`,
      [TOPICS.fleetMeters.name, TOPICS.fleetCarriers.name, TOPICS.fleetRegions.name],
      (values) => {
        for (const value of values)
          this.apply(value as FleetMeterRecord | FleetCarrierRecord | FleetRegionRecord);
        fleetSize.set(this.meters.size);
      },
    );
  }

  async start(): Promise<void> {
    await this.replica.start();
  }

  apply(record: FleetMeterRecord | FleetCarrierRecord | FleetRegionRecord): void {
    switch (record.type) {
      case 'fleet.meter': {
        const current = this.meters.get(record.meterId);
        if (current && current.revision > record.revision) return;
        this.meters.set(record.meterId, record);
        this.listeners.forEach((l) => l(record));
        return;
      }
      case 'fleet.carrier':
        this.carriers.set(record.carrierId, record);
        record.plmns.forEach((plmn) => this.plmnToCarrier.set(plmn, record.carrierId));
        return;
      case 'fleet.region':
        this.regions.set(record.region, record);
        return;
    }
  }

  onMeterChange(listener: (meter: FleetMeterRecord) => void): void {
    this.listeners.push(listener);
  }

  /** True once every record that existed at start has been applied. */
  isCaughtUp(): boolean {
    return this.replica.isCaughtUp();
  }

  async waitUntilCaughtUp(timeoutMs = 60_000): Promise<void> {
    await this.replica.waitUntilCaughtUp('fleet view', timeoutMs);
    this.log.info(
      { meters: this.meters.size, carriers: this.carriers.size },
      'fleet view caught up',
    );
  }

  meter(meterId: string): FleetMeterRecord | undefined {
    return this.meters.get(meterId);
  }
  carrier(carrierId: string): FleetCarrierRecord | undefined {
    return this.carriers.get(carrierId);
  }
  region(region: string): FleetRegionRecord | undefined {
    return this.regions.get(region);
  }
  allMeters(): IterableIterator<FleetMeterRecord> {
    return this.meters.values();
  }

  /** The carrier of a profile on the meter's inventory; the PLMN only as a fallback. */
  carrierOf(meterId: string, iccid: string, plmn?: string): string | null {
    const profile = this.meters.get(meterId)?.profiles.find((p) => p.iccid === iccid);
    if (profile) return profile.carrierId;
    return plmn ? (this.plmnToCarrier.get(plmn) ?? null) : null;
  }

  async stop(): Promise<void> {
    await this.replica.stop();
  }
}
