import {
  bootEventMessageSchema,
  downlinkEsipaTopic,
  eimPackageResultPayloadSchema,
  esipaUplinkMessageSchema,
  telemetryMessageSchema,
  type EimPackagePayload,
  type Psmo,
  type UplinkChannel,
} from '@meterlink/contracts';
import {
  generateEcKeyPair,
  privateKeyFromJwk,
  publicKeyFromJwk,
  signCompact,
  verifyCompact,
} from '@meterlink/jws';
import type { ServiceLevel } from './coverage';
import { radioSite } from './coverage';
import { generateFleet } from './fleet';
import type { FleetStateMeter } from './fleet-state';
import { Meter, type MeterEvent, type MeterLink, type MeterTiming } from './meter';
import { Prng } from './prng';
import { parseScenario, type ScenarioInput } from './scenario';
import { ManualScheduler } from './scheduler';
import type { SmdpDownloadOutcome } from './smdp-client';

const EIM_KID = 'eim-key-1';
const DOWNLOADED_ICCID = '8944570000000000012';
/** Lets the fake SM-DP+'s promise answers reach the meter. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const eimKeys = generateEcKeyPair();
const eimPrivate = privateKeyFromJwk(eimKeys.privateJwk);
const otherKeys = generateEcKeyPair();

const catalogue: ScenarioInput['catalogue'] = {
  carriers: [
    ['a', '23415'],
    ['b', '23420'],
    ['c', '23430'],
  ].map(([x = '', plmn = '']) => ({
    carrierId: `carrier-${x}`,
    name: `Carrier ${x.toUpperCase()}`,
    plmns: [plmn],
    smdpAddress: `smdp.carrier-${x}.example`,
    tariff: {
      currency: 'EUR',
      monthlyFeeMinor: 60,
      perMbMinor: 25,
      downloadFeeMinor: 150,
      swapFeeMinor: 20,
    },
  })),
  regions: [{ region: 'north', carriers: ['carrier-a', 'carrier-b'] }],
};

const scenario = parseScenario({
  name: 'unit',
  seed: 1,
  speedup: 1,
  durationS: 3600,
  catalogue,
  fleet: [
    {
      region: 'north',
      kind: 'electricity',
      carrierId: 'carrier-a',
      count: 1,
      reportIntervalS: 60,
      otherProfiles: ['carrier-b'],
      fallbackCarrierId: 'carrier-b',
    },
    {
      region: 'north',
      kind: 'gas',
      carrierId: 'carrier-a',
      count: 1,
      reportIntervalS: 3600,
      otherProfiles: ['carrier-b'],
    },
    {
      region: 'north',
      kind: 'electricity',
      carrierId: 'carrier-a',
      count: 1,
      reportIntervalS: 60,
      signedTelemetry: true,
    },
  ],
});
const fleet = generateFleet(scenario);
const electricity = fleet.state.meters[0]!;
const gas = fleet.state.meters[1]!;
const signedMeter = fleet.state.meters[2]!;

const timing: MeterTiming = {
  reportIntervalMs: 60_000,
  rollbackWindowMs: 20_000,
  fallbackDelayMs: 120_000,
  attachMs: [2_000, 4_000],
  downloadMs: [1_000, 2_000],
  awakeMs: 5_000,
  retransmitAfterMs: 300_000,
};

interface Sent {
  channel: UplinkChannel;
  raw: string;
  body: Record<string, unknown>;
}

/** A meter on a fake clock, a fake link (connects after 10 ms) and coverage the test sets. */
function harness(config: FleetStateMeter = electricity, overrides: Partial<MeterTiming> = {}) {
  const scheduler = new ManualScheduler();
  /** ES9+ calls the meter made, and what the fake SM-DP+ answers (installs by default). */
  const smdpCalls: { carrierId: string; eid: string; matchingId: string }[] = [];
  const smdpAnswers: SmdpDownloadOutcome[] = [];
  const sent: Sent[] = [];
  const events: MeterEvent[] = [];
  const coverage = new Map<string, ServiceLevel>();
  const linkLog: string[] = [];
  let attempt = 0;
  const meterRef: { current?: Meter } = {};
  const link: MeterLink = {
    connect: () => {
      const mine = ++attempt;
      linkLog.push('connect');
      scheduler.setTimer(10, () => {
        if (mine === attempt) meterRef.current?.onConnected();
      });
    },
    disconnect: (mode) => {
      attempt++;
      linkLog.push(`disconnect:${mode}`);
    },
    publish: (channel, raw) => {
      sent.push({ channel, raw, body: JSON.parse(raw) as Record<string, unknown> });
    },
  };
  const meter = new Meter(
    {
      meterId: config.meterId,
      meterIndex: config.meterIndex,
      eid: config.eid,
      kind: config.kind,
      region: config.region,
      signedTelemetry: config.signedTelemetry,
      fieldReportIntervalS: config.fieldReportIntervalS,
    },
    config.runtime,
    {
      scheduler,
      link,
      timing: { ...timing, ...overrides },
      catalogue: scenario.catalogue,
      coverage: (carrierId) => coverage.get(carrierId) ?? 'ok',
      radioSite: (carrierId) => radioSite(1, config.meterId, carrierId),
      eimKeys: new Map([[EIM_KID, publicKeyFromJwk(eimKeys.publicJwk)]]),
      deviceKey: privateKeyFromJwk(config.deviceKey),
      smdp: {
        downloadProfile: (carrierId, request) => {
          smdpCalls.push({ carrierId, ...request });
          return Promise.resolve(
            smdpAnswers.shift() ?? { kind: 'installed', iccid: DOWNLOADED_ICCID },
          );
        },
      },
      rng: Prng.derive('unit', config.meterId),
      onEvent: (e) => events.push(e),
    },
  );
  meterRef.current = meter;
  const devicePublic = publicKeyFromJwk(config.deviceKey);
  const iccidOf = (carrierId: string): string => {
    const p = config.runtime.profiles.find((x) => x.carrierId === carrierId);
    if (!p) throw new Error(`no profile for ${carrierId}`);
    return p.iccid;
  };
  let counter = 0;
  const h = {
    scheduler,
    smdpCalls,
    smdpAnswers,
    meter,
    sent,
    events,
    coverage,
    linkLog,
    iccidOf,
    start: () => {
      meter.start();
      scheduler.advance(20);
    },
    advance: (ms: number) => scheduler.advance(ms),
    /** Drops and restores the connection as the broker would (e.g. a broker restart). */
    reconnect: () => {
      meter.onDisconnected();
      meter.onConnected();
    },
    package: (
      psmoList: Psmo[],
      over: Partial<EimPackagePayload> = {},
      key = eimPrivate,
      kid = EIM_KID,
    ): string => {
      counter++;
      const payload: EimPackagePayload = {
        eimId: 'meterlink-eim-1',
        eid: config.eid,
        counterValue: counter,
        eimTransactionId: `tx-${counter}`,
        psmoList,
        ...over,
      };
      return JSON.stringify({ type: 'eimPackage', jws: signCompact(payload, key, kid) });
    },
    deliver: (message: string | object) =>
      meter.onDownlink(
        downlinkEsipaTopic(config.meterId),
        typeof message === 'string' ? message : JSON.stringify(message),
      ),
    results: () =>
      sent
        .filter((s) => s.body.type === 'eimPackageResult')
        .map((s) => {
          const verified = verifyCompact(String(s.body.jws), devicePublic, config.meterId);
          if (!verified.ok) throw new Error(`result signature: ${verified.error}`);
          return eimPackageResultPayloadSchema.parse(verified.payload);
        }),
    ofType: (type: string) => sent.filter((s) => s.body.type === type),
    telemetry: () => sent.filter((s) => s.channel === 'telemetry'),
    clear: () => {
      sent.length = 0;
      events.length = 0;
    },
  };
  return h;
}

