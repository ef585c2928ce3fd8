import {
  confirmOrderResponseSchema,
  downloadOrderResponseSchema,
  isLuhnValid,
  type Es2ResponseHeader,
} from '@meterlink/contracts';
import { SmdpSimulator, issuerCodeFor, type SmdpAnswer } from './smdp-simulator';

const EID = '89049032000001000000000000000017';
const OTHER_EID = '89049032000001000000000000000025';

const header = (functionCallIdentifier: string) => ({
  functionRequesterIdentifier: 'meterlink-eim-1',
  functionCallIdentifier,
});

const status = (answer: SmdpAnswer): Es2ResponseHeader['functionExecutionStatus'] =>
  (answer.body as { header: Es2ResponseHeader }).header.functionExecutionStatus;

function setup(options: { ttlS?: number; random?: () => number } = {}) {
  let now = Date.UTC(2026, 10, 25, 3, 0, 0);
  const sim = new SmdpSimulator({
    orderTtlS: options.ttlS ?? 3600,
    now: () => now,
    random: options.random ?? (() => 0.5),
    iccidSerialBase: 600_000_000_000,
  });
  const advance = (ms: number): void => {
    now += ms;
  };
  const order = (carrierId = 'carrier-b', id = 'dl-1', eid = EID): string => {
    const answer = sim.downloadOrder(carrierId, { header: header(id), eid });
    const body = downloadOrderResponseSchema.parse(answer.body);
    if (!body.iccid) throw new Error(`downloadOrder failed: ${JSON.stringify(answer.body)}`);
    return body.iccid;
  };
  const confirm = (iccid: string, carrierId = 'carrier-b', id = 'cf-1', eid = EID) =>
    sim.confirmOrder(carrierId, { header: header(id), iccid, eid, releaseFlag: true });
  const matchingIdOf = (answer: SmdpAnswer): string => {
    const body = confirmOrderResponseSchema.parse(answer.body);
    if (!body.matchingId) throw new Error(`confirmOrder failed: ${JSON.stringify(answer.body)}`);
    return body.matchingId;
  };
  return { sim, advance, order, confirm, matchingIdOf };
}

