import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Admin, Kafka } from 'kafkajs';
import { createKafka, ensureTopics } from '@meterlink/kafka';
import {
  TOPICS,
  billingChargeRecordSchema,
  type BillingChargeRecord,
  type TopicDefinition,
} from '@meterlink/contracts';
import { createPool, type Pool } from '@meterlink/postgres';
import {
  REPO_ROOT,
  ServiceProcess,
  TopicRecorder,
  endOffsets,
  eventually,
  infraEnv,
  type TopicOffsets,
} from '@meterlink/testing';
import {
  carrierRecords,
  connectivityRecord,
  fixtureMeters,
  hourlyReadings,
  readingRecord,
  meterRecord,
  produce,
  registerValue,
  runTag,
  INPUT_TOPICS,
  swapRecords,
  type FixtureMeter,
} from './test-support/billing-fixtures';

const run = promisify(execFile);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Statement = {
  status: string;
  lines: {
    chargeId: string;
    period: string;
    servicePeriod: string;
    type: string;
    meterId: string;
    carrierId: string | null;
    band: string | null;
    quantity: number;
    amountMinor: number;
    estimated: boolean;
    correctionOf: string | null;
    revision: number;
  }[];
  totalMinor: Record<string, number>;
};
type AuditEntry = {
  chargeId: string;
  action: string;
  oldAmountMinor: number | null;
  newAmountMinor: number;
  reason: string;
};
type Input = { topic: TopicDefinition; key: string; value: object };

