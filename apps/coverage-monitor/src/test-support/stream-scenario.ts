import { TOPICS, stableEventId, type CoverageEventRecord } from '@meterlink/contracts';
import {
  applyReport,
  applySilence,
  resolvePolicy,
  type MeterCoverageState,
} from '@meterlink/coverage-domain';
import type { Redis } from '@meterlink/redis';
import { eventually, type TopicRecorder } from '@meterlink/testing';
import { DEFAULT_LAYOUT, StateLayout } from '../state/layout';
import {
  fixtureMeters,
  type FixtureMeter,
  type FixtureProducer,
  type ReportInput,
} from './coverage-fixtures';

type Delivery = { meter: FixtureMeter; report: ReportInput };

/**
 * At-least-once input with everything that makes exactly-once transitions hard: meters that
 * flap between degraded and restored, meters that fall silent one after the other, 5 % of each
 * round delivered twice, and some reports held back and delivered 15 rounds late. `expected`
 * is what the pure rules make of it, transition by transition (stable event ids).
 */
export class StreamScenario {
  readonly rounds: Delivery[][] = [];
  readonly expected = new Set<string>();
  readonly prefix: string;
  readonly meters: readonly FixtureMeter[];
  private readonly base: number;

  constructor(
    readonly tag: string,
    readonly options: { rounds: number; roundMs: number; flapping: number; silent: number },
  ) {
    this.prefix = `K-${tag}-`;
    const where = { carrierId: `kc-${tag}`, region: `kr-${tag}` };
    const flapping = fixtureMeters(options.flapping, `${this.prefix}f`, {
      ...where,
      reportIntervalS: 3600,
    });
    const silent = fixtureMeters(options.silent, `${this.prefix}s`, {
      ...where,
      reportIntervalS: 2,
    });
    this.meters = [...flapping, ...silent];
    this.base = Date.now() + 2_000;

    const held = new Map<number, Delivery[]>();
    for (let r = 0; r < options.rounds; r++) {
      const at = this.base + r * options.roundMs;
      const round: Delivery[] = [...(held.get(r) ?? [])];
      flapping.forEach((meter, i) => {
        const report = { seq: r + 1, at, rsrp: (r + i) % 10 < 4 ? -125 : -90 };
        if (r % 7 === 3 && i % 20 === 0 && r + 15 < options.rounds)
          held.set(r + 15, [...(held.get(r + 15) ?? []), { meter, report }]);
        else round.push({ meter, report });
      });
      silent.forEach((meter, j) => {
        if (r < 10 + j) round.push({ meter, report: { seq: r + 1, at, rsrp: -90 } });
      });
      const previous = this.rounds.at(-1) ?? [];
      round.push(...previous.filter((_, k) => k % 20 === r % 20));
      this.rounds.push(round);
    }

    const policy = resolvePolicy('electricity', where.region);
    const states = new Map<string, MeterCoverageState>();
    for (const round of this.rounds)
      for (const { meter, report } of round) {
        const verdict = applyReport(
          states.get(meter.meterId),
          {
            ...report,
            receivedAt: report.receivedAt ?? report.at,
            reportIntervalS: meter.reportIntervalS,
            iccid: meter.iccid,
            carrierId: meter.carrierId,
            region: meter.region,
            rsrq: null,
            sinr: null,
            attachFailures: 0,
          },
          policy,
        );
        if (!verdict.applied) continue;
        states.set(meter.meterId, verdict.state);
        if (verdict.transition)
          this.expected.add(
            stableEventId(
              'coverage',
              verdict.transition.type,
              meter.meterId,
              verdict.transition.at,
              report.seq,
            ),
          );
      }
    for (const meter of silent) {
      const lost = applySilence(states.get(meter.meterId)!, Number.MAX_SAFE_INTEGER)!;
      this.expected.add(stableEventId('coverage', 'meter.lost', meter.meterId, lost.transition.at));
    }
  }

  /** The scenario's transitions on coverage.events.v1 so far, duplicates included. */
  recorded(recorder: TopicRecorder): CoverageEventRecord[] {
    return recorder.on<CoverageEventRecord>(
      TOPICS.coverageEvents.name,
      (e) => e.meterId?.startsWith(this.prefix) ?? false,
    );
  }

  /** Produces the rounds at their scheduled times: the input's pace is part of the scenario. */
  async feed(producer: FixtureProducer): Promise<void> {
    for (let r = 0; r < this.rounds.length; r++) {
      const wait = this.base + r * this.options.roundMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await producer.reports(this.rounds[r]!);
    }
  }

  /**
   * Waits until every expected transition is published and nothing of the scenario is pending,
   * then fences every partition so that anything published late would have been seen, and
   * returns the event ids recorded (the caller asserts they are exactly `expected`, once each).
   */
  async settle(
    recorder: TopicRecorder,
    producer: FixtureProducer,
    redis: Redis,
  ): Promise<string[]> {
    await eventually(
      () => {
        const seen = new Set(this.recorded(recorder).map((e) => e.eventId));
        return [...this.expected].every((id) => seen.has(id));
      },
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        what: 'every expected transition',
        detail: () =>
          `${new Set(this.recorded(recorder).map((e) => e.eventId)).size} of ${this.expected.size}`,
      },
    );
    const layout = new StateLayout(DEFAULT_LAYOUT);
    await eventually(
      async () => {
        for (const shard of layout.shards) {
          const pending = await redis.hkeys(shard.pending);
          if (pending.some((id) => id.startsWith(this.prefix))) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, what: 'no pending transitions' },
    );
    await producer.fences(TOPICS.coverageEvents.name, TOPICS.coverageEvents.partitions, (p) => ({
      fence: `${this.tag}-${p}`,
    }));
    await eventually(
      () =>
        recorder.on<{ fence?: string }>(
          TOPICS.coverageEvents.name,
          (v) => v.fence?.startsWith(this.tag) ?? false,
        ).length === TOPICS.coverageEvents.partitions,
      { timeoutMs: 30_000, what: 'the fences' },
    );
    return this.recorded(recorder).map((e) => e.eventId);
  }
}
