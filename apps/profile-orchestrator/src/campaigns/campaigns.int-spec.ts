import type { TestMeter } from '@meterlink/testing';
import { eventually } from '@meterlink/testing';
import { OrchestratorHarness } from '../test-support/orchestrator-harness';

interface CampaignBody {
  campaignId: string;
  state: string;
  pausedReason?: string;
  meterCount: number;
  waves: { index: number; size: number; completed: number; rolledBack: number; inFlight: number }[];
  totals: {
    completed: number;
    cancelled: number;
    pending: number;
    failed: number;
    rolledBack: number;
  };
  createdBy: string;
  approvedBy?: string;
}

/**
 * Meters played by the test: each enable package is answered (signed result, then traffic on the
 * new profile), or rolled back; until stopped.
 */
function respond(h: OrchestratorHarness, meters: TestMeter[], mode: 'ok' | 'rolled-back') {
  const answered = new Set<string>();
  let seqNumber = 1000;
  let running = true;
  // Like a meter's telemetry, traffic on the new profile goes on until the swap is completed.
  const reporting: { meter: TestMeter; iccid: string; carrierId: string }[] = [];
  const loop = (async () => {
    while (running) {
      for (const meter of meters) {
        for (const pkg of h.packages(meter.line.meterId)) {
          if (answered.has(pkg.eimTransactionId)) continue;
          answered.add(pkg.eimTransactionId);
          const psmo = pkg.psmoList[0]!;
          const iccid = psmo.op === 'enable' ? psmo.iccid : '';
          if (mode === 'ok') {
            await h.result(meter, pkg, ++seqNumber);
            const carrierId = meter.line.profiles.find((p) => p.iccid === iccid)!.carrierId;
            reporting.push({ meter, iccid, carrierId });
          } else await h.result(meter, pkg, ++seqNumber, { rolledBack: true, code: 'ok' });
        }
      }
      for (const r of reporting)
        if (
          !h
            .swapRecords(r.meter.line.meterId)
            .some((s) => s.state === 'completed' && s.toIccid === r.iccid)
        )
          await h.traffic(r.meter, r.iccid, r.carrierId);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return async (): Promise<void> => {
    running = false;
    await loop;
  };
}

describe('profile-orchestrator campaigns', () => {
  const h = new OrchestratorHarness(5111, 5191, { CAMPAIGN_APPROVAL_THRESHOLD: '12' });
  const campaign = async (id: string): Promise<CampaignBody> =>
    (await h.api('GET', `/v1/campaigns/${id}`, undefined, 'viewer'))
      .body as unknown as CampaignBody;

  beforeAll(async () => {
    await h.start();
  });
  afterAll(async () => {
    await h.stop();
  });

  it('waits for an admin other than its creator when it is large', async () => {
    const meters = await h.meters(13);
    const created = await h.api(
      'POST',
      '/v1/campaigns',
      {
        name: 'supplier change',
        selector: { meterIds: meters.map((m) => m.line.meterId) },
        targetCarrierId: h.carriers.b,
        waves: { canarySize: 2 },
      },
      'admin',
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      state: 'pending-approval',
      meterCount: 13,
      requiresApproval: true,
    });
    const id = created.body.campaignId as string;
    expect((await h.api('POST', `/v1/campaigns/${id}/approve`, undefined, 'operator')).status).toBe(
      403,
    );
    const self = await h.api('POST', `/v1/campaigns/${id}/approve`, undefined, 'admin');
    expect(self).toMatchObject({ status: 403, body: { code: 'approver_is_creator' } });
    // Nothing is sent while it waits.
    expect(meters.flatMap((m) => h.packages(m.line.meterId))).toEqual([]);
    const approved = await h.api('POST', `/v1/campaigns/${id}/approve`, undefined, 'admin2');
    expect(approved).toMatchObject({
      status: 200,
      body: { state: 'running', approvedBy: 'token-4' },
    });
    await eventually(() => meters.some((m) => h.packages(m.line.meterId).length > 0), {
      what: 'the canary to get its packages',
    });
    // Emergency stop: the rest is cancelled and no further package goes out.
    const stopped = await h.api('POST', `/v1/campaigns/${id}/stop`, undefined, 'operator');
    expect(stopped.body).toMatchObject({ state: 'stopped' });
    const sent = meters.filter((m) => h.packages(m.line.meterId).length > 0).length;
    expect(sent).toBe(2);
    expect((stopped.body as unknown as CampaignBody).totals.cancelled).toBe(11);
    const audit = await h.api('GET', `/v1/audit?campaignId=${id}`);
    expect((audit.body.entries as { action: string }[]).map((e) => e.action)).toEqual(
      expect.arrayContaining([
        'campaign.created',
        'campaign.running',
        'campaign.stopped',
        'swap.requested',
      ]),
    );
  });

  it('pauses at its error threshold when the target carrier does not work', async () => {
    const meters = await h.meters(8);
    const stop = respond(h, meters, 'rolled-back');
    try {
      const created = await h.api(
        'POST',
        '/v1/campaigns',
        {
          name: 'to a dead carrier',
          selector: { region: h.region, meterIds: meters.map((m) => m.line.meterId) },
          targetCarrierId: h.carriers.b,
          waves: { canarySize: 2, growthFactor: 2 },
          errorThreshold: 0.2,
        },
        'operator',
      );
      expect(created.body).toMatchObject({ state: 'running', meterCount: 8 });
      const id = created.body.campaignId as string;
      const paused = await eventually(
        async () => {
          const c = await campaign(id);
          return c.state === 'paused' ? c : undefined;
        },
        { timeoutMs: 30_000, what: 'the campaign to pause' },
      );
      expect(paused.pausedReason).toBe('error_threshold');
      // Only the canary was tried.
      expect(paused.waves).toHaveLength(1);
      expect(paused.waves[0]!.size).toBe(2);
      expect(meters.filter((m) => h.packages(m.line.meterId).length > 0)).toHaveLength(2);
      expect(paused.totals.pending).toBe(6);
    } finally {
      await stop();
    }
  });

  it('resumes after a SIGKILL mid-campaign and sends no meter a second package', async () => {
    const meters = await h.meters(12);
    const stop = respond(h, meters, 'ok');
    try {
      const created = await h.api(
        'POST',
        '/v1/campaigns',
        {
          name: 'crash test',
          selector: { meterIds: meters.map((m) => m.line.meterId) },
          targetCarrierId: h.carriers.b,
          waves: { canarySize: 2, growthFactor: 2, maxWaveSize: 4 },
        },
        'operator',
      );
      const id = created.body.campaignId as string;
      await eventually(async () => (await campaign(id)).totals.completed >= 2, {
        timeoutMs: 30_000,
        what: 'the canary to complete',
      });
      await h.kill();
      await h.restart();
      const done = await eventually(
        async () => {
          const c = await campaign(id);
          return c.state === 'completed' ? c : undefined;
        },
        { timeoutMs: 60_000, what: 'the campaign to complete after the restart' },
      );
      expect(done.totals).toMatchObject({ completed: 12, failed: 0, rolledBack: 0, pending: 0 });
      expect(done.waves.map((w) => w.size)).toEqual([2, 4, 4, 2]);
      // One package per meter: the outbox may re-publish the same one after a crash, never a new one.
      for (const meter of meters) {
        const transactions = new Set(h.packages(meter.line.meterId).map((p) => p.eimTransactionId));
        expect(transactions.size).toBe(1);
      }
    } finally {
      await stop();
    }
  });
});
