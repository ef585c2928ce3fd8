import type { Kafka } from 'kafkajs';
import {
  TOPICS,
  coverageEventRecordSchema,
  meterConnectivityRecordSchema,
  type CoverageEventRecord,
} from '@meterlink/contracts';
import { applySilence, emptyCarrierRegionState } from '@meterlink/coverage-domain';
import type { BatchingProducer } from '@meterlink/kafka';
import { createLogger } from '@meterlink/observability';
import type { Redis } from '@meterlink/redis';
import type { CoverageConfig } from '../config';
import { readTopicRange } from '../kafka-range';
import type { MeterDirectory } from '../fleet/meter-directory';
import { CarrierStatesRepository } from '../correlate-outages/carrier-states.repository';
import { CoverageEventsPublisher } from '../publish/coverage-events.publisher';
import { CoverageStateRepository, exec } from '../state/coverage-state.repository';
import { DictionaryRepository } from '../state/dictionary.repository';
import { PROGRESS_KEY, StateLayout, aliveKey, regionGroup } from '../state/layout';
import { MeterUpdatesService, type MeterUpdate } from '../state/meter-updates.service';
import { OutageMarksCache } from '../state/outage-marks.cache';
import { TrackSignalService, type Report } from '../track-signal/track-signal.service';

export interface RebuildOptions {
  /** Connectivity reports this far back are replayed (at least the longest silence deadline). */
  reportsSinceMs: number;
  /** Carrier events this far back are read for outages still open. */
  outagesSinceMs: number;
}

export interface RebuildResult {
  reports: number;
  meters: number;
  silentMarkedLost: number;
  openOutages: number;
}

/**
 * Rebuilds coverage state from Kafka after Redis lost it: meter states from the connectivity
 * reports of the lookback, silently (their events went out when the reports first arrived);
 * meters whose deadline passed in the lookback marked lost, again without events; outages still
 * open restored from coverage.events.v1, with the normal share they recorded. The consumer group
 * is then set to where the replay ended, so the service carries on from there.
 */
export class CoverageRebuild {
  private readonly log = createLogger('CoverageRebuild');
  private readonly states: CoverageStateRepository;
  private readonly dictionary: DictionaryRepository;
  private readonly updates: MeterUpdatesService;
  private readonly signal: TrackSignalService;
  private readonly carriers: CarrierStatesRepository;

  constructor(
    private readonly config: CoverageConfig,
    private readonly kafka: Kafka,
    private readonly redis: Redis,
    fleet: MeterDirectory,
    producer: BatchingProducer,
  ) {
    const layout = new StateLayout({
      shards: config.COVERAGE_SHARDS,
      buckets: config.COVERAGE_BUCKETS,
      slotMs: config.COVERAGE_WHEEL_SLOT_MS,
    });
    this.states = new CoverageStateRepository(redis, layout);
    this.dictionary = new DictionaryRepository(redis);
    const marks = new OutageMarksCache(this.states);
    this.updates = new MeterUpdatesService(
      config,
      this.states,
      this.dictionary,
      marks,
      new CoverageEventsPublisher(producer),
    );
    this.signal = new TrackSignalService(config, fleet, this.states, this.updates);
    this.carriers = new CarrierStatesRepository(redis);
  }

