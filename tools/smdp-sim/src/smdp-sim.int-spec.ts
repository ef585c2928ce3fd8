import {
  ES2_PATHS,
  ES9_PATHS,
  activationCode,
  confirmOrderResponseSchema,
  downloadOrderResponseSchema,
  parseActivationCode,
} from '@meterlink/contracts';
import { SmdpSimProcess, eventually } from '@meterlink/testing';

/** The simulator as a process, over HTTP, as the orchestrator and the meter simulator use it. */
describe('smdp-sim process', () => {
  const smdp = new SmdpSimProcess(5290, { SMDP_ORDER_TTL_S: '2' }, 'smdp-sim-int');
  const EID = '89049032000001000000000000000017';

  const post = async (carrierId: string, path: string, body: unknown) => {
    const res = await fetch(`${smdp.baseUrl(carrierId)}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: await res.json(),
    };
  };
  const header = (functionCallIdentifier: string) => ({
    functionRequesterIdentifier: 'meterlink-eim-1',
    functionCallIdentifier,
  });

  beforeAll(() => smdp.start());
  afterAll(async () => {
    expect(await smdp.stop()).toBe(0);
  });

  it('serves the order, confirmation and download of a profile, idempotently', async () => {
    const order = await post('carrier-b', ES2_PATHS.downloadOrder, {
      header: header('o-1'),
      eid: EID,
    });
    expect(order.status).toBe(200);
    const { iccid } = downloadOrderResponseSchema.parse(order.body);
    expect(iccid).toMatch(/^8944\d{15}$/);
    const again = await post('carrier-b', ES2_PATHS.downloadOrder, {
      header: header('o-1'),
      eid: EID,
    });
    expect(again.body).toEqual(order.body);

    const confirmed = await post('carrier-b', ES2_PATHS.confirmOrder, {
      header: header('c-1'),
      iccid,
      eid: EID,
      releaseFlag: true,
    });
    const { matchingId, smdpAddress } = confirmOrderResponseSchema.parse(confirmed.body);
    const code = activationCode(smdpAddress!, matchingId!);
    expect(parseActivationCode(code)).toEqual({
      smdpAddress: 'smdp.carrier-b.example',
      matchingId,
    });

    const download = await post('carrier-b', ES9_PATHS.downloadProfile, { eid: EID, matchingId });
    expect(download).toMatchObject({ status: 200, body: { iccid } });
    expect(await smdp.stats('carrier-b')).toMatchObject({
      orders: 1,
      confirmations: 1,
      downloads: 1,
      replays: 1,
    });
  });

  it('answers malformed requests with 400 and a reason, unknown paths with 404', async () => {
    const bad = await post('carrier-b', ES2_PATHS.downloadOrder, {
      header: header('x'),
      eid: '12',
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ reason: 'invalidRequest' });
    const res = await fetch(`${smdp.baseUrl('carrier-b')}/gsma/rsp2/es2plus/nothing`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(404);
    const notJson = await fetch(`${smdp.baseUrl('carrier-b')}${ES2_PATHS.confirmOrder}`, {
      method: 'POST',
      body: '{"header":',
    });
    expect(notJson.status).toBe(400);
  });

  it('applies the configured failures, refusals, capacity and latency per carrier', async () => {
    await smdp.configure('carrier-c', {
      failRate: { confirmOrder: 1 },
      refuse: 'noEligibleProfile',
      capacityPerMin: 1,
      latencyMs: 150,
    });
    const started = Date.now();
    const first = await post('carrier-c', ES2_PATHS.downloadOrder, {
      header: header('o-1'),
      eid: EID,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    const { iccid } = downloadOrderResponseSchema.parse(first.body);
    const second = await post('carrier-c', ES2_PATHS.downloadOrder, {
      header: header('o-2'),
      eid: EID,
    });
    expect(second.status).toBe(503);
    expect(Number(second.retryAfter)).toBeGreaterThan(0);
    const confirm = await post('carrier-c', ES2_PATHS.confirmOrder, {
      header: header('c-1'),
      iccid,
      eid: EID,
      releaseFlag: true,
    });
    expect(confirm.status).toBe(503);
    const refused = await post('carrier-c', ES9_PATHS.downloadProfile, {
      eid: EID,
      matchingId: 'MID-ANY',
    });
    expect(refused).toMatchObject({ status: 409, body: { reason: 'noEligibleProfile' } });
    // carrier-b is unaffected.
    const other = await post('carrier-b', ES2_PATHS.downloadOrder, {
      header: header('o-9'),
      eid: EID,
    });
    expect(other.status).toBe(200);

    const { total, carriers } = await smdp.allStats();
    expect(carriers.map((c) => c.carrierId)).toEqual(['carrier-b', 'carrier-c']);
    expect(total.failures).toMatchObject({ capacity: 1, injected: 1, refused: 1 });
  });

  it('expires orders after SMDP_ORDER_TTL_S', async () => {
    const order = await post('carrier-d', ES2_PATHS.downloadOrder, {
      header: header('o-1'),
      eid: EID,
    });
    const { iccid } = downloadOrderResponseSchema.parse(order.body);
    const confirmed = await post('carrier-d', ES2_PATHS.confirmOrder, {
      header: header('c-1'),
      iccid,
      eid: EID,
      releaseFlag: true,
    });
    const { matchingId } = confirmOrderResponseSchema.parse(confirmed.body);
    expect((await smdp.stats('carrier-d')).openOrders).toBe(1);
    // Past the 2 s TTL (no timer to await: expiry is judged when asked).
    await eventually(async () => (await smdp.stats('carrier-d')).openOrders === 0, {
      timeoutMs: 5_000,
      what: 'the order to expire',
    });
    const download = await post('carrier-d', ES9_PATHS.downloadProfile, { eid: EID, matchingId });
    expect(download).toMatchObject({ status: 409, body: { reason: 'downloadOrderExpired' } });
  });
});
