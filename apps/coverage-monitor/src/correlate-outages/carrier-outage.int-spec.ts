import {
  TOPICS,
  type CoverageCarrierStatsRecord,
  type CoverageEventRecord,
} from '@meterlink/contracts';
import { createKafka } from '@meterlink/kafka';
import { Platform, TopicRecorder, eventually, infraEnv, readMetric } from '@meterlink/testing';
import {
  FixtureProducer,
  ReportLoop,
  fixtureMeters,
  runTag,
  type FixtureMeter,
} from '../test-support/coverage-fixtures';

/**
 * Carrier × region correlation over real Kafka and Redis: the coverage-monitor as a process, fed
 * meter.connectivity.v1 records the way ingestion writes them, with carriers and regions of this
 * run only.
 */
describe('coverage-monitor carrier outage correlation', () => {
  const infra = infraEnv();
  // A small region whose outage policy is overridden: eight meters per carrier open an outage
  // there, where the default needs a population of 20.
  const smallRegion = `rsm-${runTag()}`;
  const platform = new Platform({
    infra,
    basePort: 4931,
    services: ['coverage-monitor'],
    logTag: 'int-coverage-outage',
    extraEnv: {
      'coverage-monitor': {
        COVERAGE_OUTAGE_EVAL_INTERVAL_MS: '250',
        COVERAGE_OUTAGE_RECOVERY_HOLD_S: '2',
        COVERAGE_LEADER_TTL_MS: '1500',
        COVERAGE_STATS_INTERVAL_MS: '500',
        COVERAGE_OUTAGE_OVERRIDES: JSON.stringify([
          { region: smallRegion, minPopulation: 5, minAffected: 3 },
        ]),
      },
    },
  });
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-outage' });
  const recorder = new TopicRecorder(kafka, [
    TOPICS.coverageEvents.name,
    TOPICS.coverageCarriers.name,
  ]);
  const producer = new FixtureProducer(kafka);
  const loops: ReportLoop[] = [];
  const events = (filter: (e: CoverageEventRecord) => boolean): CoverageEventRecord[] =>
    recorder.on<CoverageEventRecord>(TOPICS.coverageEvents.name, filter);
  const stats = (carrierId: string, region: string): CoverageCarrierStatsRecord[] =>
    recorder.on<CoverageCarrierStatsRecord>(
      TOPICS.coverageCarriers.name,
      (r) => r.carrierId === carrierId && r.region === region,
    );
  const metricsText = async (): Promise<string> =>
    (await fetch(`${platform.service('coverage-monitor').baseUrl}/metrics`)).text();
  const hasSeries = (text: string, name: string, labels: Record<string, string>): boolean =>
    text
      .split('\n')
      .some(
        (line) =>
          line.startsWith(`${name}{`) &&
          Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)),
      );

  const carrierEvents = (carrierId: string): CoverageEventRecord[] =>
    events(
      (e) =>
        (e.type === 'carrier.outage' || e.type === 'carrier.recovered') &&
        e.carrierId === carrierId,
    );
  /** Waits for the monitor's next `n` carrier × region evaluations. */
  async function evaluationsPass(n: number): Promise<void> {
    const baseUrl = platform.service('coverage-monitor').baseUrl;
    const evaluated = await readMetric(baseUrl, 'coverage_carrier_evaluations_total');
    await eventually(
      async () =>
        (await readMetric(baseUrl, 'coverage_carrier_evaluations_total')) >= evaluated + n,
      { timeoutMs: 20_000, what: `${n} more evaluations` },
    );
  }

  /** Starts meters reporting every 500 ms and waits until the monitor counts them all as ok. */
  async function reporting(meters: FixtureMeter[], carrierId: string, region: string) {
    await producer.fleet(meters);
    const loop = new ReportLoop(producer, meters, 500);
    loops.push(loop);
    loop.start();
    await eventually(
      async () => {
        const text = await metricsText();
        return (
          hasSeries(text, 'coverage_carrier_baseline_share', { carrier: carrierId, region }) &&
          text.includes(
            `coverage_meters{carrier="${carrierId}",region="${region}",state="ok",service="coverage-monitor"} ${meters.length}`,
          )
        );
      },
      { timeoutMs: 30_000, what: `${meters.length} meters of ${carrierId} in ${region} counted` },
    );
    return loop;
  }

  beforeAll(async () => {
    await recorder.start();
    await producer.connect();
    await platform.start();
  });
  afterAll(async () => {
    for (const loop of loops) await loop.stop();
    await recorder.stop();
    await producer.disconnect();
    await platform.stop();
  });

  it('declares one outage for the carrier and region that failed, and nothing anywhere else', async () => {
    const tag = runTag();
    const [carrierA, carrierB] = [`oa-${tag}`, `ob-${tag}`];
    const [regionA, regionB] = [`ra-${tag}`, `rb-${tag}`];
    const hit = fixtureMeters(40, `O-${tag}-aa`, {
      carrierId: carrierA,
      region: regionA,
      reportIntervalS: 2,
    });
    const otherCarrier = fixtureMeters(25, `O-${tag}-ba`, {
      carrierId: carrierB,
      region: regionA,
      reportIntervalS: 2,
    });
    const otherRegion = fixtureMeters(25, `O-${tag}-ab`, {
      carrierId: carrierA,
      region: regionB,
      reportIntervalS: 2,
    });
    const loopA = await reporting(hit, carrierA, regionA);
    await reporting(otherCarrier, carrierB, regionA);
    await reporting(otherRegion, carrierA, regionB);

    // 24 of carrier A's 40 meters in region A fall silent, one every 150 ms.
    const silent = hit.slice(0, 24);
    const silentIds = new Set(silent.map((m) => m.meterId));
    for (const m of silent) {
      loopA.silence(m.meterId);
      await new Promise((r) => setTimeout(r, 150));
    }
    const outage = await eventually(
      () => events((e) => e.type === 'carrier.outage' && e.carrierId === carrierA)[0],
      { timeoutMs: 30_000, what: 'carrier.outage' },
    );
    expect(outage).toMatchObject({ region: regionA, population: 40, baselineShare: 0 });
    expect(outage.unhealthyMeters).toBeGreaterThanOrEqual(10);
    const outageId = outage.outageId!;

    // Every silent meter is lost: with the outage's id if it went silent after the outage opened.
    const lostOf = (id: string) => events((e) => e.meterId === id && e.type === 'meter.lost');
    await eventually(() => silent.every((m) => lostOf(m.meterId).length > 0), {
      timeoutMs: 30_000,
      what: 'every silent meter lost',
    });

    // The swap policy's view (coverage.carriers.v1) counts them, with the open outage; the
    // carrier's other region and the other carrier are counted healthy.
    const counted = await eventually(
      () => stats(carrierA, regionA).find((r) => r.lost === 24 && r.outageId === outageId),
      { timeoutMs: 10_000, what: 'carrier stats with the 24 lost meters and the outage' },
    );
    expect(counted).toMatchObject({ meters: 40, healthy: 16, degraded: 0, slowMeters: 0 });
    expect(stats(carrierB, regionA).at(-1)).toMatchObject({ meters: 25, healthy: 25, lost: 0 });
    expect(stats(carrierA, regionB).at(-1)).toMatchObject({ meters: 25, healthy: 25, lost: 0 });
    expect(stats(carrierB, regionA).some((r) => r.outageId !== undefined)).toBe(false);

    // They come back: restored (still within the outage), then the carrier recovers.
    for (const m of silent) loopA.resume(m.meterId);
    const recovered = await eventually(
      () => events((e) => e.type === 'carrier.recovered' && e.carrierId === carrierA)[0],
      { timeoutMs: 30_000, what: 'carrier.recovered' },
    );

    // One record per state change: each meter lost once and restored once, never a second
    // meter.lost for a state it was already in when the outage opened.
    const perMeter = (id: string) =>
      events((e) => e.meterId === id).map((e) => `${e.type}/${e.reason}/${e.outageId ?? '-'}`);
    const lostBefore: CoverageEventRecord[] = [];
    for (const m of silent) {
      const [lost] = lostOf(m.meterId);
      if (lost!.outageId === undefined) lostBefore.push(lost!);
      expect(perMeter(m.meterId)).toEqual([
        `meter.lost/silent_past_deadline/${lost!.outageId ?? '-'}`,
        `meter.restored/reported_again/${outageId}`,
      ]);
    }
    // The meters already lost when it opened are the outage's by its carrier.outage record: it
    // counts them, and they are the ones lost without its id since the window's start.
    const windowStart = Math.floor((Date.parse(outage.at) - 15 * 60_000) / 1000) * 1000;
    expect(outage.attributedSince).toBe(new Date(windowStart).toISOString());
    expect(outage.attributedMeters).toBe(lostBefore.length);
    // It takes ten lost meters to open an outage: at least those were lost before it.
    expect(outage.attributedMeters).toBeGreaterThanOrEqual(10);
    for (const lost of lostBefore) expect(Date.parse(lost.at)).toBeGreaterThanOrEqual(windowStart);

    // Only this test's carriers: other tests' meters (carrier-a/north) may have outages of their own.
    const ours = new Set([carrierA, carrierB]);
    expect(
      events(
        (e) =>
          (e.type === 'carrier.outage' || e.type === 'carrier.recovered') && ours.has(e.carrierId),
      ),
    ).toEqual([
      expect.objectContaining({ type: 'carrier.outage', carrierId: carrierA, region: regionA }),
      expect.objectContaining({
        type: 'carrier.recovered',
        carrierId: carrierA,
        region: regionA,
        outageId,
        outageStartedAt: outage.at,
      }),
    ]);
    await eventually(
      () =>
        stats(carrierA, regionA).find(
          (r) => Date.parse(r.at) > Date.parse(recovered.at) && r.lost === 0,
        ),
      { timeoutMs: 10_000, what: 'carrier stats after the recovery' },
    );
    expect(stats(carrierA, regionA).at(-1)).toMatchObject({ meters: 40, healthy: 40 });
    expect(stats(carrierA, regionA).at(-1)?.outageId).toBeUndefined();
    // Nothing for the meters that kept reporting, in this region or the other.
    const untouched = [
      ...hit.filter((m) => !silentIds.has(m.meterId)),
      ...otherCarrier,
      ...otherRegion,
    ];
    const ids = new Set(untouched.map((m) => m.meterId));
    expect(events((e) => e.meterId !== undefined && ids.has(e.meterId))).toEqual([]);
  });

  it('reports one meter that goes silent as lost, with no carrier event', async () => {
    const tag = runTag();
    const [carrierId, region] = [`sc-${tag}`, `rs-${tag}`];
    const meters = fixtureMeters(30, `S-${tag}`, { carrierId, region, reportIntervalS: 2 });
    const loop = await reporting(meters, carrierId, region);
    const broken = meters[7]!;
    loop.silence(broken.meterId);

    const lost = await eventually(
      () => events((e) => e.meterId === broken.meterId && e.type === 'meter.lost')[0],
      { timeoutMs: 20_000, what: 'meter.lost' },
    );
    expect(lost).toMatchObject({ carrierId, region, reason: 'silent_past_deadline' });
    expect(lost.outageId).toBeUndefined();
    // Several more evaluations pass, and the share it moved (1 in 30) opens nothing.
    await evaluationsPass(8);
    expect(events((e) => e.carrierId === carrierId && e.meterId !== broken.meterId)).toEqual([]);
    expect(events((e) => e.meterId === broken.meterId).map((e) => e.type)).toEqual(['meter.lost']);
  });

  it('declares an outage when meters of a carrier degrade in a region, not only when they fall silent', async () => {
    const tag = runTag();
    const [carrierId, region] = [`dg-${tag}`, `rdg-${tag}`];
    const meters = fixtureMeters(30, `D-${tag}`, { carrierId, region, reportIntervalS: 2 });
    const loop = await reporting(meters, carrierId, region);

    // 12 of 30 report poor signal (RSRP -125 dBm, entry -115): degraded after three reports.
    const first = meters.slice(0, 12);
    for (const m of first) loop.signal(m.meterId, -125);
    const outage = await eventually(
      () => carrierEvents(carrierId).find((e) => e.type === 'carrier.outage'),
      { timeoutMs: 30_000, what: 'carrier.outage from degradation' },
    );
    expect(outage).toMatchObject({
      region,
      population: 30,
      baselineShare: 0,
      reason: 'share_above_normal',
    });
    expect(outage.unhealthyMeters).toBeGreaterThanOrEqual(10);
    const outageId = outage.outageId!;

    // Four more degrade while it is open: their own events carry its id.
    const later = meters.slice(12, 16);
    for (const m of later) loop.signal(m.meterId, -125);
    const degradedOf = (id: string) =>
      events((e) => e.meterId === id && e.type === 'meter.degraded');
    await eventually(() => [...first, ...later].every((m) => degradedOf(m.meterId).length > 0), {
      timeoutMs: 20_000,
      what: 'all 16 meters degraded',
    });
    for (const m of later) expect(degradedOf(m.meterId)[0]?.outageId).toBe(outageId);
    const degradedBefore = [...first, ...later]
      .map((m) => degradedOf(m.meterId)[0]!)
      .filter((e) => e.outageId === undefined);
    expect(outage.attributedMeters).toBe(degradedBefore.length);
    expect(outage.attributedMeters).toBeGreaterThanOrEqual(10);

    // Signal back: each restored (within the outage), then the carrier recovers.
    for (const m of [...first, ...later]) loop.signal(m.meterId, -90);
    const recovered = await eventually(
      () => carrierEvents(carrierId).find((e) => e.type === 'carrier.recovered'),
      { timeoutMs: 30_000, what: 'carrier.recovered' },
    );
    expect(recovered).toMatchObject({ region, outageId, outageStartedAt: outage.at });
    for (const m of [...first, ...later]) {
      const degraded = degradedOf(m.meterId)[0]!;
      expect(
        events((e) => e.meterId === m.meterId).map(
          (e) => `${e.type}/${e.reason}/${e.outageId ?? '-'}`,
        ),
      ).toEqual([
        `meter.degraded/signal_below_threshold/${degraded.outageId ?? '-'}`,
        `meter.restored/signal_above_exit_threshold/${outageId}`,
      ]);
    }
    // Nothing went silent, and the meters with good signal throughout have no event at all.
    const ids = new Set(meters.map((m) => m.meterId));
    expect(events((e) => e.type === 'meter.lost' && ids.has(e.meterId))).toEqual([]);
    const fine = new Set(meters.slice(16).map((m) => m.meterId));
    expect(events((e) => e.meterId !== undefined && fine.has(e.meterId))).toEqual([]);
    expect(carrierEvents(carrierId)).toHaveLength(2);
  });

  it('applies COVERAGE_OUTAGE_OVERRIDES per region: the same failure opens an outage only where the override allows', async () => {
    const tag = runTag();
    const carrierId = `sm-${tag}`;
    const defaultRegion = `rdf-${tag}`;
    // Eight meters in each region, below the default population of 20.
    const small = fixtureMeters(8, `V-${tag}-s`, {
      carrierId,
      region: smallRegion,
      reportIntervalS: 2,
    });
    const plain = fixtureMeters(8, `V-${tag}-d`, {
      carrierId,
      region: defaultRegion,
      reportIntervalS: 2,
    });
    const smallLoop = await reporting(small, carrierId, smallRegion);
    const plainLoop = await reporting(plain, carrierId, defaultRegion);

    // Half of each falls silent at once: the regions differ only in their policy.
    const silent = [...small.slice(0, 4), ...plain.slice(0, 4)];
    for (let i = 0; i < 4; i++) {
      smallLoop.silence(small[i]!.meterId);
      plainLoop.silence(plain[i]!.meterId);
    }
    const lostOf = (id: string) => events((e) => e.meterId === id && e.type === 'meter.lost');
    await eventually(() => silent.every((m) => lostOf(m.meterId).length > 0), {
      timeoutMs: 30_000,
      what: 'the eight silent meters lost',
    });
    const outage = await eventually(
      () => carrierEvents(carrierId).find((e) => e.type === 'carrier.outage'),
      { timeoutMs: 20_000, what: 'carrier.outage in the overridden region' },
    );
    expect(outage).toMatchObject({ region: smallRegion, population: 8 });
    expect(outage.unhealthyMeters).toBeGreaterThanOrEqual(3);

    // Evaluations go on, and the region on the default policy (population 20) opens nothing.
    await evaluationsPass(8);
    expect(carrierEvents(carrierId)).toEqual([outage]);
    for (const m of plain.slice(0, 4)) expect(lostOf(m.meterId)[0]?.outageId).toBeUndefined();
    expect(stats(carrierId, defaultRegion).at(-1)).toMatchObject({ meters: 8, lost: 4 });
    expect(stats(carrierId, defaultRegion).at(-1)?.outageId).toBeUndefined();
  });
});
