import { eventually, readMetric, testMeters } from '@meterlink/testing';
import { OrchestratorHarness } from './test-support/orchestrator-harness';

/**
 * The swap saga over the real Kafka and PostgreSQL: the orchestrator as a process, an SM-DP+
 * double for ES2+, and the meter played by the test on esipa.inbound.v1 / esipa.outbound.v1.
 */
describe('profile-orchestrator swap saga', () => {
  const h = new OrchestratorHarness(5101, 5190);

  beforeAll(async () => {
    await h.start();
  });
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  it('downloads the target profile through the SM-DP+, enables it and completes', async () => {
    const [meter] = await h.meters(1, { downloadOnly: true });
    const id = meter!.line.meterId;
    const accepted = await h.api(
      'POST',
      `/v1/meters/${id}/swaps`,
      { targetCarrierId: h.carriers.d },
      'operator',
    );
    expect(accepted.status).toBe(202);
    const swapId = accepted.body.swapId as string;

    // ES2+ order and confirmation at carrier d's SM-DP+, then the trigger for the meter.
    const trigger = await eventually(
      () => h.outbound(id).find((m) => m.type === 'profileDownloadTrigger'),
      { timeoutMs: 20_000, what: 'a profileDownloadTrigger' },
    );
    if (trigger.type !== 'profileDownloadTrigger') throw new Error('unreachable');
    const [order] = h.smdp.ordersOf(meter!.line.eid);
    expect(order).toMatchObject({ carrierId: h.carriers.d, cancelled: false });
    expect(trigger.activationCode).toBe(`1$smdp.${h.carriers.d}.example$${order!.matchingId}`);
    // The same functionCallIdentifier for each function of this swap (idempotent retries).
    expect(h.smdp.calls.filter((c) => c.callId.startsWith(swapId)).map((c) => c.fn)).toEqual([
      'downloadOrder',
      'confirmOrder',
    ]);
    const pending = await h.api('GET', `/v1/meters/${id}/pending-packages`, undefined, 'viewer');
    expect(pending.body).toMatchObject({
      meterId: id,
      packages: [
        { type: 'profileDownloadTrigger', swapId, eimTransactionId: trigger.eimTransactionId },
      ],
    });

    // A poll gets the trigger again; the download result is acknowledged and the enable follows.
    await h.esipa(meter!, { type: 'getEimPackage', eid: meter!.line.eid });
    await eventually(
      () => h.outbound(id).filter((m) => m.type === 'profileDownloadTrigger').length === 2,
      { what: 'the trigger again on the poll' },
    );
    await h.esipa(meter!, {
      type: 'profileDownloadResult',
      eimTransactionId: trigger.eimTransactionId,
      seqNumber: 41,
      iccid: order!.iccid,
      result: 'installed',
    });
    const pkg = await eventually(() => h.packages(id)[0], { what: 'the enable package' });
    expect(h.acknowledged(id)).toContain(41);
    expect(pkg.psmoList).toEqual([{ op: 'enable', iccid: order!.iccid, rollback: true }]);
    expect(pkg.eid).toBe(meter!.line.eid);

    await h.result(meter!, pkg, 42);
    await h.traffic(meter!, order!.iccid, h.carriers.d);
    await eventually(() => h.swapRecords(id).some((s) => s.state === 'completed'), {
      what: 'the swap to complete',
    });
    expect(h.acknowledged(id)).toContain(42);
    const records = h.swapRecords(id);
    expect(records.map((r) => r.state)).toEqual(['requested', 'dispatched', 'completed']);
    expect(records[2]).toMatchObject({
      swapId,
      trigger: 'operator',
      fromIccid: meter!.line.profiles[0]!.iccid,
      toIccid: order!.iccid,
      toCarrierId: h.carriers.d,
      needsDownload: true,
    });

    // History, audit: who asked, ICCIDs before and after, the result.
    const history = await h.api('GET', `/v1/meters/${id}/swaps`, undefined, 'viewer');
    expect(history.body.swaps).toEqual([
      expect.objectContaining({ swapId, state: 'completed', toIccid: order!.iccid }),
    ]);
    const audit = await h.api('GET', `/v1/audit?meterId=${id}`);
    const actions = (audit.body.entries as { action: string; actor: string }[]).map(
      (e) => e.action,
    );
    expect(actions).toEqual(
      expect.arrayContaining([
        'swap.requested',
        'swap.download-triggered',
        'swap.profile-installed',
        'swap.dispatched',
        'swap.completed',
      ]),
    );
    expect(
      (
        audit.body.entries as { action: string; actor: string; detail: Record<string, unknown> }[]
      ).find((e) => e.action === 'swap.completed')?.detail,
    ).toMatchObject({
      fromIccid: meter!.line.profiles[0]!.iccid,
      toIccid: order!.iccid,
      requestedBy: 'token-2',
    });
    expect((await h.api('GET', `/v1/audit?meterId=${id}`, undefined, 'operator')).status).toBe(403);

    // A second swap to a carrier the meter is on is refused.
    expect(
      (await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: h.carriers.d }, 'operator'))
        .status,
    ).toBe(409);
  });

  it('fails the swap with the SM-DP+ refusal code and sends the meter nothing', async () => {
    const [meter] = await h.meters(1, { downloadOnly: true });
    const id = meter!.line.meterId;
    h.smdp.refuse.set(h.carriers.d, 'noEligibleProfile');
    try {
      const { body } = await h.api(
        'POST',
        `/v1/meters/${id}/swaps`,
        { targetCarrierId: h.carriers.d },
        'operator',
      );
      const failed = await eventually(
        async () => {
          const history = await h.api('GET', `/v1/meters/${id}/swaps`, undefined, 'viewer');
          const swaps = history.body.swaps as {
            swapId: string;
            state: string;
            reasonCode?: string;
          }[];
          return swaps.find((s) => s.swapId === body.swapId && s.state === 'failed');
        },
        { what: 'the swap to fail' },
      );
      expect(failed.reasonCode).toBe('noEligibleProfile');
      expect(h.outbound(id)).toEqual([]);
    } finally {
      h.smdp.refuse.delete(h.carriers.d);
    }
  });

  it('rejects and counts a forged result, and a replayed one changes nothing', async () => {
    const [meter] = await h.meters(1);
    const [stranger] = testMeters(1);
    const id = meter!.line.meterId;
    const { body } = await h.api(
      'POST',
      `/v1/meters/${id}/swaps`,
      { targetCarrierId: h.carriers.b },
      'operator',
    );
    const pkg = await eventually(() => h.packages(id)[0], { what: 'the enable package' });
    const forgedBefore = await readMetric(h.service.baseUrl, 'orchestrator_invalid_results_total', {
      reason: 'bad_signature',
    });
    await h.result(meter!, pkg, 7, { signWith: stranger! });
    await eventually(
      async () =>
        (await readMetric(h.service.baseUrl, 'orchestrator_invalid_results_total', {
          reason: 'bad_signature',
        })) ===
        forgedBefore + 1,
      { what: 'the forged result to be counted' },
    );
    // Treated as not received: not acknowledged, the swap still waits for its result.
    expect(h.acknowledged(id)).not.toContain(7);
    expect(h.swapRecords(id).map((r) => r.state)).toEqual(['requested', 'dispatched']);

    await h.result(meter!, pkg, 8);
    await h.traffic(
      meter!,
      pkg.psmoList[0]!.op === 'enable' ? pkg.psmoList[0]!.iccid : '',
      h.carriers.b,
    );
    await eventually(() => h.swapRecords(id).some((r) => r.state === 'completed'), {
      what: 'the swap to complete',
    });
    const dupBefore = await readMetric(h.service.baseUrl, 'orchestrator_duplicate_results_total');
    const acksBefore = h.acknowledged(id).filter((n) => n === 8).length;
    await h.result(meter!, pkg, 8); // the same result again (retransmission or replay)
    await eventually(
      async () =>
        (await readMetric(h.service.baseUrl, 'orchestrator_duplicate_results_total')) ===
        dupBefore + 1,
      { what: 'the replay to be counted' },
    );
    await eventually(() => h.acknowledged(id).filter((n) => n === 8).length === acksBefore + 1, {
      what: 'the replay acknowledged again (so the meter stops retransmitting)',
    });
    expect(h.swapRecords(id).map((r) => r.state)).toEqual(['requested', 'dispatched', 'completed']);
    const history = await h.api('GET', `/v1/meters/${id}/swaps`, undefined, 'viewer');
    expect(history.body.swaps).toEqual([
      expect.objectContaining({ swapId: body.swapId, state: 'completed' }),
    ]);
  });

  it('reconciles a meter that fell back on its own and sends it no contradicting swap', async () => {
    const [meter] = await h.meters(1);
    const id = meter!.line.meterId;
    const [a, b] = meter!.line.profiles;
    // A swap to b is pending when the meter falls back to b by itself.
    const { body } = await h.api(
      'POST',
      `/v1/meters/${id}/swaps`,
      { targetCarrierId: h.carriers.b },
      'operator',
    );
    await eventually(() => h.packages(id)[0], { what: 'the enable package' });
    await h.esipa(meter!, {
      type: 'getEimPackage',
      eid: meter!.line.eid,
      notifyStateChange: true,
      stateChangeCause: 'fallback',
    });
    await eventually(() => h.outbound(id).some((m) => m.type === 'noEimPackageAvailable'), {
      what: 'the fallback poll answered without a package',
    });
    await h.esipa(meter!, {
      type: 'notifications',
      eid: meter!.line.eid,
      notifications: [
        { seqNumber: 90, event: 'fallback', iccid: b!.iccid, at: new Date().toISOString() },
      ],
    });
    await eventually(() => h.swapRecords(id).some((r) => r.trigger === 'device-fallback'), {
      what: 'the device-fallback record',
    });
    expect(h.acknowledged(id)).toContain(90);
    const records = h.swapRecords(id);
    expect(
      records.filter((r) => r.swapId === body.swapId).map((r) => [r.state, r.reasonCode]),
    ).toEqual([
      ['requested', undefined],
      ['dispatched', undefined],
      ['cancelled', 'device_fallback_reached_target'],
    ]);
    expect(records.find((r) => r.trigger === 'device-fallback')).toMatchObject({
      state: 'completed',
      fromIccid: a!.iccid,
      toIccid: b!.iccid,
      toCarrierId: h.carriers.b,
    });
    // The notification again (not yet acknowledged by the meter's count): nothing new.
    await h.esipa(meter!, {
      type: 'notifications',
      eid: meter!.line.eid,
      notifications: [
        { seqNumber: 90, event: 'fallback', iccid: b!.iccid, at: new Date().toISOString() },
      ],
    });
    await eventually(() => h.acknowledged(id).filter((n) => n === 90).length === 2, {
      what: 'the retransmission acknowledged',
    });
    // Coverage trouble on the profile it fell back to: no swap back to a (cooldown, anti-flap).
    const cooldownBefore = await readMetric(
      h.service.baseUrl,
      'orchestrator_swap_decisions_total',
      {
        outcome: 'cooldown',
      },
    );
    await h.coverage(
      {
        type: 'meter.degraded',
        carrierId: h.carriers.b,
        region: h.region,
        meterId: id,
        reason: 'signal_below_threshold',
      },
      id,
    );
    await eventually(
      async () =>
        (await readMetric(h.service.baseUrl, 'orchestrator_swap_decisions_total', {
          outcome: 'cooldown',
        })) ===
        cooldownBefore + 1,
      { what: 'the degradation to be judged (cooldown)' },
    );
    expect(h.swapRecords(id)).toHaveLength(records.length);
    expect(h.packages(id)).toHaveLength(1);
  });
});