describe('SmdpSimulator', () => {
  it('takes an order through download: ICCID of the carrier, activation code, profile for that EID', () => {
    const { sim, order, confirm, matchingIdOf } = setup();
    const iccid = order();
    expect(isLuhnValid(iccid)).toBe(true);
    expect(iccid.slice(4, 6)).toBe(String(issuerCodeFor('carrier-b')));

    const confirmed = confirm(iccid);
    expect(status(confirmed).status).toBe('Executed-Success');
    expect(confirmed.body).toMatchObject({ smdpAddress: 'smdp.carrier-b.example' });
    const matchingId = matchingIdOf(confirmed);

    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId })).toEqual({
      status: 200,
      body: { iccid },
    });
    expect(sim.stats('carrier-b')).toMatchObject({
      carrierId: 'carrier-b',
      orders: 1,
      confirmations: 1,
      downloads: 1,
      openOrders: 0,
    });
  });

  it('gives the same answer to the same functionCallIdentifier and a new one to a new id', () => {
    const { sim, order } = setup();
    const first = order('carrier-b', 'swap-1');
    expect(order('carrier-b', 'swap-1')).toBe(first);
    expect(order('carrier-b', 'swap-2')).not.toBe(first);
    expect(sim.stats('carrier-b')).toMatchObject({ orders: 2, replays: 1 });
  });

  it('keeps each carrier apart: orders, ICCIDs and identifiers', () => {
    const { sim, order, confirm } = setup();
    const b = order('carrier-b', 'same-id');
    const c = order('carrier-c', 'same-id');
    expect(b).not.toBe(c);
    expect(status(confirm(b, 'carrier-c')).statusCodeData).toMatchObject({
      subjectCode: '8.2.1',
      reasonCode: '3.9',
    });
    expect(sim.stats('carrier-b').orders).toBe(1);
    expect(sim.stats('carrier-c').orders).toBe(1);
    expect(sim.allStats().total.orders).toBe(2);
  });

  it('refuses to confirm an order for another EID, twice, or after it was cancelled', () => {
    const { sim, order, confirm } = setup();
    const iccid = order();
    expect(status(confirm(iccid, 'carrier-b', 'cf-x', OTHER_EID)).statusCodeData).toMatchObject({
      subjectCode: '8.1.1',
      reasonCode: '3.10',
    });
    expect(status(confirm(iccid, 'carrier-b', 'cf-1')).status).toBe('Executed-Success');
    expect(status(confirm(iccid, 'carrier-b', 'cf-2')).statusCodeData).toMatchObject({
      reasonCode: '3.3',
    });

    const other = order('carrier-b', 'dl-2');
    expect(
      status(
        sim.cancelOrder('carrier-b', {
          header: header('cn-1'),
          iccid: other,
          eid: EID,
          finalProfileStatusIndicator: 'Available',
        }),
      ).status,
    ).toBe('Executed-Success');
    expect(status(confirm(other, 'carrier-b', 'cf-3')).statusCodeData).toMatchObject({
      reasonCode: '3.5',
    });
    expect(sim.stats('carrier-b')).toMatchObject({
      cancellations: 1,
      failures: { confirmOrder: 3 },
    });
  });

  it('cancels a released order: its matching id is refused afterwards', () => {
    const { sim, order, confirm, matchingIdOf } = setup();
    const iccid = order();
    const matchingId = matchingIdOf(confirm(iccid));
    const cancel = sim.cancelOrder('carrier-b', {
      header: header('cn-1'),
      iccid,
      eid: EID,
      matchingId,
      finalProfileStatusIndicator: 'Unavailable',
    });
    expect(status(cancel).status).toBe('Executed-Success');
    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId })).toEqual({
      status: 409,
      body: { reason: 'matchingIdRefused' },
    });
  });

  it('does not cancel a profile already downloaded, nor with a wrong matching id', () => {
    const { sim, order, confirm, matchingIdOf } = setup();
    const iccid = order();
    const matchingId = matchingIdOf(confirm(iccid));
    const cancel = (id: string, mid: string) =>
      status(
        sim.cancelOrder('carrier-b', {
          header: header(id),
          iccid,
          eid: EID,
          matchingId: mid,
          finalProfileStatusIndicator: 'Available',
        }),
      );
    expect(cancel('cn-0', 'MID-WRONG').statusCodeData).toMatchObject({
      subjectCode: '8.2.6',
      reasonCode: '3.10',
    });
    sim.downloadProfile('carrier-b', { eid: EID, matchingId });
    expect(cancel('cn-1', matchingId).statusCodeData).toMatchObject({ reasonCode: '3.5' });
  });

  it('refuses a download by another EID or with an unknown matching id', () => {
    const { sim, order, confirm, matchingIdOf } = setup();
    const matchingId = matchingIdOf(confirm(order()));
    expect(sim.downloadProfile('carrier-b', { eid: OTHER_EID, matchingId }).body).toEqual({
      reason: 'matchingIdRefused',
    });
    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId: 'MID-NOPE' }).body).toEqual({
      reason: 'matchingIdRefused',
    });
    expect(sim.stats('carrier-b').failures).toMatchObject({ downloadProfile: 2, refused: 2 });
  });

  it('answers the same profile when the device downloads again (a lost answer)', () => {
    const { sim, order, confirm, matchingIdOf } = setup();
    const iccid = order();
    const matchingId = matchingIdOf(confirm(iccid));
    sim.downloadProfile('carrier-b', { eid: EID, matchingId });
    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId }).body).toEqual({ iccid });
    expect(sim.stats('carrier-b')).toMatchObject({ downloads: 1, replays: 1 });
  });

  it('expires orders after the TTL: confirmation and download are refused', () => {
    const { sim, advance, order, confirm, matchingIdOf } = setup({ ttlS: 60 });
    const late = order('carrier-b', 'dl-late');
    const released = order('carrier-b', 'dl-released');
    const matchingId = matchingIdOf(confirm(released, 'carrier-b', 'cf-released'));
    expect(sim.stats('carrier-b').openOrders).toBe(2);
    advance(59_999);
    expect(sim.stats('carrier-b').openOrders).toBe(2);
    advance(1);
    expect(status(confirm(late, 'carrier-b', 'cf-late')).statusCodeData).toMatchObject({
      subjectCode: '8.8.5',
      reasonCode: '4.10',
    });
    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId })).toEqual({
      status: 409,
      body: { reason: 'downloadOrderExpired' },
    });
    expect(sim.stats('carrier-b')).toMatchObject({ openOrders: 0, failures: { expired: 2 } });
  });

  it('refuses every download with the configured reason', () => {
    const { sim, order, confirm, matchingIdOf } = setup();
    const matchingId = matchingIdOf(confirm(order()));
    sim.configure('carrier-b', { refuse: 'noEligibleProfile' });
    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId })).toEqual({
      status: 409,
      body: { reason: 'noEligibleProfile' },
    });
    sim.configure('carrier-b', {});
    expect(sim.downloadProfile('carrier-b', { eid: EID, matchingId }).status).toBe(200);
  });

  it('injects transient failures at the configured rate, never kept as the answer for that id', () => {
    const draws = [0.1, 0.9];
    const { sim, order } = setup({ random: () => draws.shift() ?? 0.9 });
    sim.configure('carrier-b', { failRate: { downloadOrder: 0.5 } });
    const first = sim.downloadOrder('carrier-b', { header: header('dl-1'), eid: EID });
    expect(first).toMatchObject({ status: 503, retryAfterS: 1 });
    // The retry with the same id is executed, not answered 503 again.
    expect(order('carrier-b', 'dl-1')).toMatch(/^8944/);
    expect(sim.stats('carrier-b')).toMatchObject({
      orders: 1,
      failures: { downloadOrder: 1, injected: 1 },
    });
  });

  it('injects final failures in failed mode: the same id keeps that answer', () => {
    const draws = [0.1];
    const { sim } = setup({ random: () => draws.shift() ?? 0.9 });
    sim.configure('carrier-b', { failRate: { downloadOrder: 0.5 }, failMode: 'failed' });
    const first = sim.downloadOrder('carrier-b', { header: header('dl-1'), eid: EID });
    expect(status(first)).toMatchObject({
      status: 'Failed',
      statusCodeData: { reasonCode: '4.2' },
    });
    expect(sim.downloadOrder('carrier-b', { header: header('dl-1'), eid: EID })).toEqual(first);
  });

  it('accepts at most capacityPerMin new orders in any minute; replays do not count', () => {
    const { sim, advance, order } = setup();
    sim.configure('carrier-b', { capacityPerMin: 2 });
    order('carrier-b', 'a');
    advance(10_000);
    order('carrier-b', 'b');
    expect(order('carrier-b', 'a')).toBeDefined();
    const over = sim.downloadOrder('carrier-b', { header: header('c'), eid: EID });
    expect(over).toMatchObject({ status: 503, body: { reason: 'capacityExceeded' } });
    expect(over.retryAfterS).toBe(50);
    advance(50_000);
    expect(order('carrier-b', 'c')).toMatch(/^8944/);
    expect(sim.stats('carrier-b')).toMatchObject({
      orders: 3,
      replays: 1,
      failures: { capacity: 1 },
    });
  });

  it('answers the configured SM-DP+ address, and forgets everything on reset', () => {
    const { sim, order, confirm } = setup();
    sim.configure('carrier-b', { smdpAddress: 'rsp.carrier-b.test', latencyMs: 20 });
    expect(confirm(order()).body).toMatchObject({ smdpAddress: 'rsp.carrier-b.test' });
    expect(sim.latencyMs('carrier-b')).toBe(20);
    sim.reset('carrier-b');
    expect(sim.stats('carrier-b')).toMatchObject({ orders: 0, confirmations: 0 });
    expect(sim.config('carrier-b')).toEqual({});
    expect(sim.latencyMs('carrier-b')).toBe(0);
  });
});