describe('billing over Kafka and PostgreSQL', () => {
  const infra = infraEnv();
  const token = randomBytes(16).toString('hex');
  // A copy of config/tariffs.json that a test fixes (adds a tariff to) before a restart.
  const tariffsFile = join(tmpdir(), `int-billing-tariffs-${randomBytes(4).toString('hex')}.json`);
  const env = {
    ...infra,
    BILLING_TARIFFS_FILE: tariffsFile,
    LOG_LEVEL: 'info',
    BILLING_API_TOKENS: `${token}:admin`,
    BILLING_RATING_QUIET_MS: '300',
    BILLING_RATING_MAX_DELAY_MS: '5000',
  };
  let billing = new ServiceProcess('billing', 5301, env, 'int-billing');
  const kafka = createKafka({ brokers: infra.KAFKA_BROKERS.split(','), clientId: 'int-billing' });
  const producer = kafka.producer();
  const pool = createPool(infra.DATABASE_URL, 'int-billing', 2);
  const recorder = new TopicRecorder(kafka, [TOPICS.billingCharges.name]);
  let recorderStart: TopicOffsets = new Map();
  /** The recorder has read billing.charges.v1 up to its current end. */
  const recorderCaughtUp = async (): Promise<void> => {
    const name = TOPICS.billingCharges.name;
    const ends = (await endOffsets(kafka, [name])).get(name) ?? [];
    const starts = recorderStart.get(name) ?? [];
    await eventually(
      () =>
        ends.every((e) => {
          const from = starts.find((s) => s.partition === e.partition)?.offset ?? '0';
          return (
            BigInt(e.offset) <= BigInt(from) ||
            recorder.messages.some(
              (m) =>
                m.topic === name &&
                m.partition === e.partition &&
                BigInt(m.offset) >= BigInt(e.offset) - 1n,
            )
          );
        }),
      { timeoutMs: 30_000, what: 'the test recorder to read billing.charges.v1 to its end' },
    );
  };
  const tag = runTag();
  const periods: string[] = [];
  let period = '';
  let monthStart = 0;
  let monthEnd = 0;
  const useMonth = (p: string): void => {
    period = p;
    monthStart = Date.UTC(Number(p.slice(0, 4)), Number(p.slice(5, 7)) - 1, 1);
    monthEnd = Date.UTC(Number(p.slice(0, 4)), Number(p.slice(5, 7)), 1);
  };

  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${billing.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) throw new Error(`GET ${path} → ${res.status}: ${await res.text()}`);
    return (await res.json()) as T;
  };

  beforeAll(async () => {
    writeFileSync(tariffsFile, readFileSync(join(REPO_ROOT, 'config', 'tariffs.json')));
    await ensureTopics(kafka);
    await producer.connect();
    await billing.start();
    recorderStart = await endOffsets(kafka, [TOPICS.billingCharges.name]);
    await recorder.start(recorderStart);
    // Winter months (no DST on their boundaries in Europe/London) no earlier run closed, each
    // with its neighbours and the months it may close: one for the replay and month-close tests,
    // another for the kill test, a run of three for the silent-month test.
    const { rows } = await pool.query<{ period: string }>(
      'SELECT period FROM billing.closed_months',
    );
    const closed = new Set(rows.map((r) => r.period));
    const taken = new Set<string>();
    for (const span of [1, 1, 3]) {
      for (;;) {
        const year = 2001 + (parseInt(randomBytes(2).toString('hex'), 16) % 20);
        const p = `${year}-${['01', '02', '12'][randomBytes(1)[0]! % 3]}`;
        const months = [previousOf(p), p];
        while (months.length < span + 2) months.push(nextOf(months.at(-1)!));
        if (months.some((m) => closed.has(m) || taken.has(m))) continue;
        for (const m of months) taken.add(m);
        periods.push(p);
        break;
      }
    }
    useMonth(periods[0]!);
  });
  afterAll(async () => {
    await recorder.stop();
    await producer.disconnect();
    await billing.stop();
    await pool.end();
    rmSync(tariffsFile, { force: true });
  });

  /**
   * A month of hourly readings and 6-hourly usage for each meter, first seen on carrier a. The
   * meters are decommissioned at the end of the month unless told otherwise: an active meter owes
   * its subscription for every month up to now.
   */
  function monthOf(
    meters: FixtureMeter[],
    customerId: string,
    first = 0,
    decommissionedAtMs = monthEnd,
  ): Input[] {
    const out: Input[] = [];
    for (const c of carrierRecords(tag))
      out.push({ topic: TOPICS.fleetCarriers, key: c.carrierId, value: c });
    meters.forEach((m, i) => {
      out.push({
        topic: TOPICS.fleetMeters,
        key: m.meterId,
        value: meterRecord(tag, m, customerId, decommissionedAtMs),
      });
      for (let t = monthStart; t < monthEnd; t += 6 * HOUR)
        out.push({
          topic: TOPICS.meterConnectivity,
          key: m.meterId,
          value: connectivityRecord(m.meterId, t, m.iccidA, `ca-${tag}`, 150_000 + i * 1_000),
        });
      for (const r of hourlyReadings(
        first + i,
        m.meterId,
        monthStart,
        monthStart - HOUR,
        monthEnd + HOUR,
      ))
        out.push({ topic: TOPICS.meterReadings, key: m.meterId, value: r });
    });
    return out;
  }

  const statementsOf = async (meters: FixtureMeter[], customerId: string) => ({
    carrierA: await get<Statement>(`/v1/statements/carriers/ca-${tag}/${period}`),
    carrierB: await get<Statement>(`/v1/statements/carriers/cb-${tag}/${period}`),
    customer: await get<Statement>(`/v1/statements/customers/${customerId}/${period}`),
    meters: await Promise.all(
      meters.map((m) => get<Statement>(`/v1/statements/meters/${m.meterId}/${period}`)),
    ),
  });

  it('gives identical statements and publishes nothing new when the whole input is replayed', async () => {
    const meters = fixtureMeters(tag, 'R', 4);
    const customerId = `CUST-R-${tag}`;
    const input = monthOf(meters, customerId);
    const [, m2, m3, m4] = meters as [FixtureMeter, FixtureMeter, FixtureMeter, FixtureMeter];
    // A swap mid-month, a rollback the same day, a device fallback.
    const swaps = [
      ...swapRecords(randomUUID(), m2, tag, [
        { state: 'requested', atMs: monthStart + 14 * DAY },
        { state: 'dispatched', atMs: monthStart + 14 * DAY + 60_000 },
        { state: 'completed', atMs: monthStart + 14 * DAY + 600_000 },
      ]),
      ...swapRecords(randomUUID(), m3, tag, [
        { state: 'requested', atMs: monthStart + 9 * DAY + 8 * HOUR },
        { state: 'dispatched', atMs: monthStart + 9 * DAY + 8 * HOUR + 60_000 },
        { state: 'rolled-back', atMs: monthStart + 9 * DAY + 8 * HOUR + 660_000 },
      ]),
      ...swapRecords(
        randomUUID(),
        m4,
        tag,
        [{ state: 'completed', atMs: monthStart + 20 * DAY }],
        'device-fallback',
      ),
    ];
    for (const s of swaps) input.push({ topic: TOPICS.profileSwaps, key: s.meterId, value: s });

    await produce(producer, input);
    await settled(
      kafka,
      pool,
      meters.map((m) => m.meterId),
    );
    const first = await statementsOf(meters, customerId);

    // What the statements say, independently of how: each meter's enabled seconds over both
    // carriers make the whole month; the swap and the fallback cost a swap fee on carrier b,
    // the rollback none; consumption is billed for every meter.
    const monthS = (monthEnd - monthStart) / 1000;
    for (const m of meters) {
      const seconds = [...first.carrierA.lines, ...first.carrierB.lines]
        .filter((l) => l.meterId === m.meterId && l.type === 'connectivity.subscription')
        .reduce((s, l) => s + l.quantity, 0);
      expect(seconds).toBeCloseTo(monthS, 3);
    }
    expect(
      first.carrierB.lines
        .filter((l) => l.type === 'connectivity.swap')
        .map((l) => l.meterId)
        .sort(),
    ).toEqual([m2.meterId, m4.meterId].sort());
    const rollbackWindow = first.carrierB.lines.find(
      (l) => l.meterId === m3.meterId && l.type === 'connectivity.subscription',
    );
    expect(rollbackWindow?.quantity).toBeCloseTo(600, 3);
    for (const m of meters)
      expect(
        first.customer.lines.some((l) => l.meterId === m.meterId && l.type === 'consumption'),
      ).toBe(true);
    const meterIds = meters.map((m) => m.meterId);
    const ours = () =>
      recorder
        .on<BillingChargeRecord>(TOPICS.billingCharges.name)
        .filter((r) => meters.some((m) => m.meterId === r.meterId));
    await recorderCaughtUp();
    const published = ours();
    expect(published.length).toBeGreaterThan(0);
    // What billing publishes is what the topic's contract says.
    for (const r of published) expect(billingChargeRecordSchema.parse(r)).toEqual(r);
    const ledger = async () => ({
      charges: (
        await pool.query(
          `SELECT charge_id, revision, amount_minor, quantity_exact, flags FROM billing.charges
           WHERE meter_id = ANY($1::text[]) ORDER BY charge_id`,
          [meterIds],
        )
      ).rows,
      audit: (
        await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM billing.charge_audit WHERE meter_id = ANY($1::text[])',
          [meterIds],
        )
      ).rows[0]!.n,
    });
    const ledgerBefore = await ledger();

    // The same input produced again (new offsets, same records: a producer's retry).
    await produce(producer, input);
    await settled(kafka, pool, meterIds);
    expect(await statementsOf(meters, customerId)).toEqual(first);
    await recorderCaughtUp();
    expect(ours()).toHaveLength(published.length);

    // A true replay: billing stopped, its group moved back to the start of every input topic with
    // the ledger intact, billing started again. It reads everything again and changes nothing.
    await billing.stop();
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const topic of INPUT_TOPICS) {
        // A stopped member may take a moment to leave the group: a group with members cannot move.
        await eventually(
          () =>
            admin.resetOffsets({ groupId: 'billing', topic: topic.name, earliest: true }).then(
              () => true,
              () => false,
            ),
          { timeoutMs: 30_000, what: `group billing reset to the start of ${topic.name}` },
        );
        // Moved back (kafkajs stores "earliest" as -2): the settling below reads it all again.
        const [committed] = await admin.fetchOffsets({ groupId: 'billing', topics: [topic.name] });
        for (const p of committed!.partitions) expect(['-2', '0']).toContain(p.offset);
      }
    } finally {
      await admin.disconnect();
    }
    billing = new ServiceProcess('billing', 5301, env, 'int-billing');
    await billing.start();
    await settled(kafka, pool, meterIds);
    expect(await statementsOf(meters, customerId)).toEqual(first);
    expect(await ledger()).toEqual(ledgerBefore);
    await recorderCaughtUp();
    expect(ours()).toEqual(published);

    const csv = await fetch(
      `${billing.baseUrl}/v1/statements/customers/${customerId}/${period}?format=csv`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = (await csv.text()).trim().split('\r\n');
    expect(rows[0]).toMatch(/^chargeId,period,servicePeriod,type,meterId/);
    expect(rows).toHaveLength(first.customer.lines.length + 1);
  });

  it('re-rates a month when late readings fill its gap, with an audit entry; after month close, corrects in the next month', async () => {
    const [meter] = fixtureMeters(tag, 'L', 1) as [FixtureMeter];
    const customerId = `CUST-L-${tag}`;
    const input = monthOf([meter], customerId, 7).filter(
      (r) => r.topic !== TOPICS.meterReadings || !inGap(Date.parse((r.value as { at: string }).at)),
    );
    function inGap(atMs: number): boolean {
      return atMs > monthStart + 10 * DAY && atMs < monthStart + 13 * DAY;
    }
    await produce(producer, input);
    await settled(kafka, pool, [meter.meterId]);
    const before = await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`);
    const consumption = before.lines.filter(
      (l) => l.type === 'consumption' && l.band !== 'standing',
    );
    expect(consumption.some((l) => l.estimated)).toBe(true);

    // The gap's readings arrive late (received now, weeks after their interval).
    const late = hourlyReadings(
      7,
      meter.meterId,
      monthStart,
      monthStart - HOUR,
      monthEnd + HOUR,
      () => Date.now(),
    ).filter((r) => inGap(Date.parse(r.at)));
    await produce(
      producer,
      late.map((r) => ({ topic: TOPICS.meterReadings, key: r.meterId, value: r })),
    );
    await settled(kafka, pool, [meter.meterId]);
    const after = await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`);
    const peak = (s: Statement) =>
      s.lines.find((l) => l.type === 'consumption' && l.band === 'peak')!;
    expect(after.lines.filter((l) => l.type === 'consumption').some((l) => l.estimated)).toBe(
      false,
    );
    expect(peak(after).amountMinor).not.toBe(peak(before).amountMinor);
    expect(peak(after).revision).toBe(peak(before).revision + 1);
    const { entries } = await get<{ entries: AuditEntry[] }>(
      `/v1/meters/${meter.meterId}/charge-audit?period=${period}`,
    );
    const reRated = entries.filter(
      (e) => e.action === 're-rated' && e.chargeId === peak(after).chargeId,
    );
    expect(reRated).toHaveLength(1);
    expect(reRated[0]!.oldAmountMinor).toBe(peak(before).amountMinor);
    expect(reRated[0]!.newAmountMinor).toBe(peak(after).amountMinor);
    expect(reRated[0]!.reason).toMatch(/late/);
    await eventually(() =>
      recorder
        .on<BillingChargeRecord>(TOPICS.billingCharges.name)
        .some(
          (r) => r.chargeId === peak(after).chargeId && r.revision === peak(before).revision + 1,
        ),
    );

    // Close the month with the CLI; a swap reported late then corrects it in the next month.
    const cli = await run(
      process.execPath,
      [join(REPO_ROOT, 'dist', 'apps', 'billing', 'src', 'cli.js'), 'close-month', period],
      { env: { ...process.env, BILLING_TOKEN: token, BILLING_URL: billing.baseUrl } },
    );
    expect(JSON.parse(cli.stdout)).toMatchObject({ period, alreadyClosed: false });
    const swap = swapRecords(randomUUID(), meter, tag, [
      { state: 'completed', atMs: monthStart + 15 * DAY },
    ]);
    await produce(
      producer,
      swap.map((s) => ({ topic: TOPICS.profileSwaps, key: s.meterId, value: s })),
    );
    await settled(kafka, pool, [meter.meterId]);
    expect(await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`)).toEqual({
      ...after,
      status: 'closed',
    });
    const next = await get<Statement>(`/v1/statements/meters/${meter.meterId}/${nextOf(period)}`);
    const corrections = next.lines.filter((l) => l.servicePeriod === period);
    const subscriptionA = after.lines.find(
      (l) => l.type === 'connectivity.subscription' && l.carrierId === `ca-${tag}`,
    )!;
    const correctionA = corrections.find((l) => l.correctionOf === subscriptionA.chargeId)!;
    expect(correctionA.amountMinor).toBeLessThan(0);
    expect(
      corrections.some((l) => l.carrierId === `cb-${tag}` && l.type === 'connectivity.swap'),
    ).toBe(true);
  });

  it('neither loses nor doubles a charge when killed while it consumes', async () => {
    useMonth(periods[1]!);
    const meters = fixtureMeters(tag, 'K', 150);
    const customerId = `CUST-K-${tag}`;
    const input = monthOf(meters, customerId, 100);
    await produce(producer, input);
    // Kill it once part of the readings are in the ledger, then start it again.
    await eventually(
      async () => {
        const { rows } = await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM billing.readings WHERE meter_id = ANY($1::text[])',
          [meters.map((m) => m.meterId)],
        );
        return rows[0]!.n > 20_000;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: 'part of the readings stored' },
    );
    await billing.stop('SIGKILL');
    billing = new ServiceProcess('billing', 5301, env, 'int-billing');
    await billing.start();
    await settled(
      kafka,
      pool,
      meters.map((m) => m.meterId),
      180_000,
    );

    const readingsPerMeter = (monthEnd - monthStart) / HOUR + 3;
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM billing.readings WHERE meter_id = ANY($1::text[])',
      [meters.map((m) => m.meterId)],
    );
    expect(rows[0]!.n).toBe(readingsPerMeter * meters.length);

    const statement = await get<Statement>(`/v1/statements/customers/${customerId}/${period}`);
    const hours = (monthEnd - monthStart) / HOUR;
    meters.forEach((m, i) => {
      const mine = statement.lines.filter((l) => l.meterId === m.meterId);
      const kwh = mine
        .filter((l) => l.type === 'consumption' && l.band !== 'standing')
        .reduce((s, l) => s + l.quantity, 0);
      const wh = registerValue(100 + i, hours + 24) - registerValue(100 + i, 24);
      expect(kwh).toBeCloseTo(wh / 1000, 6);
      const subscription = mine.filter((l) => l.type === 'connectivity.subscription');
      expect(subscription).toHaveLength(1);
      expect(subscription[0]!.amountMinor).toBe(60);
    });
    // On the topic, the latest revision of each line is the line in the ledger.
    await eventually(
      () => {
        const latest = new Map<string, BillingChargeRecord>();
        for (const r of recorder.on<BillingChargeRecord>(TOPICS.billingCharges.name)) {
          if (r.customerId !== customerId || r.period !== period) continue;
          const known = latest.get(r.chargeId);
          if (!known || (known.revision ?? 1) <= (r.revision ?? 1)) latest.set(r.chargeId, r);
        }
        const published = [...latest.values()].reduce((s, r) => s + r.amountMinor, 0);
        const ledger = Object.values(statement.totalMinor).reduce((s, x) => s + x, 0);
        return latest.size === statement.lines.length && published === ledger;
      },
      { timeoutMs: 30_000, what: 'the topic to agree with the ledger' },
    );
  });

  it('stores a reading sent twice once, whether the copy comes in the same batch or later', async () => {
    useMonth(periods[1]!);
    const [meter] = fixtureMeters(tag, 'D', 1) as [FixtureMeter];
    const customerId = `CUST-D-${tag}`;
    const input = monthOf([meter], customerId, 3);
    const readings = input.filter((r) => r.topic === TOPICS.meterReadings);
    // The same interval as a new event: a meter that sent it again.
    const again = (r: Input): Input => ({ ...r, value: { ...r.value, eventId: randomUUID() } });
    const stored = async (): Promise<number> => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM billing.readings WHERE meter_id = $1',
        [meter.meterId],
      );
      return rows[0]!.n;
    };
    // Batches that met a duplicate and were stored again skipping it (not dead-lettered record
    // by record, which would store the same readings too).
    const retried = async (): Promise<number> => {
      const text = await (await fetch(`${billing.baseUrl}/metrics`)).text();
      const line = /^billing_reading_batches_with_duplicates_total(?:{[^}]*})? (\d+)$/m.exec(text);
      return Number(line?.[1] ?? 0);
    };
    const retriedBefore = await retried();
    // One send: the copies land in the batch of the readings they copy.
    await produce(producer, [...input, ...readings.slice(0, 50).map(again)]);
    await settled(kafka, pool, [meter.meterId]);
    expect(await stored()).toBe(readings.length);
    expect(await retried()).toBe(retriedBefore + 1);
    const statement = await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`);
    expect(statement.lines.length).toBeGreaterThan(0);

    await produce(producer, readings.slice(100, 200).map(again));
    await settled(kafka, pool, [meter.meterId]);
    expect(await stored()).toBe(readings.length);
    expect(await retried()).toBe(retriedBefore + 2);
    expect(await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`)).toEqual(
      statement,
    );
  });

  it('re-rates the month a swap was dispatched in when it completes in the next one', async () => {
    useMonth(periods[1]!);
    const [meter] = fixtureMeters(tag, 'W', 1) as [FixtureMeter];
    await produce(producer, monthOf([meter], `CUST-W-${tag}`, 13));
    await settled(kafka, pool, [meter.meterId]);
    const subscriptions = async () =>
      (await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`)).lines
        .filter((l) => l.type === 'connectivity.subscription')
        .map((l) => [l.carrierId, l.quantity]);
    const monthS = (monthEnd - monthStart) / 1000;
    expect(await subscriptions()).toEqual([[`ca-${tag}`, monthS]]);

    // Dispatched an hour before the month's end, completed half an hour into the next month:
    // carrier b's profile counts from the dispatch.
    const swap = swapRecords(randomUUID(), meter, tag, [
      { state: 'requested', atMs: monthEnd - 2 * HOUR },
      { state: 'dispatched', atMs: monthEnd - HOUR },
      { state: 'completed', atMs: monthEnd + 30 * 60_000 },
    ]);
    await produce(
      producer,
      swap.map((s) => ({ topic: TOPICS.profileSwaps, key: s.meterId, value: s })),
    );
    await settled(kafka, pool, [meter.meterId]);
    expect(await subscriptions()).toEqual([
      [`ca-${tag}`, monthS - 3_600],
      [`cb-${tag}`, 3_600],
    ]);
  });

  it('charges the subscription of the months its meter sent nothing in, up to its decommissioning', async () => {
    useMonth(periods[2]!);
    const [meter] = fixtureMeters(tag, 'S', 1) as [FixtureMeter];
    const customerId = `CUST-S-${tag}`;
    const silent = nextOf(period);
    const last = nextOf(silent);
    const startOf = (p: string): number =>
      Date.UTC(Number(p.slice(0, 4)), Number(p.slice(5, 7)) - 1, 1);
    const daysOf = (p: string): number => (startOf(nextOf(p)) - startOf(p)) / DAY;
    // Input in the first month only, none within 14 hours of its end (a reading there would mark
    // the next month for its tariff-local month); decommissioned on the 11th of the third month.
    const input = monthOf([meter], customerId, 11, startOf(last) + 10 * DAY).filter(
      (r) =>
        r.topic !== TOPICS.meterReadings ||
        Date.parse((r.value as { at: string }).at) < monthEnd - 15 * HOUR,
    );
    // One reading again on the 5th of the third month: the silent month lies between two readings.
    const lastValue = Math.max(
      ...input
        .filter((r) => r.topic === TOPICS.meterReadings)
        .map((r) => (r.value as { value: number }).value),
    );
    input.push({
      topic: TOPICS.meterReadings,
      key: meter.meterId,
      value: readingRecord(meter.meterId, startOf(last) + 4 * DAY, lastValue + 120_000),
    });
    await produce(producer, input);
    await settled(kafka, pool, [meter.meterId]);

    const close = async (p: string): Promise<unknown> => {
      const res = await fetch(`${billing.baseUrl}/v1/months/${p}/close`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      return res.json();
    };
    const subscription = async (p: string) =>
      (await get<Statement>(`/v1/statements/carriers/ca-${tag}/${p}`)).lines.filter(
        (l) => l.meterId === meter.meterId,
      );
    // Closing a month rates what it owes before freezing it: lines of the month, not corrections.
    expect(await close(silent)).toMatchObject({ alreadyClosed: false, pendingRatings: 0 });
    expect(await subscription(silent)).toEqual([
      expect.objectContaining({
        type: 'connectivity.subscription',
        servicePeriod: silent,
        quantity: daysOf(silent) * 86_400,
        amountMinor: 60,
        correctionOf: null,
        revision: 1,
      }),
    ]);
    // Its consumption is interpolated between the readings either side of it, as an estimate.
    const consumption = (
      await get<Statement>(`/v1/statements/meters/${meter.meterId}/${silent}`)
    ).lines.filter((l) => l.type === 'consumption' && l.band !== 'standing');
    expect(consumption.length).toBeGreaterThan(0);
    expect(consumption.every((l) => l.estimated)).toBe(true);
    expect(consumption.reduce((sum, l) => sum + l.quantity, 0)).toBeGreaterThan(0);
    expect(await close(last)).toMatchObject({ alreadyClosed: false, pendingRatings: 0 });
    expect(await subscription(last)).toEqual([
      expect.objectContaining({
        type: 'connectivity.subscription',
        servicePeriod: last,
        quantity: 10 * 86_400,
        amountMinor: Math.round((60 * 10) / daysOf(last)),
        correctionOf: null,
      }),
    ]);
  });

  it('rates connectivity while the consumption tariff is unknown, and consumption once restarted with the fixed tariff file', async () => {
    useMonth(periods[1]!);
    const [meter] = fixtureMeters(tag, 'T', 1) as [FixtureMeter];
    const tariffId = `added-later-${tag}`;
    const input = monthOf([meter], `CUST-T-${tag}`, 17).map((r) =>
      r.topic === TOPICS.fleetMeters ? { ...r, value: { ...r.value, tariffId } } : r,
    );
    await produce(producer, input);
    const lines = async () =>
      (await get<Statement>(`/v1/statements/meters/${meter.meterId}/${period}`)).lines;
    await eventually(
      async () => {
        const { rows } = await pool.query<{ blocked: string | null }>(
          'SELECT blocked FROM billing.dirty_periods WHERE meter_id = $1 AND period = $2',
          [meter.meterId, period],
        );
        return (
          rows[0]?.blocked === `unknown_tariff:${tariffId}` &&
          (await lines()).some((l) => l.type === 'connectivity.subscription')
        );
      },
      { timeoutMs: 60_000, what: 'connectivity rated, consumption blocked on the tariff' },
    );
    const data = async () => (await lines()).find((l) => l.type === 'connectivity.data')!;
    const dataBefore = await data();

    // More usage in the month: its connectivity is re-rated, consumption still waits.
    await produce(producer, [
      {
        topic: TOPICS.meterConnectivity,
        key: meter.meterId,
        value: connectivityRecord(meter.meterId, monthStart + HOUR, meter.iccidA, `ca-${tag}`, 1e6),
      },
    ]);
    await eventually(
      async () => {
        const { rows } = await pool.query<{ blocked: string | null }>(
          'SELECT blocked FROM billing.dirty_periods WHERE meter_id = $1 AND period = $2',
          [meter.meterId, period],
        );
        return (
          rows[0]?.blocked === `unknown_tariff:${tariffId}` &&
          (await data()).revision === dataBefore.revision + 1
        );
      },
      { timeoutMs: 60_000, what: 'the new usage rated while consumption waits' },
    );
    expect((await data()).quantity).toBeCloseTo(dataBefore.quantity + 1, 6);
    const before = await lines();
    expect(before.map((l) => l.type)).toEqual(['connectivity.data', 'connectivity.subscription']);

    // The tariff file gets the tariff, billing restarts: the blocked months are rated again.
    const file = JSON.parse(readFileSync(tariffsFile, 'utf8')) as {
      tariffs: { tariffId: string }[];
    };
    file.tariffs.push({
      ...file.tariffs.find((t) => t.tariffId === 'residential-tou')!,
      tariffId,
    });
    writeFileSync(tariffsFile, JSON.stringify(file));
    await billing.stop();
    billing = new ServiceProcess('billing', 5301, env, 'int-billing');
    await billing.start();
    await settled(kafka, pool, [meter.meterId]);
    const after = await lines();
    expect(after.some((l) => l.type === 'consumption')).toBe(true);
    expect(after.filter((l) => l.type !== 'consumption')).toEqual(before);
  });
});