describe('Meter', () => {
  describe('uplink counter', () => {
    it('numbers every uplink message on all three topics with one seq starting at 1', () => {
      const h = harness();
      h.start();
      h.advance(3 * 60_000);
      h.deliver(h.package([{ op: 'listProfileInfo' }]));
      h.advance(60_000);

      const channels = new Set(h.sent.map((s) => s.channel));
      expect(channels).toEqual(new Set(['events', 'esipa', 'telemetry']));
      expect(h.sent.map((s) => s.body.seq)).toEqual(h.sent.map((_, i) => i + 1));
      expect(h.sent[0]?.body.type).toBe('boot');
      expect(h.sent[1]?.body.type).toBe('getEimPackage');
      expect(h.meter.status().seq).toBe(h.sent.length);
    });

    it('continues the seq of the persisted state after a restart', () => {
      const first = harness();
      first.start();
      first.advance(2 * 60_000);
      const persisted = first.meter.snapshot();
      first.meter.stop();

      const second = harness({ ...electricity, runtime: persisted });
      second.start();
      expect(second.sent[0]?.body).toMatchObject({ type: 'boot', seq: persisted.seq + 1 });
    });
  });

  describe('boot, poll and telemetry', () => {
    it('boots with its profiles and polls after connecting', () => {
      const h = harness();
      h.start();
      const boot = bootEventMessageSchema.parse(h.sent[0]?.body);
      expect(boot.eid).toBe(electricity.eid);
      expect(boot.profiles).toEqual([
        { iccid: h.iccidOf('carrier-a'), state: 'enabled', fallback: false },
        { iccid: h.iccidOf('carrier-b'), state: 'disabled', fallback: true },
      ]);
      expect(esipaUplinkMessageSchema.parse(h.sent[1]?.body)).toMatchObject({
        type: 'getEimPackage',
        eid: electricity.eid,
        rplmn: '23415',
      });
      expect(h.sent[1]?.body).not.toHaveProperty('stateChangeCause');
    });

    it('reports one growing reading per interval with radio and usage of the enabled profile', () => {
      const h = harness();
      h.start();
      h.advance(4 * 60_000);
      const telemetry = h.telemetry().map((t) => telemetryMessageSchema.parse(t.body));
      expect(telemetry.length).toBeGreaterThanOrEqual(3);
      const values = telemetry.map((t) => {
        expect(t.readings).toHaveLength(1);
        expect(t.readings[0]?.register).toBe('energy_import_wh');
        return t.readings[0]?.value ?? 0;
      });
      values.slice(1).forEach((v, i) => expect(v).toBeGreaterThan(values[i] ?? Infinity));
      for (const t of telemetry) {
        expect(t.radio).toMatchObject({
          rat: 'nbiot',
          iccid: h.iccidOf('carrier-a'),
          plmn: '23415',
          attachFailures: 0,
        });
        expect(t.radio.rsrp).toBeGreaterThanOrEqual(-100);
        expect(t.radio.rsrp).toBeLessThanOrEqual(-80);
        expect(t.battery).toBeUndefined();
      }
      // usage = bytes of everything sent on that iccid since the previous telemetry (inclusive).
      const secondIndex = h.sent.indexOf(h.telemetry()[1]!);
      const firstIndex = h.sent.indexOf(h.telemetry()[0]!);
      const between = h.sent
        .slice(firstIndex, secondIndex)
        .reduce((n, s) => n + Buffer.byteLength(s.raw), 0);
      expect(telemetry[1]?.usage.bytesUp).toBe(between);
    });

    it('reports degraded radio during a degraded outage', () => {
      const h = harness();
      h.start();
      h.coverage.set('carrier-a', 'degraded');
      h.meter.onCoverageChanged();
      h.advance(2 * 60_000);
      const last = telemetryMessageSchema.parse(h.telemetry().at(-1)?.body);
      expect(last.radio.rsrp).toBeLessThanOrEqual(-122);
      expect(last.radio.rsrq).toBeLessThanOrEqual(-18);
      expect(last.radio.sinr).toBeLessThanOrEqual(-7);
      expect(last.radio.attachFailures).toBeGreaterThanOrEqual(2);
      expect(last.radio.attachFailures).toBeLessThanOrEqual(5);
    });

    it('signs the whole telemetry message with the device key when signedTelemetry is set', () => {
      const h = harness(signedMeter);
      h.start();
      h.advance(2 * 60_000);
      const [first] = h.telemetry();
      expect(Object.keys(first?.body ?? {})).toEqual(['jws']);
      const verified = verifyCompact(
        String(first?.body.jws),
        publicKeyFromJwk(signedMeter.deviceKey),
        signedMeter.meterId,
      );
      expect(verified.ok).toBe(true);
      if (verified.ok)
        expect(telemetryMessageSchema.parse(verified.payload).seq).toBe(
          first ? h.sent.indexOf(first) + 1 : -1,
        );
    });

    it('gives battery meters a battery level, a poll after each telemetry and sleep in between', () => {
      const h = harness(gas, { reportIntervalMs: 3_600_000 });
      h.start();
      h.advance(3_600_000);
      const telemetry = telemetryMessageSchema.parse(h.telemetry()[0]?.body);
      expect(telemetry.battery?.pct).toBeGreaterThan(0);
      expect(telemetry.readings[0]?.register).toBe('volume_l');
      const index = h.sent.indexOf(h.telemetry()[0]!);
      expect(h.sent[index + 1]?.body.type).toBe('getEimPackage');
      expect(h.linkLog.filter((l) => l === 'disconnect:graceful').length).toBeGreaterThanOrEqual(2);
      expect(h.meter.online).toBe(false);
    });
  });

  describe('eIM packages', () => {
    it('refuses a package whose counterValue is not above the last accepted with replayError and executes nothing', () => {
      const h = harness();
      h.start();
      h.deliver(h.package([{ op: 'listProfileInfo' }], { counterValue: 5 }));
      h.deliver(
        h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }], {
          counterValue: 5,
        }),
      );
      h.deliver(
        h.package([{ op: 'setFallbackAttribute', iccid: h.iccidOf('carrier-a') }], {
          counterValue: 4,
        }),
      );

      const results = h.results();
      expect(results).toHaveLength(3);
      expect(results[1]).toMatchObject({
        eimTransactionId: 'tx-2',
        counterValue: 5,
        rolledBack: false,
        results: [{ op: 'enable', iccid: h.iccidOf('carrier-b'), code: 'replayError' }],
      });
      expect(results[2]?.results).toEqual([
        { op: 'setFallbackAttribute', iccid: h.iccidOf('carrier-a'), code: 'replayError' },
      ]);
      const status = h.meter.status();
      expect(status.enabledIccid).toBe(h.iccidOf('carrier-a'));
      expect(status.attaching).toBe(false);
      expect(status.eimCounter).toBe(5);
      expect(status.profiles.find((p) => p.fallback)?.carrierId).toBe('carrier-b');
      expect(h.events.filter((e) => e.type === 'packageExecuted')).toHaveLength(1);
    });

    it('answers a package signed with another key with invalidSignature and executes nothing', () => {
      const h = harness();
      h.start();
      const forged = privateKeyFromJwk(otherKeys.privateJwk);
      h.deliver(
        h.package(
          [{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }],
          { counterValue: 9 },
          forged,
        ),
      );
      h.deliver(
        h.package(
          [{ op: 'unsetFallbackAttribute' }],
          { counterValue: 10 },
          eimPrivate,
          'unknown-kid',
        ),
      );

      const results = h.results();
      expect(results.map((r) => r.results)).toEqual([
        [{ op: 'enable', iccid: h.iccidOf('carrier-b'), code: 'invalidSignature' }],
        [{ op: 'unsetFallbackAttribute', code: 'invalidSignature' }],
      ]);
      const status = h.meter.status();
      expect(status.enabledIccid).toBe(h.iccidOf('carrier-a'));
      expect(status.eimCounter).toBe(0);
      expect(status.profiles.some((p) => p.fallback)).toBe(true);
      expect(h.linkLog).toEqual(['connect']);
    });

    it('re-sends the stored result for an eimTransactionId it already executed, without executing again', () => {
      const h = harness();
      h.start();
      const pkg = h.package([{ op: 'setFallbackAttribute', iccid: h.iccidOf('carrier-a') }]);
      h.deliver(pkg);
      h.deliver(pkg);
      const resultMessages = h.ofType('eimPackageResult');
      expect(resultMessages).toHaveLength(2);
      expect(resultMessages[1]?.body.jws).toBe(resultMessages[0]?.body.jws);
      expect(resultMessages[1]?.body.seq).toBe(Number(resultMessages[0]?.body.seq) + 1);
      expect(h.events.filter((e) => e.type === 'packageExecuted')).toHaveLength(1);
      expect(h.events.filter((e) => e.type === 'resultResent')).toHaveLength(1);
      expect(h.meter.status().seqNumber).toBe(1);
    });

    it('executes PSMOs in order and stops at the first failure with the §4.2 code', () => {
      const h = harness();
      h.start();
      h.deliver(
        h.package([
          { op: 'setFallbackAttribute', iccid: h.iccidOf('carrier-a') },
          { op: 'enable', iccid: h.iccidOf('carrier-a'), rollback: false },
          { op: 'unsetFallbackAttribute' },
        ]),
      );
      h.deliver(h.package([{ op: 'delete', iccid: '8944990000000000000' }]));
      h.deliver(h.package([{ op: 'delete', iccid: h.iccidOf('carrier-a') }]));
      expect(h.results().map((r) => r.results.map((x) => x.code))).toEqual([
        ['ok', 'profileNotInDisabledState'],
        ['iccidOrAidNotFound'],
        ['profileNotInDisabledState'],
      ]);
      expect(h.meter.status().profiles.find((p) => p.fallback)?.carrierId).toBe('carrier-a');
    });

    it('ignores a package for another EID', () => {
      const h = harness();
      h.start();
      h.deliver(h.package([{ op: 'listProfileInfo' }], { eid: gas.eid }));
      expect(h.results()).toHaveLength(0);
      expect(h.events.find((e) => e.type === 'packageRejected')).toMatchObject({
        reason: 'eidMismatch',
      });
    });
  });

  describe('enable with rollback', () => {
    it('switches, stays silent while attaching, then sends the ok result and telemetry on the new iccid', () => {
      const h = harness();
      h.start();
      h.clear();
      h.deliver(h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]));
      expect(h.sent).toHaveLength(0);
      expect(h.linkLog.at(-1)).toBe('disconnect:abrupt');
      h.advance(1_900);
      expect(h.sent).toHaveLength(0);
      h.advance(2_200);

      expect(h.sent.map((s) => s.body.type ?? s.channel)).toEqual([
        'eimPackageResult',
        'telemetry',
        'getEimPackage',
      ]);
      expect(h.results()[0]).toMatchObject({
        eimTransactionId: 'tx-1',
        counterValue: 1,
        seqNumber: 1,
        rolledBack: false,
        results: [{ op: 'enable', iccid: h.iccidOf('carrier-b'), code: 'ok' }],
      });
      const telemetry = telemetryMessageSchema.parse(h.sent[1]?.body);
      expect(telemetry.radio.iccid).toBe(h.iccidOf('carrier-b'));
      expect(telemetry.radio.plmn).toBe('23420');
      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-b'));
      expect(h.events.some((e) => e.type === 'swapCompleted')).toBe(true);
    });

    it('rolls back when the meter never reaches the platform on the new carrier within the window', () => {
      const h = harness();
      h.start();
      h.coverage.set('carrier-b', 'down');
      h.clear();
      h.deliver(h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]));
      h.advance(19_000);
      expect(h.sent).toHaveLength(0);
      h.advance(1_100);

      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-a'));
      const [result] = h.results();
      expect(result).toMatchObject({ eimTransactionId: 'tx-1', seqNumber: 1, rolledBack: true });
      const notifications = h.ofType('notifications');
      expect(notifications).toHaveLength(1);
      expect(esipaUplinkMessageSchema.parse(notifications[0]?.body)).toMatchObject({
        notifications: [{ seqNumber: 2, event: 'rollback', iccid: h.iccidOf('carrier-a') }],
      });
      const types = h.sent.map((s) => s.body.type);
      expect(types.indexOf('eimPackageResult')).toBeLessThan(types.indexOf('notifications'));
      expect(h.events.some((e) => e.type === 'rolledBack')).toBe(true);
    });

    it('completes the swap if the new carrier recovers before the window ends', () => {
      const h = harness();
      h.start();
      h.coverage.set('carrier-b', 'down');
      h.deliver(h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]));
      h.advance(10_000);
      h.coverage.set('carrier-b', 'ok');
      h.meter.onCoverageChanged();
      h.advance(100);
      expect(h.results().at(-1)).toMatchObject({ rolledBack: false });
      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-b'));
    });

    it('handles a package that arrives while it attaches once it is back on the platform', () => {
      const h = harness();
      h.start();
      h.deliver(h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]));
      h.deliver(h.package([{ op: 'listProfileInfo' }]));
      expect(h.results()).toHaveLength(0);
      h.advance(4_100);
      expect(h.results().map((r) => [r.eimTransactionId, r.results[0]?.code])).toEqual([
        ['tx-1', 'ok'],
        ['tx-2', 'ok'],
      ]);
    });

    it('rolls back on restart when stopped in the middle of an attach', () => {
      const h = harness();
      h.start();
      h.deliver(h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]));
      const persisted = h.meter.snapshot();
      h.meter.stop();
      expect(persisted.interruptedSwap?.eimTransactionId).toBe('tx-1');

      const again = harness({ ...electricity, runtime: persisted });
      again.start();
      expect(again.meter.status().enabledIccid).toBe(again.iccidOf('carrier-a'));
      expect(again.results()[0]).toMatchObject({ eimTransactionId: 'tx-1', rolledBack: true });
    });
  });

  describe('acknowledgements', () => {
    it('re-sends unacknowledged items at every poll until an eimAcknowledgements names them', () => {
      const h = harness();
      h.start();
      h.deliver(h.package([{ op: 'listProfileInfo' }]));
      expect(h.results()).toHaveLength(1);

      h.reconnect();
      h.reconnect();
      expect(h.results().map((r) => r.seqNumber)).toEqual([1, 1, 1]);
      const polls = h.ofType('getEimPackage');
      expect(polls.length).toBe(3);

      h.deliver({ type: 'eimAcknowledgements', seqNumbers: [1, 77] });
      expect(h.meter.status().pendingSeqNumbers).toEqual([]);
      h.reconnect();
      expect(h.results()).toHaveLength(3);
    });

    it('always-on meters also re-send old unacknowledged items with their telemetry', () => {
      const h = harness(electricity, { retransmitAfterMs: 120_000 });
      h.start();
      h.deliver(h.package([{ op: 'listProfileInfo' }]));
      h.advance(60_000);
      expect(h.results()).toHaveLength(1);
      h.advance(3 * 60_000);
      expect(h.results().length).toBeGreaterThanOrEqual(2);
    });
  });

  describe('no service', () => {
    it('sends nothing while down, buffers readings and sends them with the next telemetry', () => {
      const h = harness(electricity, { fallbackDelayMs: 3_600_000 });
      h.start();
      h.coverage.set('carrier-a', 'down');
      h.meter.onCoverageChanged();
      h.clear();
      h.advance(5 * 60_000);
      expect(h.sent).toHaveLength(0);
      h.coverage.set('carrier-a', 'ok');
      h.meter.onCoverageChanged();
      h.advance(60_000);
      const [first] = h.telemetry();
      const telemetry = telemetryMessageSchema.parse(first?.body);
      expect(telemetry.readings.length).toBeGreaterThanOrEqual(5);
      expect(h.sent[0]?.body.type).toBe('getEimPackage');
    });

    it('falls back to the fallback profile after fallbackDelay, then polls with cause fallback and notifies', () => {
      const h = harness();
      h.start();
      h.coverage.set('carrier-a', 'down');
      h.meter.onCoverageChanged();
      h.clear();
      h.advance(119_000);
      expect(h.sent).toHaveLength(0);
      h.advance(1_000 + 4_100);

      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-b'));
      expect(h.sent[0]?.body).toMatchObject({
        type: 'getEimPackage',
        notifyStateChange: true,
        stateChangeCause: 'fallback',
        rplmn: '23420',
      });
      expect(esipaUplinkMessageSchema.parse(h.sent[1]?.body)).toMatchObject({
        type: 'notifications',
        notifications: [{ event: 'fallback', iccid: h.iccidOf('carrier-b') }],
      });
      h.reconnect();
      expect(h.ofType('getEimPackage').at(-1)?.body).not.toHaveProperty('stateChangeCause');
    });

    it('does not fall back when the fallback carrier has no service either', () => {
      const h = harness();
      h.start();
      h.coverage.set('carrier-a', 'down');
      h.coverage.set('carrier-b', 'down');
      h.meter.onCoverageChanged();
      h.advance(10 * 60_000);
      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-a'));
      h.coverage.set('carrier-b', 'ok');
      h.meter.onCoverageChanged();
      h.advance(5_000);
      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-b'));
    });
  });

  describe('profile download', () => {
    const trigger = (eimTransactionId = 'dl-1', code = '1$smdp.carrier-c.example$MATCH-1') => ({
      type: 'profileDownloadTrigger',
      eimTransactionId,
      activationCode: code,
    });

    it('downloads from the SM-DP+ of the activation code, installs disabled, reports the result and an install notification', async () => {
      const h = harness();
      h.start();
      h.deliver(trigger());
      await settle();
      expect(h.smdpCalls).toEqual([
        { carrierId: 'carrier-c', eid: electricity.eid, matchingId: 'MATCH-1' },
      ]);
      // Nothing before the download time has passed.
      expect(h.ofType('profileDownloadResult')).toHaveLength(0);
      h.advance(2_100);
      const [result] = h.ofType('profileDownloadResult');
      expect(esipaUplinkMessageSchema.parse(result?.body)).toMatchObject({
        type: 'profileDownloadResult',
        eimTransactionId: 'dl-1',
        seqNumber: 1,
        iccid: DOWNLOADED_ICCID,
        result: 'installed',
      });
      expect(esipaUplinkMessageSchema.parse(h.ofType('notifications')[0]?.body)).toMatchObject({
        notifications: [{ seqNumber: 2, event: 'install', iccid: DOWNLOADED_ICCID }],
      });
      expect(h.meter.status().profiles.find((p) => p.iccid === DOWNLOADED_ICCID)).toEqual({
        iccid: DOWNLOADED_ICCID,
        carrierId: 'carrier-c',
        state: 'disabled',
        fallback: false,
      });
      expect(h.meter.status().pendingSeqNumbers).toEqual([1, 2]);
    });

    it('answers the same trigger again with the stored result, without downloading twice', async () => {
      const h = harness();
      h.start();
      h.deliver(trigger());
      h.deliver(trigger());
      await settle();
      h.advance(2_100);
      h.deliver(trigger());
      await settle();
      h.advance(2_100);
      expect(h.smdpCalls).toHaveLength(1);
      const results = h.ofType('profileDownloadResult');
      expect(results).toHaveLength(2);
      expect(results.map((r) => r.body.seqNumber)).toEqual([1, 1]);
      expect(h.meter.status().profiles).toHaveLength(3);
    });

    it('reports the refusal of the SM-DP+ and installs nothing', async () => {
      const h = harness();
      h.smdpAnswers.push({ kind: 'refused', reason: 'downloadOrderExpired' });
      h.start();
      h.deliver(trigger());
      await settle();
      h.advance(2_100);
      expect(h.ofType('profileDownloadResult')[0]?.body).toMatchObject({
        result: 'downloadOrderExpired',
      });
      expect(h.ofType('profileDownloadResult')[0]?.body).not.toHaveProperty('iccid');
      expect(h.ofType('notifications')).toHaveLength(0);
      expect(h.meter.status().profiles).toHaveLength(2);
    });

    it('refuses with noEligibleProfile an activation code whose SM-DP+ it does not know, without calling one', async () => {
      const h = harness();
      h.start();
      h.deliver(trigger('dl-1', '1$smdp.elsewhere.test$MATCH-1'));
      h.deliver(trigger('dl-3', '1$smdp.carrier-c.example$'));
      await settle();
      expect(h.smdpCalls).toEqual([]);
      expect(h.ofType('profileDownloadResult').map((r) => r.body.result)).toEqual([
        'noEligibleProfile',
        'matchingIdRefused',
      ]);
    });

    it('answers catBusy on a battery meter low on battery, and downloads nothing', async () => {
      const low = { ...gas, runtime: { ...gas.runtime, batteryPct: 8 } };
      const h = harness(low, { reportIntervalMs: 3_600_000 });
      h.start();
      h.deliver(trigger());
      await settle();
      expect(h.smdpCalls).toEqual([]);
      expect(
        esipaUplinkMessageSchema.parse(h.ofType('profileDownloadResult')[0]?.body),
      ).toMatchObject({
        result: 'catBusy',
      });
      expect(h.meter.status().profiles).toHaveLength(2);
    });

    it('retries an unreachable SM-DP+ and installs once it answers', async () => {
      const h = harness();
      h.smdpAnswers.push(
        { kind: 'transient', retryAfterMs: 1_000, error: 'HTTP 503' },
        { kind: 'transient', retryAfterMs: 3_000, error: 'HTTP 503' },
      );
      h.start();
      h.deliver(trigger());
      await settle();
      h.advance(1_000);
      await settle();
      expect(h.smdpCalls).toHaveLength(2);
      h.advance(2_999);
      await settle();
      expect(h.smdpCalls).toHaveLength(2);
      h.advance(1);
      await settle();
      h.advance(10);
      expect(h.smdpCalls).toHaveLength(3);
      expect(h.ofType('profileDownloadResult')[0]?.body).toMatchObject({ result: 'installed' });
    });

    it('gives up after five unanswered attempts without reporting anything; a new trigger starts over', async () => {
      const h = harness();
      for (let i = 0; i < 5; i++)
        h.smdpAnswers.push({ kind: 'transient', retryAfterMs: 1_000, error: 'ECONNREFUSED' });
      h.start();
      h.deliver(trigger());
      for (let i = 0; i < 6; i++) {
        await settle();
        h.advance(1_000);
      }
      expect(h.smdpCalls).toHaveLength(5);
      expect(h.ofType('profileDownloadResult')).toHaveLength(0);
      expect(h.events.filter((e) => e.type === 'downloadAbandoned')).toHaveLength(1);

      h.deliver(trigger());
      await settle();
      h.advance(2_100);
      expect(h.ofType('profileDownloadResult')[0]?.body).toMatchObject({ result: 'installed' });
    });

    it('enables a downloaded profile like any other', async () => {
      const h = harness();
      h.start();
      h.deliver(trigger());
      await settle();
      h.advance(2_100);
      h.deliver(h.package([{ op: 'enable', iccid: DOWNLOADED_ICCID, rollback: true }]));
      h.advance(4_100);
      expect(h.meter.status().enabledIccid).toBe(DOWNLOADED_ICCID);
      expect(h.results()[0]).toMatchObject({
        results: [{ op: 'enable', iccid: DOWNLOADED_ICCID, code: 'ok' }],
        rolledBack: false,
      });
    });
  });

  describe('battery', () => {
    it('answers catBusy to an enable on a battery meter low on battery and stays on its profile', () => {
      const low = { ...gas, runtime: { ...gas.runtime, batteryPct: 5 } };
      const h = harness(low, { reportIntervalMs: 3_600_000 });
      h.start();
      h.deliver(h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]));
      expect(h.results()[0]?.results).toEqual([
        { op: 'enable', iccid: h.iccidOf('carrier-b'), code: 'catBusy' },
      ]);
      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-a'));
    });
  });

  describe('staged attacks', () => {
    it('forgedResult: leaves the next package unexecuted and claims success under a key that is not the device key', () => {
      const h = harness();
      h.start();
      expect(h.meter.inject('forgedResult')).toBe(true);
      const pkg = h.package([{ op: 'enable', iccid: h.iccidOf('carrier-b'), rollback: true }]);
      h.deliver(pkg);
      const [forged] = h.ofType('eimPackageResult');
      expect(() => h.results()).toThrow(/result signature/);
      const claimed = JSON.parse(
        Buffer.from(String(forged?.body.jws).split('.')[1]!, 'base64url').toString('utf8'),
      ) as Record<string, unknown>;
      expect(claimed).toMatchObject({
        eid: electricity.eid,
        eimTransactionId: 'tx-1',
        rolledBack: false,
        results: [{ op: 'enable', code: 'ok' }],
      });
      expect(h.meter.status()).toMatchObject({
        enabledIccid: h.iccidOf('carrier-a'),
        eimCounter: 0,
        attaching: false,
      });

      // The genuine package, delivered again, is executed as usual.
      h.clear();
      h.deliver(pkg);
      h.advance(4_100);
      expect(h.results()[0]).toMatchObject({ eimTransactionId: 'tx-1', rolledBack: false });
      expect(h.meter.status().enabledIccid).toBe(h.iccidOf('carrier-b'));
    });

    it('replayedResult: publishes the stored result of the last executed package again', () => {
      const h = harness();
      h.start();
      expect(h.meter.inject('replayedResult')).toBe(false);
      h.deliver(h.package([{ op: 'listProfileInfo' }]));
      h.deliver({ type: 'eimAcknowledgements', seqNumbers: [1] });
      expect(h.meter.inject('replayedResult')).toBe(true);
      const messages = h.ofType('eimPackageResult');
      expect(messages).toHaveLength(2);
      expect(messages[1]?.body.jws).toBe(messages[0]?.body.jws);
      expect(h.results()[1]).toMatchObject({ eimTransactionId: 'tx-1', seqNumber: 1 });
    });

    it('polls on demand while connected', () => {
      const h = harness();
      h.start();
      h.clear();
      expect(h.meter.pollNow()).toBe(true);
      expect(h.sent.map((m) => m.body.type)).toEqual(['getEimPackage']);
    });
  });
});
