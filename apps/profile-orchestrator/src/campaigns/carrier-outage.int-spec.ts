import { createPool } from '@meterlink/postgres';
import { eventually, readMetric } from '@meterlink/testing';
import { OrchestratorHarness } from '../test-support/orchestrator-harness';

const MIN_OUTAGE_S = 4;

/**
 * Carrier outages from coverage.events.v1: targets, automatic campaigns after the minimum
 * duration, and sleepy meters' package expiries, over the real Kafka and PostgreSQL.
 */
describe('profile-orchestrator carrier outages and sleepy meters', () => {
  // 60 orders a minute: a burst of 10, then one a second.
  const h = new OrchestratorHarness(5121, 5192, {
    OUTAGE_MIN_DURATION_S: String(MIN_OUTAGE_S),
    SMDP_ORDERS_PER_MIN: '60',
  });
  const outage = (
    type: 'carrier.outage' | 'carrier.recovered',
    carrierId: string,
    outageId: string,
  ): Promise<void> =>
    h.coverage(
      { type, carrierId, region: h.region, outageId, reason: 'share_above_normal' },
      `${carrierId}/${h.region}`,
    );

  beforeAll(async () => {
    await h.start();
  });
  afterAll(async () => {
    await h.stop();
  });

  it('moves a carrier’s meters in a campaign once its outage has lasted, never to a carrier in outage', async () => {
    const meters = await h.meters(3); // profiles on carriers a (enabled) and b
    // A blip on carrier a: recovered before the minimum duration, it moves nothing.
    await outage('carrier.outage', h.carriers.a, `blip-${h.tag}`);
    await outage('carrier.recovered', h.carriers.a, `blip-${h.tag}`);
    // Carrier b is out too: the meters' other profile is no way out, carrier d is (by download).
    await outage('carrier.outage', h.carriers.b, `b-${h.tag}`);
    await eventually(
      async () =>
        (
          (await h.api('GET', '/v1/audit?limit=1000')).body.entries as {
            action: string;
            detail: { outageId?: string };
          }[]
        ).some((e) => e.action === 'carrier.outage' && e.detail.outageId === `b-${h.tag}`),
      { what: 'carrier b’s outage to be recorded' },
    );
    const refused = await h.api(
      'POST',
      `/v1/meters/${meters[0]!.line.meterId}/swaps`,
      { targetCarrierId: h.carriers.b },
      'operator',
    );
    expect(refused).toMatchObject({ status: 409, body: { code: 'target_in_outage' } });
    const declared = Date.now();
    await outage('carrier.outage', h.carriers.a, `a-${h.tag}`);

    const campaigns = async () =>
      (
        (await h.api('GET', '/v1/campaigns', undefined, 'viewer')).body.items as {
          campaignId: string;
          trigger: string;
          selector: { region?: string; fromCarrierId?: string };
          targetCarrierId: string;
          meterCount: number;
          state: string;
        }[]
      ).filter((c) => c.selector.region === h.region);
    const [campaign] = await eventually(
      async () => {
        const found = await campaigns();
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 30_000, what: 'the automatic campaign' },
    );
    expect(Date.now() - declared).toBeGreaterThanOrEqual(MIN_OUTAGE_S * 1000 - 500);
    expect(campaign).toMatchObject({
      trigger: 'carrier-outage',
      selector: { region: h.region, fromCarrierId: h.carriers.a },
      targetCarrierId: h.carriers.d,
      meterCount: 3,
      state: 'running',
    });
    // Each meter gets carrier d's profile (download), not b's.
    for (const meter of meters)
      await eventually(
        () =>
          h
            .outbound(meter.line.meterId)
            .find(
              (m) =>
                m.type === 'profileDownloadTrigger' &&
                m.activationCode.startsWith(`1$smdp.${h.carriers.d}.example$`),
            ),
        { what: `a download of carrier d for ${meter.line.meterId}` },
      );
    for (const meter of meters)
      expect(h.swapRecords(meter.line.meterId)).toEqual([
        expect.objectContaining({
          state: 'requested',
          trigger: 'carrier-outage',
          toCarrierId: h.carriers.d,
          campaignId: campaign!.campaignId,
        }),
      ]);
    // The blip got no campaign.
    expect(await campaigns()).toHaveLength(1);
    const audit = await h.api('GET', `/v1/audit?campaignId=${campaign!.campaignId}`);
    expect(
      (audit.body.entries as { action: string; actor: string }[]).find(
        (e) => e.action === 'campaign.created',
      ),
    ).toMatchObject({ actor: 'eim:carrier-outage' });
  });

  it('gives a sleepy meter’s package until its next expected poll, and answers that poll with it', async () => {
    const [meter] = await h.meters(1, { kind: 'gas', reportIntervalS: 600 });
    const id = meter!.line.meterId;
    await h.esipa(meter!, { type: 'getEimPackage', eid: meter!.line.eid });
    await eventually(() => h.outbound(id).some((m) => m.type === 'noEimPackageAvailable'), {
      what: 'the poll answered',
    });
    const polled = Date.now();
    // Carrier b's outage from the first test is still open: carrier d, by download.
    await outage('carrier.recovered', h.carriers.b, `b-${h.tag}`);
    await eventually(
      async () =>
        (
          await h.api(
            'POST',
            `/v1/meters/${id}/swaps`,
            { targetCarrierId: h.carriers.b },
            'operator',
          )
        ).status === 202,
      { what: 'carrier b to be a target again' },
    );
    const pending = await eventually(
      async () => {
        const res = await h.api('GET', `/v1/meters/${id}/pending-packages`, undefined, 'viewer');
        return (res.body.packages as unknown[]).length > 0 ? res.body : undefined;
      },
      { what: 'a pending package' },
    );
    const next = Date.parse(pending.nextExpectedAt as string);
    expect(pending.sleepy).toBe(true);
    expect(next).toBeGreaterThanOrEqual(polled + 590_000);
    expect(next).toBeLessThanOrEqual(Date.now() + 600_000);
    const [pkg] = pending.packages as { type: string; expiresAt: string }[];
    expect(pkg!.type).toBe('eimPackage');
    // Its next poll, plus its rollback window (30 s) and the grace (60 s).
    expect(Date.parse(pkg!.expiresAt) - next).toBeGreaterThanOrEqual(89_000);
    expect(Date.parse(pkg!.expiresAt) - next).toBeLessThanOrEqual(91_000);
    await eventually(() => h.packages(id).length === 1, { what: 'the package pushed' });
    await h.esipa(meter!, { type: 'getEimPackage', eid: meter!.line.eid });
    await eventually(() => h.packages(id).length === 2, {
      what: 'the package again on the poll',
    });
    expect(new Set(h.packages(id).map((p) => p.eimTransactionId)).size).toBe(1);
  });

  it('holds download orders to the carrier SM-DP+ capacity', async () => {
    const meters = await h.meters(14, { downloadOnly: true });
    const ordersBefore = (await h.smdp.stats(h.carriers.d)).orders;
    const limitedBefore = await readMetric(
      h.service.baseUrl,
      'orchestrator_smdp_rate_limited_total',
      {
        carrier: h.carriers.d,
      },
    );
    const started = Date.now();
    const created = await h.api(
      'POST',
      '/v1/campaigns',
      {
        name: 'capacity',
        selector: { meterIds: meters.map((m) => m.line.meterId) },
        targetCarrierId: h.carriers.d,
        waves: { canarySize: 14 },
      },
      'operator',
    );
    expect(created.body).toMatchObject({ state: 'running', meterCount: 14 });
    await eventually(
      () =>
        meters.every((m) =>
          h.outbound(m.line.meterId).some((x) => x.type === 'profileDownloadTrigger'),
        ),
      { timeoutMs: 30_000, what: 'a trigger for every meter' },
    );
    // The bucket held 10 (or fewer: earlier tests took some); the rest came at one a second.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000);
    expect(
      await readMetric(h.service.baseUrl, 'orchestrator_smdp_rate_limited_total', {
        carrier: h.carriers.d,
      }),
    ).toBeGreaterThan(limitedBefore);
    expect((await h.smdp.stats(h.carriers.d)).orders).toBe(ordersBefore + 14);
  });

  it('downloads nothing to a battery meter whose last telemetry said its battery is low', async () => {
    const [meter] = await h.meters(1, { kind: 'water', reportIntervalS: 3600, downloadOnly: true });
    const id = meter!.line.meterId;
    const enabled = meter!.line.profiles[0]!;
    const pool = createPool(h.infra.DATABASE_URL, 'int-orch-battery', 1);
    try {
      await h.traffic(meter!, enabled.iccid, enabled.carrierId, 12);
      await eventually(
        async () =>
          (
            await pool.query(
              'SELECT 1 FROM orchestrator.meter_radio WHERE meter_id = $1 AND battery_pct = 12',
              [id],
            )
          ).rowCount === 1,
        { what: 'the battery report to be kept' },
      );
    } finally {
      await pool.end();
    }
    const refused = await h.api(
      'POST',
      `/v1/meters/${id}/swaps`,
      { targetCarrierId: h.carriers.d },
      'operator',
    );
    expect(refused).toMatchObject({ status: 409, body: { code: 'battery_low' } });
    expect(h.swapRecords(id)).toEqual([]);
  });
});