function previousOf(period: string): string {
  const y = Number(period.slice(0, 4));
  const m = Number(period.slice(5, 7));
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

function nextOf(period: string): string {
  const y = Number(period.slice(0, 4));
  const m = Number(period.slice(5, 7));
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

/**
 * Billing has consumed every input record (its group's committed offsets reached the ends), and
 * rated and published everything these meters' records made dirty.
 */
export async function settled(
  kafka: Kafka,
  pool: Pool,
  meterIds: string[],
  timeoutMs = 90_000,
): Promise<void> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  try {
    await eventually(
      async () => {
        for (const topic of INPUT_TOPICS) {
          const ends = await admin.fetchTopicOffsets(topic.name);
          const [committed] = await admin.fetchOffsets({
            groupId: 'billing',
            topics: [topic.name],
          });
          for (const end of ends) {
            if (end.high === '0') continue;
            const c = committed?.partitions.find((p) => p.partition === end.partition);
            if (!c || BigInt(c.offset) < BigInt(end.high)) return false;
          }
        }
        const { rows } = await pool.query<{ dirty: number; outbox: number }>(
          `SELECT (SELECT count(*) FROM billing.dirty_periods WHERE meter_id = ANY($1::text[]))::int AS dirty,
                  (SELECT count(*) FROM billing.outbox)::int AS outbox`,
          [meterIds],
        );
        return rows[0]!.dirty === 0 && rows[0]!.outbox === 0;
      },
      { timeoutMs, intervalMs: 250, what: 'billing to consume, rate and publish everything' },
    );
  } finally {
    await admin.disconnect();
  }
}