  async run(options: RebuildOptions): Promise<RebuildResult> {
    await this.refuseWhileRunning();
    const deleted = await this.deleteState();
    this.log.warn({ deleted }, 'coverage state deleted; rebuilding from Kafka');
    await this.states.checkLayout();
    await this.dictionary.load();

    const now = Date.now();
    let reports = 0;
    const meters = new Set<string>();
    const ends = await readTopicRange(
      this.kafka,
      TOPICS.meterConnectivity.name,
      now - options.reportsSinceMs,
      async (partition, messages) => {
        const batch: Report[] = [];
        for (const m of messages) {
          const parsed = meterConnectivityRecordSchema.safeParse(
            JSON.parse(m.value?.toString('utf8') ?? 'null'),
          );
          if (!parsed.success) continue;
          batch.push({ value: parsed.data, correlationId: undefined });
          meters.add(parsed.data.meterId);
        }
        reports += batch.length;
        await this.signal.applyReports(batch, 'silent', partition);
      },
      { timeoutMs: 60 * 60_000, groupPrefix: 'coverage-monitor.rebuild' },
    );
    const silentMarkedLost = await this.markSilent(Date.now());
    const openOutages = await this.restoreOutages(now - options.outagesSinceMs);

    // The service carries on where the replay ended, and that much input counts as applied.
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await admin.setOffsets({
        groupId: 'coverage-monitor',
        topic: TOPICS.meterConnectivity.name,
        partitions: [...ends].map(([partition, offset]) => ({ partition, offset })),
      });
    } finally {
      await admin.disconnect();
    }
    const pipeline = this.redis.pipeline();
    for (const [partition, offset] of ends)
      pipeline.hset(PROGRESS_KEY, String(partition), `${offset}:${now}`);
    await exec(pipeline);
    const result = { reports, meters: meters.size, silentMarkedLost, openOutages };
    this.log.warn(result, 'coverage state rebuilt');
    return result;
  }

  private async refuseWhileRunning(): Promise<void> {
    const [, alive] = await this.redis.scan('0', 'MATCH', aliveKey('*'), 'COUNT', 1000);
    if (alive.length > 0)
      throw new Error(
        `coverage-monitor replicas are running (${alive.join(', ')}); stop them first`,
      );
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const { groups } = await admin.describeGroups(['coverage-monitor']);
      const members = groups[0]?.members.length ?? 0;
      if (members > 0)
        throw new Error(
          `the coverage-monitor consumer group has ${members} members; stop them first`,
        );
    } finally {
      await admin.disconnect();
    }
  }

  private async deleteState(): Promise<number> {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', 'cov:*', 'COUNT', 5_000);
      cursor = next;
      if (keys.length > 0) deleted += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }

  /** Meters whose deadline passed before now: lost, as the previous state had them. */
  private async markSilent(now: number): Promise<number> {
    let marked = 0;
    const all = Array.from({ length: this.config.COVERAGE_BUCKETS }, (_, b) => b);
    for (let i = 0; i < all.length; i += 1_000) {
      const buckets = await this.states.readBuckets(all.slice(i, i + 1_000));
      const updates: MeterUpdate[] = [];
      for (const meters of buckets.values())
        for (const m of meters)
          if (m.state.status !== 'lost' && m.state.deadline <= now)
            updates.push({
              meterId: m.meterId,
              plan: (current) => {
                const silent = current && applySilence(current.state, now);
                return silent
                  ? { next: silent.state, slow: current.stored.slow, events: [] }
                  : null;
              },
            });
      marked += (await this.updates.apply(updates, 2_000, 'silent')).written;
    }
    return marked;
  }

  /** Outages opened and not recovered, back as open with the normal share they recorded. */
  private async restoreOutages(sinceMs: number): Promise<number> {
    const open = new Map<string, CoverageEventRecord>();
    await readTopicRange(
      this.kafka,
      TOPICS.coverageEvents.name,
      sinceMs,
      (_, messages) => {
        for (const m of messages) {
          const parsed = coverageEventRecordSchema.safeParse(
            JSON.parse(m.value?.toString('utf8') ?? 'null'),
          );
          if (!parsed.success || !parsed.data.outageId) continue;
          const e = parsed.data;
          const key = `${e.carrierId}\u001f${e.region}`;
          if (e.type === 'carrier.outage') open.set(key, e);
          else if (e.type === 'carrier.recovered' && open.get(key)?.outageId === e.outageId)
            open.delete(key);
        }
        return Promise.resolve();
      },
      { timeoutMs: 60 * 60_000, groupPrefix: 'coverage-monitor.rebuild' },
    );
    for (const e of open.values()) {
      await this.dictionary.ensure([e.carrierId], [e.region]);
      const field = regionGroup(
        this.dictionary.carrierIdx(e.carrierId),
        this.dictionary.regionIdx(e.region),
      );
      const openedAt = Date.parse(e.at);
      const baseline = e.baselineShare ?? 0;
      await this.carriers.write(field, '', {
        ...emptyCarrierRegionState(),
        baseline,
        baselineAt: Date.now(),
        outage: { outageId: e.outageId!, openedAt, healthySince: null, baseline },
        phase: 'open',
        pending: null,
        closingOutageId: null,
      });
      await this.states.setOutageMark(field, e.outageId!);
      this.log.warn(
        { carrierId: e.carrierId, region: e.region, outageId: e.outageId },
        'open outage restored',
      );
    }
    return open.size;
  }
}
