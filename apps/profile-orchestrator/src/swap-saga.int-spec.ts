import { randomUUID } from 'node:crypto';
import { createPool } from '@meterlink/postgres';
import { eventually, readMetric, testMeters } from '@meterlink/testing';
import { OrchestratorHarness } from './test-support/orchestrator-harness';

/**
 * The swap saga over the real Kafka and PostgreSQL: the orchestrator as a process, an SM-DP+
 * double for ES2+, and the meter played by the test on esipa.inbound.v1 / esipa.outbound.v1.
 */
describe('profile-orchestrator swap saga', () => {
  // A short grace after the meter's rollback window, so that a package can expire within a test.
  const GRACE_S = 3;
  const h = new OrchestratorHarness(5101, 5190, { SWAP_GRACE_S: String(GRACE_S) });
  const metric = (name: string, labels: Record<string, string> = {}) =>
    readMetric(h.service.baseUrl, name, labels);

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
    const [, smdpAddress, matchingId] = trigger.activationCode.split('$');
    expect(smdpAddress).toBe(`smdp.${h.carriers.d}.example`);
    expect(await h.smdp.stats(h.carriers.d)).toMatchObject({ orders: 1, confirmations: 1 });
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
    // The meter's IPA downloads with the activation code, and reports the profile installed.
    const downloaded = await h.download(h.carriers.d, meter!.line.eid, matchingId!);
    if (!('iccid' in downloaded)) throw new Error(`download refused: ${downloaded.reason}`);
    const order = { iccid: downloaded.iccid };
    await h.esipa(meter!, {
      type: 'profileDownloadResult',
      eimTransactionId: trigger.eimTransactionId,
      seqNumber: 41,
      iccid: order.iccid,
      result: 'installed',
    });
    const pkg = await eventually(() => h.packages(id)[0], { what: 'the enable package' });
    expect(h.acknowledged(id)).toContain(41);
    expect(pkg.psmoList).toEqual([{ op: 'enable', iccid: order.iccid, rollback: true }]);
    expect(pkg.eid).toBe(meter!.line.eid);

    await h.result(meter!, pkg, 42);
    await h.traffic(meter!, order.iccid, h.carriers.d);
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
      toIccid: order.iccid,
      toCarrierId: h.carriers.d,
      needsDownload: true,
    });

    // History, audit: who asked, ICCIDs before and after, the result.
    const history = await h.api('GET', `/v1/meters/${id}/swaps`, undefined, 'viewer');
    expect(history.body.swaps).toEqual([
      expect.objectContaining({ swapId, state: 'completed', toIccid: order.iccid }),
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
      toIccid: order.iccid,
      requestedBy: 'token-2',
    });
    expect((await h.api('GET', `/v1/audit?meterId=${id}`, undefined, 'operator')).status).toBe(403);

    // A second swap to a carrier the meter is on is refused.
    expect(
      (await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: h.carriers.d }, 'operator'))
        .status,
    ).toBe(409);
  });

  it('publishes the current and the next eIM key, and signs packages with the current one', async () => {
    const res = await fetch(`${h.service.baseUrl}/eim/jwks.json`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: { kid: string; d?: string }[] };
    expect(keys).toHaveLength(2);
    expect(keys[0]!.kid).not.toBe(keys[1]!.kid);
    expect(keys.some((k) => 'd' in k)).toBe(false);
    const [meter] = await h.meters(1);
    const id = meter!.line.meterId;
    await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: h.carriers.b }, 'operator');
    const pkg = await eventually(() => h.outbound(id).find((m) => m.type === 'eimPackage'), {
      what: 'the enable package',
    });
    if (pkg.type !== 'eimPackage') throw new Error('unreachable');
    const header = JSON.parse(Buffer.from(pkg.jws.split('.')[0]!, 'base64url').toString()) as {
      kid: string;
    };
    expect(header.kid).toBe(keys[0]!.kid);
  });

  it('retries a transient SM-DP+ failure from its stored next attempt', async () => {
    const [meter] = await h.meters(1, { downloadOnly: true });
    const id = meter!.line.meterId;
    const carrier = h.carriers.d;
    await h.smdp.configure(carrier, { failRate: { downloadOrder: 1 } }); // 503 every time
    try {
      const before = (await h.smdp.stats(carrier)).failures.injected ?? 0;
      await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: carrier }, 'operator');
      await eventually(
        async () => ((await h.smdp.stats(carrier)).failures.injected ?? 0) >= before + 2,
        { what: 'two failed attempts' },
      );
      expect(h.outbound(id)).toEqual([]);
      expect(h.swapRecords(id)).toEqual([]); // no public record before the SM-DP+ named the ICCID
    } finally {
      await h.smdp.configure(carrier, {});
    }
    await eventually(() => h.outbound(id).some((m) => m.type === 'profileDownloadTrigger'), {
      what: 'the trigger once the SM-DP+ is back',
    });
    expect(h.swapRecords(id).map((r) => r.state)).toEqual(['requested']);
  });

  it('fails the swap with the download refusal code and releases the order', async () => {
    const [meter] = await h.meters(1, { downloadOnly: true });
    const id = meter!.line.meterId;
    const carrier = h.carriers.d;
    await h.smdp.configure(carrier, { refuse: 'noEligibleProfile' });
    try {
      const cancelledBefore = (await h.smdp.stats(carrier)).cancellations;
      const { body } = await h.api(
        'POST',
        `/v1/meters/${id}/swaps`,
        { targetCarrierId: carrier },
        'operator',
      );
      const trigger = await eventually(
        () => h.outbound(id).find((m) => m.type === 'profileDownloadTrigger'),
        { what: 'a profileDownloadTrigger' },
      );
      if (trigger.type !== 'profileDownloadTrigger') throw new Error('unreachable');
      const answer = await h.download(
        carrier,
        meter!.line.eid,
        trigger.activationCode.split('$')[2]!,
      );
      expect(answer).toEqual({ reason: 'noEligibleProfile' });
      await h.esipa(meter!, {
        type: 'profileDownloadResult',
        eimTransactionId: trigger.eimTransactionId,
        seqNumber: 3,
        result: 'noEligibleProfile',
      });
      await eventually(() => h.swapRecords(id).some((r) => r.state === 'failed'), {
        what: 'the swap to fail',
      });
      expect(h.swapRecords(id).map((r) => [r.swapId, r.state, r.reasonCode])).toEqual([
        [body.swapId, 'requested', undefined],
        [body.swapId, 'failed', 'noEligibleProfile'],
      ]);
      expect(h.acknowledged(id)).toContain(3);
      expect(h.packages(id)).toEqual([]);
      await eventually(
        async () => (await h.smdp.stats(carrier)).cancellations === cancelledBefore + 1,
        { what: 'cancelOrder at the SM-DP+' },
      );
    } finally {
      await h.smdp.configure(carrier, {});
    }
  });

  it('rejects and counts a forged result, and a replayed one changes nothing', async () => {
    const [meter] = await h.meters(1);
    const [stranger] = testMeters(1);
    const id = meter!.line.meterId;
    const { swapId, pkg } = await h.operatorSwap(id);
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
    expect(history.body.swaps).toEqual([expect.objectContaining({ swapId, state: 'completed' })]);
  });

  it('judges candidate carriers by the coverage monitor’s counts in the region', async () => {
    // It never reports telemetry: no cell is known for it, the region's counts decide.
    const [meter] = await h.meters(1);
    const id = meter!.line.meterId;
    const decided = (outcome: string) =>
      readMetric(h.service.baseUrl, 'orchestrator_swap_decisions_total', { outcome });
    const coverageSeen = (carrierId: string, lost: number) =>
      eventually(
        async () => {
          const { body } = await h.api(
            'GET',
            `/v1/regions/${h.region}/coverage`,
            undefined,
            'viewer',
          );
          const carriers = body.carriers as { carrierId: string; lost: number; fresh: boolean }[];
          return carriers.some((c) => c.carrierId === carrierId && c.lost === lost && c.fresh);
        },
        { what: `the orchestrator to see ${lost} lost meters of ${carrierId}` },
      );
    const degraded = () =>
      h.coverage(
        {
          type: 'meter.degraded',
          carrierId: h.carriers.a,
          region: h.region,
          meterId: id,
          reason: 'signal_below_threshold',
        },
        id,
      );

    // Both other carriers of the region have half their meters lost there: no move.
    await h.carrierStats(h.carriers.a, { meters: 40, degraded: 1 });
    await h.carrierStats(h.carriers.b, { meters: 40, lost: 20 });
    await h.carrierStats(h.carriers.d, { meters: 30, lost: 15, degraded: 3 });
    await coverageSeen(h.carriers.b, 20);
    await coverageSeen(h.carriers.d, 15);
    const poorBefore = await decided('coverage_poor');
    await degraded();
    await eventually(async () => (await decided('coverage_poor')) === poorBefore + 1, {
      what: 'the degradation judged: every candidate’s coverage is poor',
    });
    expect(h.swapRecords(id)).toEqual([]);

    // Carrier b is healthy again in the region: the next degradation moves the meter there.
    await h.carrierStats(h.carriers.b, { meters: 40, lost: 1 });
    await coverageSeen(h.carriers.b, 1);
    await degraded();
    const requested = await eventually(
      () => h.swapRecords(id).find((r) => r.state === 'requested'),
      { what: 'the swap to carrier b' },
    );
    expect(requested).toMatchObject({
      trigger: 'coverage',
      fromCarrierId: h.carriers.a,
      toCarrierId: h.carriers.b,
    });
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
  it('expires the package of a sleepy meter that never polls, once its deadline passed', async () => {
    // A gas meter reporting every 2 s with a 1 s rollback window, never heard of since.
    const [meter] = await h.meters(1, { kind: 'gas', reportIntervalS: 2, rollbackWindowS: 1 });
    const id = meter!.line.meterId;
    const requestedAt = Date.now();
    const { status, body } = await h.api(
      'POST',
      `/v1/meters/${id}/swaps`,
      { targetCarrierId: h.carriers.b },
      'operator',
    );
    expect(status).toBe(202);
    const pkg = await eventually(() => h.packages(id)[0], { what: 'the enable package' });
    const pending = await h.api('GET', `/v1/meters/${id}/pending-packages`, undefined, 'viewer');
    expect(pending.body).toMatchObject({
      sleepy: true,
      packages: [{ type: 'eimPackage', swapId: body.swapId, counterValue: pkg.counterValue }],
    });
    // Its deadline: the next expected poll (one interval) + rollback window + grace.
    const expiresAt = Date.parse((pending.body.packages as { expiresAt: string }[])[0]!.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(requestedAt + (2 + 1 + GRACE_S) * 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + (2 + 1 + GRACE_S) * 1000);

    const expired = await eventually(() => h.swapRecords(id).find((r) => r.state === 'expired'), {
      timeoutMs: 30_000,
      what: 'the swap to expire',
    });
    expect(expired).toMatchObject({ swapId: body.swapId, reasonCode: 'no_result_before_deadline' });
    expect(Date.parse(expired.at)).toBeGreaterThanOrEqual(expiresAt);
    expect(h.swapRecords(id).map((r) => r.state)).toEqual(['requested', 'dispatched', 'expired']);
    expect(
      (await h.api('GET', `/v1/meters/${id}/pending-packages`, undefined, 'viewer')).body.packages,
    ).toEqual([]);
    // Waking up at last, the meter is not given the expired package.
    await h.esipa(meter!, { type: 'getEimPackage', eid: meter!.line.eid });
    await eventually(() => h.outbound(id).some((m) => m.type === 'noEimPackageAvailable'), {
      what: 'the late poll answered',
    });
    expect(h.packages(id)).toHaveLength(1);
  });

  it('follows a meter that ran an expired package after all: the late result moves its inventory', async () => {
    const [meter] = await h.meters(1, { kind: 'gas', reportIntervalS: 2, rollbackWindowS: 1 });
    const id = meter!.line.meterId;
    const { swapId, pkg } = await h.operatorSwap(id);
    await eventually(() => h.swapRecords(id).some((r) => r.state === 'expired'), {
      timeoutMs: 30_000,
      what: 'the swap to expire',
    });
    const target = pkg.psmoList[0]!.op === 'enable' ? pkg.psmoList[0]!.iccid : '';
    // The broker still held the package; the meter ran it and reports success from carrier b.
    await h.result(meter!, pkg, 5);
    const reconciled = await eventually(() => h.swapRecords(id).find((r) => r.swapId !== swapId), {
      what: 'the late result reconciled on the profile timeline',
    });
    expect(reconciled).toMatchObject({
      state: 'completed',
      trigger: 'device-fallback',
      reasonCode: 'late_package_result',
      fromIccid: meter!.line.profiles[0]!.iccid,
      toIccid: target,
      toCarrierId: h.carriers.b,
    });
    expect(h.acknowledged(id)).toContain(5);
    // The eIM now sees the meter on b: a swap to b is refused, and a retransmission changes nothing.
    expect(
      (await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: h.carriers.b }, 'operator'))
        .status,
    ).toBe(409);
    const dupBefore = await readMetric(h.service.baseUrl, 'orchestrator_duplicate_results_total');
    await h.result(meter!, pkg, 5);
    await eventually(
      async () =>
        (await readMetric(h.service.baseUrl, 'orchestrator_duplicate_results_total')) ===
        dupBefore + 1,
      { what: 'the retransmission counted as a duplicate' },
    );
    expect(h.swapRecords(id).filter((r) => r.swapId !== swapId)).toHaveLength(1);
    const audit = await h.api('GET', `/v1/audit?meterId=${id}`);
    expect(
      (audit.body.entries as { action: string; detail: Record<string, unknown> }[]).find(
        (e) => e.action === 'swap.late-result-reconciled',
      )?.detail,
    ).toMatchObject({ lateSwapId: swapId, toIccid: target });
  });

  it('starts one swap for a coverage event delivered twice', async () => {
    const [meter] = await h.meters(1);
    const id = meter!.line.meterId;
    const degraded = {
      eventId: randomUUID(),
      type: 'meter.degraded',
      carrierId: h.carriers.a,
      region: h.region,
      meterId: id,
      reason: 'signal_below_threshold',
    };
    await h.coverage(degraded, id);
    await eventually(() => h.swapRecords(id).some((r) => r.state === 'dispatched'), {
      what: 'the swap the event started',
    });
    const inProgress = await metric('orchestrator_swap_decisions_total', {
      outcome: 'swap_in_progress',
    });
    const leftBefore = await metric('orchestrator_swap_decisions_total', {
      outcome: 'left_to_outage_campaign',
    });
    await h.coverage(degraded, id); // redelivered (same eventId)
    // Then, on the same partition, an event the orchestrator counts without touching the meter:
    // once it is counted, the redelivery before it was handled.
    await h.coverage(
      {
        type: 'meter.lost',
        carrierId: h.carriers.a,
        region: h.region,
        meterId: id,
        outageId: 'o-1',
      },
      id,
    );
    await eventually(
      async () =>
        (await metric('orchestrator_swap_decisions_total', {
          outcome: 'left_to_outage_campaign',
        })) ===
        leftBefore + 1,
      { what: 'the events after the redelivery to be handled' },
    );
    // The redelivery found the swap it had started: not judged again, nothing new.
    expect(await metric('orchestrator_swap_decisions_total', { outcome: 'swap_in_progress' })).toBe(
      inProgress,
    );
    const records = h.swapRecords(id);
    expect(new Set(records.map((r) => r.swapId)).size).toBe(1);
    expect(records.map((r) => r.state)).toEqual(['requested', 'dispatched']);
    expect(h.packages(id)).toHaveLength(1);
    const history = await h.api('GET', `/v1/meters/${id}/swaps`, undefined, 'viewer');
    expect(history.body.swaps).toHaveLength(1);
  });

  it('gives each package of one eUICC a strictly greater counterValue', async () => {
    const [meter] = await h.meters(1);
    const id = meter!.line.meterId;
    const [a, b] = meter!.line.profiles;
    const swapTo = async (carrierId: string, iccid: string, n: number, seqNumber: number) => {
      const { status } = await h.api(
        'POST',
        `/v1/meters/${id}/swaps`,
        { targetCarrierId: carrierId },
        'operator',
      );
      expect(status).toBe(202);
      const pkg = await eventually(() => h.packages(id)[n - 1], { what: `package ${n}` });
      expect(pkg.psmoList).toEqual([{ op: 'enable', iccid, rollback: true }]);
      await h.result(meter!, pkg, seqNumber);
      await h.traffic(meter!, iccid, carrierId);
      await eventually(
        () => h.swapRecords(id).filter((r) => r.state === 'completed').length === n,
        { what: `swap ${n} to complete` },
      );
      return pkg;
    };
    // a → b, then b → a (an operator's swap skips the cooldown), then a → b again.
    const first = await swapTo(h.carriers.b, b!.iccid, 1, 1);
    const second = await swapTo(h.carriers.a, a!.iccid, 2, 2);
    const third = await swapTo(h.carriers.b, b!.iccid, 3, 3);
    expect([first.eid, second.eid, third.eid]).toEqual([
      meter!.line.eid,
      meter!.line.eid,
      meter!.line.eid,
    ]);
    expect(second.counterValue).toBeGreaterThan(first.counterValue);
    expect(third.counterValue).toBeGreaterThan(second.counterValue);
    expect(new Set([first, second, third].map((p) => p.eimTransactionId)).size).toBe(3);
  });

  it('refuses a result of another swap while a swap is dispatched, and leaves that swap as it was', async () => {
    const [meter, other] = await h.meters(2);
    const id = meter!.line.meterId;
    const [a, b] = meter!.line.profiles;
    // Swap X (a → b) completes; swap Y (b → a) is then dispatched.
    await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: h.carriers.b }, 'operator');
    const x = await eventually(() => h.packages(id)[0], { what: 'package X' });
    await h.result(meter!, x, 1);
    await h.traffic(meter!, b!.iccid, h.carriers.b);
    await eventually(() => h.swapRecords(id).some((r) => r.state === 'completed'), {
      what: 'swap X to complete',
    });
    const y = await h.api(
      'POST',
      `/v1/meters/${id}/swaps`,
      { targetCarrierId: h.carriers.a },
      'operator',
    );
    const yPkg = await eventually(() => h.packages(id)[1], { what: 'package Y' });
    // A swap of another meter, whose transaction this meter will name.
    await h.api(
      'POST',
      `/v1/meters/${other!.line.meterId}/swaps`,
      { targetCarrierId: h.carriers.b },
      'operator',
    );
    const foreign = await eventually(() => h.packages(other!.line.meterId)[0], {
      what: 'the other meter’s package',
    });
    const yBefore = h.swapRecords(id).filter((r) => r.swapId === y.body.swapId);
    expect(yBefore.map((r) => r.state)).toEqual(['requested', 'dispatched']);

    const presented: [string, Record<string, string>, typeof x][] = [
      // X's own result again: a retransmission, acknowledged and counted, nothing changes.
      ['orchestrator_duplicate_results_total', { type: 'eimPackageResult' }, x],
      // X's transaction with Y's counter, and Y's transaction with X's counter.
      [
        'orchestrator_invalid_results_total',
        { reason: 'counter_mismatch' },
        { ...x, counterValue: yPkg.counterValue },
      ],
      [
        'orchestrator_invalid_results_total',
        { reason: 'counter_mismatch' },
        { ...yPkg, counterValue: x.counterValue },
      ],
      // Another meter's transaction.
      [
        'orchestrator_invalid_results_total',
        { reason: 'unknown_transaction' },
        { ...yPkg, eimTransactionId: foreign.eimTransactionId, counterValue: foreign.counterValue },
      ],
    ];
    let seqNumber = 10;
    for (const [name, labels, pkg] of presented) {
      const before = await metric(name, labels);
      await h.result(meter!, pkg, ++seqNumber);
      await eventually(async () => (await metric(name, labels)) === before + 1, {
        what: `${name} ${JSON.stringify(labels)} to count the result`,
      });
      const pending = await h.api('GET', `/v1/meters/${id}/pending-packages`, undefined, 'viewer');
      expect(pending.body.packages).toEqual([
        expect.objectContaining({
          swapId: y.body.swapId,
          eimTransactionId: yPkg.eimTransactionId,
          counterValue: yPkg.counterValue,
        }),
      ]);
    }
    const history = await h.api('GET', `/v1/meters/${id}/swaps`, undefined, 'viewer');
    expect(
      (history.body.swaps as { swapId: string; state: string }[]).find(
        (s) => s.swapId === y.body.swapId,
      ),
    ).toMatchObject({ state: 'dispatched' });
    expect(h.swapRecords(id).filter((r) => r.swapId === y.body.swapId)).toEqual(yBefore);

    // Y's own result still settles Y.
    await h.result(meter!, yPkg, ++seqNumber);
    await h.traffic(meter!, a!.iccid, h.carriers.a);
    await eventually(
      () => h.swapRecords(id).some((r) => r.swapId === y.body.swapId && r.state === 'completed'),
      { what: 'swap Y to complete' },
    );
  });
  it('keeps the audit log append-only: the service’s role can neither change it nor lift its triggers', async () => {
    const [meter] = await h.meters(1);
    const id = meter!.line.meterId;
    await h.api('POST', `/v1/meters/${id}/swaps`, { targetCarrierId: h.carriers.b }, 'operator');
    await eventually(() => h.packages(id)[0], { what: 'the swap’s first audit entries' });
    // DATABASE_URL is the role the orchestrator runs as; its schema's owner migrated it.
    const pool = createPool(h.infra.DATABASE_URL, 'int-orch-audit', 1);
    const owner = createPool(h.ownerUrl, 'int-orch-audit-owner', 1);
    const entries = async () =>
      (
        await pool.query<{ entries: unknown }>(
          `SELECT json_agg(a ORDER BY audit_id) AS entries FROM orchestrator.audit_log a WHERE meter_id = $1`,
          [id],
        )
      ).rows[0]!.entries;
    try {
      const before = await entries();
      expect(before).toEqual(
        expect.arrayContaining([expect.objectContaining({ action: 'swap.dispatched' })]),
      );
      const changes = [
        `UPDATE orchestrator.audit_log SET actor = 'someone else' WHERE meter_id = '${id}'`,
        `DELETE FROM orchestrator.audit_log WHERE meter_id = '${id}'`,
        'TRUNCATE orchestrator.audit_log',
      ];
      // Refused outright, not silently ignored.
      for (const change of changes)
        await expect(pool.query(change)).rejects.toThrow(/permission denied for table audit_log/);
      // Nor is it the owner, the only one (but a superuser) who may drop or disable a trigger,
      // alter the table or grant rights on it.
      for (const lift of [
        'ALTER TABLE orchestrator.audit_log DISABLE TRIGGER audit_log_no_change',
        'DROP TRIGGER audit_log_no_change ON orchestrator.audit_log',
        'DROP TRIGGER audit_log_no_truncate ON orchestrator.audit_log',
        'ALTER TABLE orchestrator.audit_log ADD COLUMN note text',
        'ALTER TABLE orchestrator.audit_log OWNER TO CURRENT_USER',
        'DROP TABLE orchestrator.audit_log',
      ])
        await expect(pool.query(lift)).rejects.toThrow(
          /must be owner of (table|relation) audit_log/,
        );
      await expect(
        pool.query(
          'CREATE OR REPLACE FUNCTION orchestrator.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$',
        ),
      ).rejects.toThrow(
        /must be owner of function audit_log_append_only|permission denied for schema orchestrator/,
      );
      // A grant from a role that holds no grant option gives nothing.
      await pool.query('GRANT UPDATE, DELETE, TRUNCATE ON orchestrator.audit_log TO CURRENT_USER');
      const { rows: rights } = await pool.query<Record<string, boolean>>(
        `SELECT ${['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER']
          .map((p) => `has_table_privilege('orchestrator.audit_log', '${p}') AS "${p}"`)
          .join(', ')}`,
      );
      expect(rights[0]).toEqual({
        SELECT: true,
        INSERT: true,
        UPDATE: false,
        DELETE: false,
        TRUNCATE: false,
        TRIGGER: false,
      });
      // The owner, who may grant itself every right, still meets the triggers.
      const client = await owner.connect();
      try {
        for (const change of changes) {
          await client.query('BEGIN');
          await client.query(
            'GRANT UPDATE, DELETE, TRUNCATE ON orchestrator.audit_log TO CURRENT_USER',
          );
          await expect(client.query(change)).rejects.toThrow(/audit_log is append-only/);
          await client.query('ROLLBACK');
        }
      } finally {
        client.release();
      }
      expect(await entries()).toEqual(before);
    } finally {
      await pool.end();
      await owner.end();
    }
  });
});
