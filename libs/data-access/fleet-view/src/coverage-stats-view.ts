import type { Kafka } from 'kafkajs';
import { TOPICS, type CoverageCarrierStatsRecord } from '@meterlink/contracts';
import { TopicReplica } from './topic-replica';

/**
 * A local copy of coverage.carriers.v1: how each carrier's meters stand in each region, as the
 * coverage monitor last counted them. Read at decision time, never fetched.
 */
export class CoverageStatsView {
  /** region → carrierId → latest record. */
  private readonly byRegion = new Map<string, Map<string, CoverageCarrierStatsRecord>>();
  private readonly replica: TopicReplica;

  constructor(kafka: Kafka, service: string) {
    this.replica = new TopicReplica(
      kafka,
      `${service}.coverage-stats`,
      [TOPICS.coverageCarriers.name],
      (values) => {
        for (const value of values) this.apply(value as CoverageCarrierStatsRecord);
      },
    );
  }

  async start(): Promise<void> {
    await this.replica.start();
  }

  apply(record: CoverageCarrierStatsRecord): void {
    let carriers = this.byRegion.get(record.region);
    if (!carriers) {
      carriers = new Map<string, CoverageCarrierStatsRecord>();
      this.byRegion.set(record.region, carriers);
    }
    const current = carriers.get(record.carrierId);
    // A deposed leader's late snapshot must not replace a newer one.
    if (current && Date.parse(current.at) > Date.parse(record.at)) return;
    carriers.set(record.carrierId, record);
  }

  /** The region's carriers counted at or after `notBefore` (epoch ms); older counts are dropped. */
  region(region: string, notBefore: number): CoverageCarrierStatsRecord[] {
    return [...(this.byRegion.get(region)?.values() ?? [])].filter(
      (r) => Date.parse(r.at) >= notBefore,
    );
  }

  isCaughtUp(): boolean {
    return this.replica.isCaughtUp();
  }

  async waitUntilCaughtUp(timeoutMs = 60_000): Promise<void> {
    await this.replica.waitUntilCaughtUp('coverage stats view', timeoutMs);
  }

  async stop(): Promise<void> {
    await this.replica.stop();
  }
}
