import type { KeyObject } from 'node:crypto';
import {
  downlinkEsipaTopic,
  eimPackagePayloadSchema,
  esipaDownlinkMessageSchema,
  parseActivationCode,
  type Carrier,
  type CarrierCatalogue,
  type DeviceEventMessage,
  type EimPackagePayload,
  type EsipaDownlinkMessage,
  type EimPackageResultPayload,
  type EsipaUplinkMessage,
  type GetEimPackage,
  type IntervalReading,
  type MeterKind,
  type ProfileDownloadResult,
  type Psmo,
  type PsmoResultCode,
  type TelemetryMessage,
  type UplinkChannel,
} from '@meterlink/contracts';
import {
  generateEcKeyPair,
  peekHeader,
  privateKeyFromJwk,
  signCompact,
  verifyCompact,
} from '@meterlink/jws';
import { sampleRadio, type RadioSite, type ServiceLevel } from './coverage';
import type { EimKeyring } from './eim-keys';
import { isBatteryPowered } from './fleet';
import type { MeterRuntime, PendingItem, SimProfile } from './fleet-state';
import type { Prng } from './prng';
import type { Scheduler, TimerHandle } from './scheduler';
import type { SmdpDownloadOutcome, SmdpEs9Client } from './smdp-client';

/**
 * One simulated meter: its firmware (uplink counter, telemetry, polls) and its IPA/eUICC
 * (SGP.32 packages, rollback, fallback, downloads), as device-interface.md describes them.
 * Pure protocol logic: time comes from the injected scheduler, MQTT sits behind `MeterLink`,
 * coverage behind `coverage()`, so that all of it runs on a fake clock in unit tests.
 */

export const FIRMWARE_VERSION = '4.2.0-sim';
/** Battery meters below this level refuse energy-hungry operations with `catBusy`. */
export const LOW_BATTERY_PCT = 10;
const MAX_BUFFERED_READINGS = 96;
const MAX_NOTIFICATIONS_PER_MESSAGE = 64;
/** Package and download results remembered for re-sending (by eimTransactionId). */
const MAX_REMEMBERED_TRANSACTIONS = 64;
const MAX_PROFILES = 16;
/** Downlinks kept while the meter cannot act on them (attaching, asleep). */
const MAX_INBOX = 32;
/** ES9+ attempts per download trigger when the SM-DP+ is unreachable or busy. */
const MAX_DOWNLOAD_ATTEMPTS = 5;

export interface MeterIdentity {
  meterId: string;
  meterIndex: number;
  eid: string;
  kind: MeterKind;
  region: string;
  signedTelemetry: boolean;
  /** Field seconds one reading covers (consumption is generated over this). */
  fieldReportIntervalS: number;
}

/** Real milliseconds (already divided by the scenario's speedup). */
export interface MeterTiming {
  reportIntervalMs: number;
  rollbackWindowMs: number;
  fallbackDelayMs: number;
  attachMs: readonly [number, number];
  downloadMs: readonly [number, number];
  awakeMs: number;
  retransmitAfterMs: number;
}

/** The meter's MQTT connection, as the meter sees it. */
export interface MeterLink {
  /** Connect (idempotent); the link calls `onConnected()` on every (re)connection. */
  connect(): void;
  /** `abrupt`: radio lost (no DISCONNECT packet); `graceful`: going to sleep. */
  disconnect(mode: 'graceful' | 'abrupt'): void;
  /** QoS 1 publish on `mtr/v1/{meterId}/up/{channel}`. */
  publish(channel: UplinkChannel, payload: string): void;
}

/** Attacks on the eIM the simulator can stage (§5: results are verified, replays refused). */
export type InjectionKind = 'forgedResult' | 'replayedResult';

export type MeterEventBody =
  | { type: 'booted' }
  | {
      type: 'packageExecuted';
      eimTransactionId: string;
      counterValue: number;
      codes: PsmoResultCode[];
    }
  | {
      type: 'packageRejected';
      eimTransactionId?: string;
      reason: 'invalidSignature' | 'replayError' | 'eidMismatch' | 'malformed';
    }
  | { type: 'resultResent'; eimTransactionId: string }
  | { type: 'swapStarted'; fromIccid: string; toIccid: string; rollback: boolean }
  | { type: 'swapCompleted'; fromIccid: string; toIccid: string; eimTransactionId?: string }
  | { type: 'rolledBack'; fromIccid: string; toIccid: string; eimTransactionId: string }
  | { type: 'fallback'; fromIccid: string; toIccid: string }
  | { type: 'serviceLost'; iccid: string }
  | { type: 'serviceRestored'; iccid: string }
  | {
      type: 'downloadCompleted';
      eimTransactionId: string;
      iccid?: string;
      result: ProfileDownloadResult['result'];
    }
  | { type: 'downloadAbandoned'; eimTransactionId: string; error: string }
  | { type: 'resultInjected'; kind: InjectionKind; eimTransactionId: string }
  | { type: 'acknowledged'; seqNumbers: number[] }
  | { type: 'downlink'; messageType: EsipaDownlinkMessage['type'] }
  | { type: 'downlinkInvalid'; reason: string };
/** Something notable a meter did, for logs, statistics and tests. */
export type MeterEvent = { meterId: string; at: number } & MeterEventBody;
export type MeterEventType = MeterEvent['type'];

export interface MeterDeps {
  scheduler: Scheduler;
  link: MeterLink;
  timing: MeterTiming;
  catalogue: CarrierCatalogue;
  /** Service of a carrier where this meter stands, now. */
  coverage: (carrierId: string) => ServiceLevel;
  radioSite: (carrierId: string) => RadioSite;
  eimKeys: EimKeyring;
  deviceKey: KeyObject;
  /** The carriers' SM-DP+ (ES9+) for profile downloads. */
  smdp: SmdpEs9Client;
  /** Seeded randomness: radio jitter, consumption, attach and download times. */
  rng: Prng;
  onEvent?: (event: MeterEvent) => void;
}

export interface MeterCounters {
  messagesSent: number;
  bytesUp: number;
  messagesReceived: number;
  bytesDown: number;
}

export interface MeterStatus {
  meterId: string;
  online: boolean;
  attaching: boolean;
  enabledIccid: string;
  enabledCarrierId: string;
  service: ServiceLevel;
  seq: number;
  seqNumber: number;
  eimCounter: number;
  pendingSeqNumbers: number[];
  profiles: SimProfile[];
}

type ResultEntry = EimPackageResultPayload['results'][number];
type BootEvent = Extract<DeviceEventMessage, { type: 'boot' }>;
type NotificationsMessage = Extract<EsipaUplinkMessage, { type: 'notifications' }>;
type ResultMessage = Extract<EsipaUplinkMessage, { type: 'eimPackageResult' }>;
type DownloadItem = Extract<PendingItem, { kind: 'download' }>;
type ResultItem = Extract<PendingItem, { kind: 'result' }>;

interface AttachState {
  reason: 'eim' | 'fallback';
  previousIccid: string;
  targetIccid: string;
  /** The attach time has passed (set by its timer); from then on coverage decides. */
  attached: boolean;
  /** Set for enable with rollback: the result is decided when the attach succeeds or the window ends. */
  rollback?: {
    windowEndAt: number;
    eimTransactionId: string;
    counterValue: number;
    results: ResultEntry[];
  };
  /** Result of an enable without rollback, already pending: reported first after reconnecting. */
  eimTransactionId?: string;
}

const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class Meter {
  readonly meterId: string;
  readonly counters: MeterCounters = {
    messagesSent: 0,
    bytesUp: 0,
    messagesReceived: 0,
    bytesDown: 0,
  };
  private readonly rt: MeterRuntime;
  private readonly battery: boolean;
  private readonly timers = new Map<string, TimerHandle>();
  /** Bytes per iccid since the previous telemetry on that iccid. */
  private readonly usage = new Map<string, { up: number; down: number }>();
  /** When each pending seqNumber was last sent, and in which session. */
  private readonly lastSent = new Map<number, { epoch: number; at: number }>();
  private readonly downloadsInProgress = new Set<string>();
  private started = false;
  private stopped = false;
  private linkWanted = false;
  private linkUp = false;
  private awake = true;
  private bootPending = true;
  private reportDue = false;
  /** A local change to report first thing after the next connection. */
  private localChange: 'swap' | 'rollback' | undefined;
  private epoch = 0;
  private attach: AttachState | undefined;
  private noServiceSince: number | undefined;
  private inbox: { topic: string; payload: Buffer | string }[] = [];
  private forgeNextResult = false;

  constructor(
    readonly identity: MeterIdentity,
    runtime: MeterRuntime,
    private readonly deps: MeterDeps,
  ) {
    this.meterId = identity.meterId;
    this.rt = structuredClone(runtime);
    this.battery = isBatteryPowered(identity.kind);
    if (this.rt.profiles.filter((p) => p.state === 'enabled').length !== 1) {
      throw new Error(`${this.meterId}: exactly one profile must be enabled`);
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Power-on: boot event on the first connection, then regular reporting. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.recoverInterruptedSwap();
    this.bootPending = true;
    this.awake = true;
    const { reportIntervalMs } = this.deps.timing;
    // Spread the fleet's reports over the interval instead of all at once.
    this.setTimer('report', this.deps.rng.range(0.05, 1) * reportIntervalMs, () =>
      this.reportTick(),
    );
    if (this.battery) this.setTimer('sleep', this.deps.timing.awakeMs * 3, () => this.sleep());
    this.onCoverageChanged();
  }

  /** Stops all activity; `snapshot()` still gives the state to persist. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
    this.linkWanted = false;
    this.linkUp = false;
  }

  /** What the firmware and eUICC keep across a reboot. A swap still attaching counts as interrupted. */
  snapshot(): MeterRuntime {
    const runtime = structuredClone(this.rt);
    const rollback = this.attach?.rollback;
    if (this.attach && rollback) {
      runtime.interruptedSwap = {
        previousIccid: this.attach.previousIccid,
        targetIccid: this.attach.targetIccid,
        eimTransactionId: rollback.eimTransactionId,
        counterValue: rollback.counterValue,
        results: structuredClone(rollback.results),
      };
    }
    return runtime;
  }

  status(): MeterStatus {
    const enabled = this.enabledProfile();
    return {
      meterId: this.meterId,
      online: this.linkUp,
      attaching: this.attach !== undefined,
      enabledIccid: enabled.iccid,
      enabledCarrierId: enabled.carrierId,
      service: this.attach ? 'down' : this.deps.coverage(enabled.carrierId),
      seq: this.rt.seq,
      seqNumber: this.rt.seqNumber,
      eimCounter: this.rt.eimCounter,
      pendingSeqNumbers: this.rt.pending.map((p) => p.seqNumber),
      profiles: structuredClone(this.rt.profiles),
    };
  }

  get online(): boolean {
    return this.linkUp;
  }

  /**
   * Stages an attack on the eIM. `forgedResult`: the next package is not executed; instead a
   * success result for it, signed with a key that is not the device's, goes up (as if injected on
   * the way). `replayedResult`: the stored result of the last executed package is published again
   * as a new uplink message. Returns false when there is nothing to replay or no connection.
   */
  inject(kind: InjectionKind): boolean {
    if (kind === 'forgedResult') {
      this.forgeNextResult = true;
      return true;
    }
    const last = this.rt.executed.at(-1);
    if (!last || !this.canPublish()) return false;
    this.sendResult(last);
    this.emit({ type: 'resultInjected', kind, eimTransactionId: last.eimTransactionId });
    return true;
  }

  /** Polls now, as the IPA does after a failed operation or a local event. */
  pollNow(): boolean {
    if (!this.canPublish()) return false;
    this.sendPoll();
    return true;
  }

  // ---- inputs from the link and the world --------------------------------------------------------

  onConnected(): void {
    if (this.stopped || !this.linkWanted) return;
    this.linkUp = true;
    this.session();
  }

  onDisconnected(): void {
    this.linkUp = false;
  }

  /** Coverage may have changed (an outage started or ended): re-evaluate service and the link. */
  onCoverageChanged(): void {
    if (this.stopped || !this.started) return;
    const now = this.now();
    if (this.attach) {
      if (this.attach.attached) this.tryFinishAttach();
      return;
    }
    const enabled = this.enabledProfile();
    if (this.deps.coverage(enabled.carrierId) === 'down') {
      if (this.noServiceSince === undefined) {
        this.noServiceSince = now;
        this.emit({ type: 'serviceLost', iccid: enabled.iccid });
      }
      const dueAt = this.noServiceSince + this.deps.timing.fallbackDelayMs;
      if (now >= dueAt) {
        this.tryFallback();
        if (this.attach) return;
      } else {
        this.setTimer('fallback', dueAt - now, () => this.onCoverageChanged());
      }
    } else {
      if (this.noServiceSince !== undefined)
        this.emit({ type: 'serviceRestored', iccid: enabled.iccid });
      this.noServiceSince = undefined;
      this.cancelTimer('fallback');
    }
    this.reconcileLink();
  }

  onDownlink(topic: string, payload: Buffer | string): void {
    if (this.stopped) return;
    if (!this.canPublish()) {
      // Received (and acknowledged at MQTT level) just as the meter went quiet: handle it on the
      // next connection rather than lose it.
      if (this.inbox.length < MAX_INBOX) this.inbox.push({ topic, payload });
      return;
    }
    const text = typeof payload === 'string' ? payload : payload.toString('utf8');
    const bytes = Buffer.byteLength(text);
    this.counters.messagesReceived++;
    this.counters.bytesDown += bytes;
    this.usageOf(this.enabledProfile().iccid).down += bytes;
    if (topic !== downlinkEsipaTopic(this.meterId)) {
      this.emit({ type: 'downlinkInvalid', reason: `unexpected topic ${topic}` });
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.emit({ type: 'downlinkInvalid', reason: 'not JSON' });
      return;
    }
    const parsed = esipaDownlinkMessageSchema.safeParse(json);
    if (!parsed.success) {
      this.emit({ type: 'downlinkInvalid', reason: parsed.error.issues[0]?.message ?? 'invalid' });
      return;
    }
    const message = parsed.data;
    this.emit({ type: 'downlink', messageType: message.type });
    switch (message.type) {
      case 'eimPackage':
        this.handleEimPackage(message.jws);
        return;
      case 'profileDownloadTrigger':
        this.handleDownloadTrigger(message.eimTransactionId, message.activationCode);
        return;
      case 'eimAcknowledgements':
        this.acknowledge(message.seqNumbers);
        return;
      case 'noEimPackageAvailable':
        return;
    }
  }

  // ---- reporting ---------------------------------------------------------------------------------

  private reportTick(): void {
    this.setTimer('report', this.deps.timing.reportIntervalMs, () => this.reportTick());
    this.takeReading();
    if (this.battery) {
      this.reportDue = true;
      if (this.canPublish()) {
        this.session();
      } else {
        this.wake();
      }
      return;
    }
    if (this.canPublish()) {
      this.sendTelemetry();
      this.flushPending({ olderThanMs: this.deps.timing.retransmitAfterMs });
    }
  }

  private takeReading(): void {
    const { rng } = this.deps;
    const hours = this.identity.fieldReportIntervalS / 3600;
    const perHour =
      this.identity.kind === 'electricity'
        ? rng.range(150, 1500)
        : this.identity.kind === 'gas'
          ? rng.range(0, 250)
          : rng.range(2, 40);
    this.rt.register += Math.max(1, Math.round(perHour * hours));
    this.rt.readings.push({
      at: isoSeconds(this.now()),
      register: this.identity.kind === 'electricity' ? 'energy_import_wh' : 'volume_l',
      value: this.rt.register,
    });
    if (this.rt.readings.length > MAX_BUFFERED_READINGS)
      this.rt.readings.splice(0, this.rt.readings.length - MAX_BUFFERED_READINGS);
    this.drainBattery(0.01);
  }

  /** Everything a meter does when it has just reached the platform (connection or battery wake). */
  private session(): void {
    this.epoch++;
    if (this.bootPending) this.sendBoot();
    const change = this.localChange;
    this.localChange = undefined;
    if (change) this.flushPending({});
    if (change === 'swap' || this.reportDue) {
      this.reportDue = false;
      this.sendTelemetry();
    }
    this.sendPoll();
    this.flushPending({ skipSentThisSession: true });
    const inbox = this.inbox.splice(0);
    for (const message of inbox) this.onDownlink(message.topic, message.payload);
    if (this.battery) this.setTimer('sleep', this.deps.timing.awakeMs, () => this.sleep());
  }

  private sendBoot(): void {
    this.bootPending = false;
    this.send('events', (seq): BootEvent => ({
      v: 1,
      seq,
      sentAt: isoSeconds(this.now()),
      type: 'boot',
      fw: FIRMWARE_VERSION,
      eid: this.identity.eid,
      profiles: this.rt.profiles.map(({ iccid, state, fallback }) => ({ iccid, state, fallback })),
    }));
    this.emit({ type: 'booted' });
  }

  private sendTelemetry(): void {
    const profile = this.enabledProfile();
    const carrier = this.carrier(profile.carrierId);
    const level = this.deps.coverage(profile.carrierId);
    const sample = sampleRadio(
      level === 'degraded' ? 'degraded' : 'ok',
      this.deps.radioSite(profile.carrierId),
      this.deps.rng,
    );
    const used = this.usageOf(profile.iccid);
    const usage = { bytesUp: used.up, bytesDown: used.down };
    this.usage.set(profile.iccid, { up: 0, down: 0 });
    const readings: IntervalReading[] = this.rt.readings.splice(0);
    const batteryPct = this.rt.batteryPct;
    this.send(
      'telemetry',
      (seq): TelemetryMessage => ({
        v: 1,
        seq,
        sentAt: isoSeconds(this.now()),
        kind: this.identity.kind,
        readings,
        radio: {
          rat: 'nbiot',
          iccid: profile.iccid,
          plmn: carrier.plmns[0] ?? '00101',
          cellId: this.deps.radioSite(profile.carrierId).cellId,
          rsrp: sample.rsrp,
          rsrq: sample.rsrq,
          sinr: sample.sinr,
          attachFailures: sample.attachFailures,
        },
        ...(this.battery && batteryPct !== undefined ? { battery: { pct: batteryPct } } : {}),
        usage,
      }),
      this.identity.signedTelemetry,
    );
  }

  private sendPoll(): void {
    const cause = this.rt.stateChangeCause;
    this.rt.stateChangeCause = undefined;
    const plmn = this.carrier(this.enabledProfile().carrierId).plmns[0];
    this.send('esipa', (seq): GetEimPackage => ({
      v: 1,
      seq,
      type: 'getEimPackage',
      eid: this.identity.eid,
      ...(cause ? { notifyStateChange: true, stateChangeCause: cause } : {}),
      ...(plmn ? { rplmn: plmn } : {}),
    }));
  }

  /**
   * Sends pending results, download results and notifications (oldest seqNumber first;
   * notifications in a row travel in one message). They stay pending until acknowledged.
   */
  private flushPending(filter: {
    skipSentThisSession?: boolean;
    olderThanMs?: number;
    only?: number;
    /** Only items never sent yet. */
    newOnly?: boolean;
  }): void {
    if (!this.canPublish()) return;
    const now = this.now();
    const due = [...this.rt.pending]
      .sort((a, b) => a.seqNumber - b.seqNumber)
      .filter((item) => {
        if (filter.only !== undefined) return item.seqNumber === filter.only;
        const sent = this.lastSent.get(item.seqNumber);
        if (!sent) return true;
        if (filter.newOnly) return false;
        if (filter.skipSentThisSession && sent.epoch === this.epoch) return false;
        if (filter.olderThanMs !== undefined && now - sent.at < filter.olderThanMs) return false;
        return true;
      });
    let notifications: Extract<PendingItem, { kind: 'notification' }>[] = [];
    const flushNotifications = (): void => {
      for (let i = 0; i < notifications.length; i += MAX_NOTIFICATIONS_PER_MESSAGE) {
        const batch = notifications.slice(i, i + MAX_NOTIFICATIONS_PER_MESSAGE);
        this.send('esipa', (seq): NotificationsMessage => ({
          v: 1,
          seq,
          type: 'notifications',
          eid: this.identity.eid,
          notifications: batch.map(({ seqNumber, event, iccid, at }) => ({
            seqNumber,
            event,
            iccid,
            at,
          })),
        }));
      }
      notifications = [];
    };
    for (const item of due) {
      this.lastSent.set(item.seqNumber, { epoch: this.epoch, at: now });
      if (item.kind === 'notification') {
        notifications.push(item);
        continue;
      }
      flushNotifications();
      if (item.kind === 'result') this.sendResult(item);
      else this.sendDownloadResult(item);
    }
    flushNotifications();
  }

  private sendResult(item: Pick<ResultItem, 'jws'>): void {
    this.send('esipa', (seq): ResultMessage => ({
      v: 1,
      seq,
      type: 'eimPackageResult',
      jws: item.jws,
    }));
  }

  private sendDownloadResult(item: Omit<DownloadItem, 'kind'>): void {
    this.send('esipa', (seq): ProfileDownloadResult => ({
      v: 1,
      seq,
      type: 'profileDownloadResult',
      eimTransactionId: item.eimTransactionId,
      seqNumber: item.seqNumber,
      ...(item.iccid ? { iccid: item.iccid } : {}),
      result: item.result,
    }));
  }

  /** Every uplink message takes the next seq, shared by all three uplink topics (§1). */
  private send<T extends object>(
    channel: UplinkChannel,
    build: (seq: number) => T,
    sign = false,
  ): void {
    const seq = this.rt.seq + 1;
    this.rt.seq = seq;
    const message = build(seq);
    const payload = JSON.stringify(
      sign ? { jws: signCompact(message, this.deps.deviceKey, this.meterId) } : message,
    );
    const bytes = Buffer.byteLength(payload);
    this.deps.link.publish(channel, payload);
    this.counters.messagesSent++;
    this.counters.bytesUp += bytes;
    this.usageOf(this.enabledProfile().iccid).up += bytes;
  }

  private acknowledge(seqNumbers: readonly number[]): void {
    const acked = new Set(seqNumbers);
    const dropped = this.rt.pending.filter((p) => acked.has(p.seqNumber)).map((p) => p.seqNumber);
    this.rt.pending = this.rt.pending.filter((p) => !acked.has(p.seqNumber));
    for (const n of dropped) this.lastSent.delete(n);
    if (dropped.length > 0) this.emit({ type: 'acknowledged', seqNumbers: dropped });
  }

  // ---- SGP.32 packages ---------------------------------------------------------------------------

  private handleEimPackage(jws: string): void {
    // Read the claimed content first: a refused package is still answered with its own ids.
    const claimed = decodeUnverifiedPackage(jws);
    if (!claimed) {
      this.emit({ type: 'packageRejected', reason: 'malformed' });
      return;
    }
    const kid = peekHeader(jws)?.kid;
    const key = typeof kid === 'string' ? this.deps.eimKeys.get(kid) : undefined;
    const verified = key && typeof kid === 'string' ? verifyCompact(jws, key, kid) : undefined;
    if (!verified?.ok) {
      this.emit({
        type: 'packageRejected',
        eimTransactionId: claimed.eimTransactionId,
        reason: 'invalidSignature',
      });
      this.answerWholePackage(claimed, 'invalidSignature');
      return;
    }
    const parsed = eimPackagePayloadSchema.safeParse(verified.payload);
    if (!parsed.success) {
      this.emit({ type: 'packageRejected', reason: 'malformed' });
      return;
    }
    const pkg = parsed.data;
    if (pkg.eid !== this.identity.eid) {
      // Not addressed to this eUICC: a meter does not answer for another meter's EID.
      this.emit({
        type: 'packageRejected',
        eimTransactionId: pkg.eimTransactionId,
        reason: 'eidMismatch',
      });
      return;
    }
    if (this.forgeNextResult) {
      this.forgeNextResult = false;
      this.sendForgedResult(pkg);
      return;
    }
    const stored = this.rt.executed.find((e) => e.eimTransactionId === pkg.eimTransactionId);
    if (stored) {
      this.emit({ type: 'resultResent', eimTransactionId: pkg.eimTransactionId });
      if (this.rt.pending.some((p) => p.seqNumber === stored.seqNumber)) {
        this.flushPending({ only: stored.seqNumber });
      } else {
        this.sendResult(stored);
      }
      return;
    }
    if (this.attach?.rollback?.eimTransactionId === pkg.eimTransactionId) return;
    if (pkg.counterValue <= this.rt.eimCounter) {
      this.emit({
        type: 'packageRejected',
        eimTransactionId: pkg.eimTransactionId,
        reason: 'replayError',
      });
      this.answerWholePackage(pkg, 'replayError');
      return;
    }
    this.rt.eimCounter = pkg.counterValue;
    this.execute(pkg);
  }

  /** A success claimed for the package, signed with a stranger's key under this meter's kid. */
  private sendForgedResult(pkg: EimPackagePayload): void {
    const payload: EimPackageResultPayload = {
      eid: this.identity.eid,
      eimTransactionId: pkg.eimTransactionId,
      counterValue: pkg.counterValue,
      // Outside the meter's own numbering, so that acknowledging it touches nothing real.
      seqNumber: 0,
      results: pkg.psmoList.map((psmo) => ({
        op: psmo.op,
        ...('iccid' in psmo ? { iccid: psmo.iccid } : {}),
        code: 'ok' as const,
      })),
      rolledBack: false,
    };
    const strangerKey = privateKeyFromJwk(generateEcKeyPair().privateJwk);
    this.sendResult({ jws: signCompact(payload, strangerKey, this.meterId) });
    this.emit({
      type: 'resultInjected',
      kind: 'forgedResult',
      eimTransactionId: pkg.eimTransactionId,
    });
  }

  /** Whole-package errors: one result entry, for the package's first PSMO, nothing executed. */
  private answerWholePackage(
    pkg: EimPackagePayload,
    code: 'invalidSignature' | 'replayError',
  ): void {
    const first = pkg.psmoList[0];
    const results: ResultEntry[] = first
      ? [{ op: first.op, ...('iccid' in first ? { iccid: first.iccid } : {}), code }]
      : [];
    const item = this.createResult(pkg.eimTransactionId, pkg.counterValue, results, false);
    this.flushPending({ only: item.seqNumber });
  }

  private execute(pkg: EimPackagePayload): void {
    const results: ResultEntry[] = [];
    let swap: { previousIccid: string; targetIccid: string; rollback: boolean } | undefined;
    for (const psmo of pkg.psmoList) {
      const outcome = this.applyPsmo(psmo, swap !== undefined);
      if (outcome.swap) swap = outcome.swap;
      results.push({
        op: psmo.op,
        ...('iccid' in psmo ? { iccid: psmo.iccid } : {}),
        code: outcome.code,
      });
      if (outcome.code !== 'ok') break;
    }
    this.emit({
      type: 'packageExecuted',
      eimTransactionId: pkg.eimTransactionId,
      counterValue: pkg.counterValue,
      codes: results.map((r) => r.code),
    });
    if (swap?.rollback) {
      this.startAttach({
        reason: 'eim',
        previousIccid: swap.previousIccid,
        targetIccid: swap.targetIccid,
        rollback: {
          windowEndAt: this.now() + this.deps.timing.rollbackWindowMs,
          eimTransactionId: pkg.eimTransactionId,
          counterValue: pkg.counterValue,
          results,
        },
      });
      return;
    }
    const item = this.createResult(pkg.eimTransactionId, pkg.counterValue, results, false);
    this.remember(pkg.eimTransactionId, item);
    if (swap) {
      // Without rollback the result waits until the meter reaches the platform on the new profile.
      this.startAttach({
        reason: 'eim',
        previousIccid: swap.previousIccid,
        targetIccid: swap.targetIccid,
        eimTransactionId: pkg.eimTransactionId,
      });
    } else {
      this.flushPending({ only: item.seqNumber });
    }
  }

  private applyPsmo(
    psmo: Psmo,
    alreadySwapping: boolean,
  ): {
    code: PsmoResultCode;
    swap?: { previousIccid: string; targetIccid: string; rollback: boolean };
  } {
    switch (psmo.op) {
      case 'enable': {
        const target = this.profile(psmo.iccid);
        if (!target) return { code: 'iccidOrAidNotFound' };
        if (target.state === 'enabled') return { code: 'profileNotInDisabledState' };
        if (alreadySwapping) return { code: 'disallowedByPolicy' };
        if (this.battery && (this.rt.batteryPct ?? 100) < LOW_BATTERY_PCT)
          return { code: 'catBusy' };
        const previous = this.enabledProfile();
        previous.state = 'disabled';
        target.state = 'enabled';
        return {
          code: 'ok',
          swap: {
            previousIccid: previous.iccid,
            targetIccid: target.iccid,
            rollback: psmo.rollback,
          },
        };
      }
      case 'disable': {
        const target = this.profile(psmo.iccid);
        if (!target) return { code: 'iccidOrAidNotFound' };
        // Disabling the enabled profile would leave the meter with none; switching is `enable`'s job.
        if (target.state === 'enabled') return { code: 'disallowedByPolicy' };
        return { code: 'ok' };
      }
      case 'delete': {
        const target = this.profile(psmo.iccid);
        if (!target) return { code: 'iccidOrAidNotFound' };
        if (target.state === 'enabled') return { code: 'profileNotInDisabledState' };
        if (target.fallback) return { code: 'disallowedByPolicy' };
        this.rt.profiles = this.rt.profiles.filter((p) => p.iccid !== psmo.iccid);
        return { code: 'ok' };
      }
      case 'listProfileInfo':
        return { code: 'ok' };
      case 'setFallbackAttribute': {
        const target = this.profile(psmo.iccid);
        if (!target) return { code: 'iccidOrAidNotFound' };
        for (const p of this.rt.profiles) p.fallback = p.iccid === psmo.iccid;
        return { code: 'ok' };
      }
      case 'unsetFallbackAttribute':
        for (const p of this.rt.profiles) p.fallback = false;
        return { code: 'ok' };
    }
  }

  private createResult(
    eimTransactionId: string,
    counterValue: number,
    results: ResultEntry[],
    rolledBack: boolean,
  ): ResultItem {
    const seqNumber = ++this.rt.seqNumber;
    const payload: EimPackageResultPayload = {
      eid: this.identity.eid,
      eimTransactionId,
      counterValue,
      seqNumber,
      results,
      rolledBack,
    };
    const item: ResultItem = {
      kind: 'result',
      seqNumber,
      eimTransactionId,
      jws: signCompact(payload, this.deps.deviceKey, this.meterId),
    };
    this.rt.pending.push(item);
    return item;
  }

  private remember(eimTransactionId: string, item: ResultItem): void {
    this.rt.executed.push({ eimTransactionId, seqNumber: item.seqNumber, jws: item.jws });
    if (this.rt.executed.length > MAX_REMEMBERED_TRANSACTIONS) this.rt.executed.shift();
  }

  // ---- profile switches: attach, rollback, fallback ----------------------------------------------

  private startAttach(state: Omit<AttachState, 'attached'>): void {
    const [min, max] = this.deps.timing.attachMs;
    const attachMs = this.deps.rng.range(min, max);
    const attach: AttachState = { ...state, attached: false };
    this.attach = attach;
    this.noServiceSince = undefined;
    this.cancelTimer('fallback');
    this.drainBattery(0.2);
    this.emit({
      type: 'swapStarted',
      fromIccid: state.previousIccid,
      toIccid: state.targetIccid,
      rollback: state.rollback !== undefined,
    });
    this.reconcileLink();
    this.setTimer('attach', attachMs, () => {
      attach.attached = true;
      this.tryFinishAttach();
    });
    if (state.rollback)
      this.setTimer('rollbackWindow', state.rollback.windowEndAt - this.now(), () =>
        this.rollBack(),
      );
  }

  private tryFinishAttach(): void {
    const attach = this.attach;
    if (!attach?.attached) return;
    const target = this.profile(attach.targetIccid);
    const reached = target !== undefined && this.deps.coverage(target.carrierId) !== 'down';
    if (!reached && attach.rollback) return; // keep trying until coverage changes or the window ends
    this.attach = undefined;
    this.cancelTimer('rollbackWindow');
    if (attach.reason === 'eim') this.localChange = 'swap';
    if (attach.rollback) {
      const { eimTransactionId, counterValue, results } = attach.rollback;
      this.remember(
        eimTransactionId,
        this.createResult(eimTransactionId, counterValue, results, false),
      );
    }
    const eimTransactionId = attach.rollback?.eimTransactionId ?? attach.eimTransactionId;
    if (reached && attach.reason === 'eim') {
      this.emit({
        type: 'swapCompleted',
        fromIccid: attach.previousIccid,
        toIccid: attach.targetIccid,
        ...(eimTransactionId ? { eimTransactionId } : {}),
      });
    }
    this.awake = true;
    // Without service on the new profile (no rollback asked), ordinary no-service handling applies.
    this.onCoverageChanged();
  }

  /** The rollback window ended before the meter reached the platform: back to the previous profile. */
  private rollBack(): void {
    const attach = this.attach;
    if (!attach?.rollback) return;
    this.cancelTimer('attach');
    this.attach = undefined;
    const target = this.profile(attach.targetIccid);
    const previous = this.profile(attach.previousIccid);
    if (target && previous) {
      target.state = 'disabled';
      previous.state = 'enabled';
    }
    this.reportRollback(attach.previousIccid, attach.targetIccid, attach.rollback);
    this.awake = true;
    this.onCoverageChanged();
  }

  private reportRollback(
    previousIccid: string,
    targetIccid: string,
    swap: { eimTransactionId: string; counterValue: number; results: ResultEntry[] },
  ): void {
    this.remember(
      swap.eimTransactionId,
      this.createResult(swap.eimTransactionId, swap.counterValue, swap.results, true),
    );
    this.rt.pending.push({
      kind: 'notification',
      seqNumber: ++this.rt.seqNumber,
      event: 'rollback',
      iccid: previousIccid,
      at: isoSeconds(this.now()),
    });
    this.localChange = 'rollback';
    this.emit({
      type: 'rolledBack',
      fromIccid: targetIccid,
      toIccid: previousIccid,
      eimTransactionId: swap.eimTransactionId,
    });
  }

  /** A reboot during an attach with rollback: the eUICC falls back to the previous profile. */
  private recoverInterruptedSwap(): void {
    const swap = this.rt.interruptedSwap;
    if (!swap) return;
    this.rt.interruptedSwap = undefined;
    const target = this.profile(swap.targetIccid);
    const previous = this.profile(swap.previousIccid);
    if (target && previous) {
      target.state = 'disabled';
      previous.state = 'enabled';
    }
    this.reportRollback(swap.previousIccid, swap.targetIccid, swap);
  }

  /** §4.3 fallback: no service for fallbackDelay and a fallback profile with service. */
  private tryFallback(): void {
    if (this.attach) return;
    const enabled = this.enabledProfile();
    if (this.deps.coverage(enabled.carrierId) !== 'down') return;
    const candidate = this.rt.profiles.find(
      (p) => p.fallback && p.state === 'disabled' && this.deps.coverage(p.carrierId) !== 'down',
    );
    if (!candidate) return;
    enabled.state = 'disabled';
    candidate.state = 'enabled';
    this.rt.pending.push({
      kind: 'notification',
      seqNumber: ++this.rt.seqNumber,
      event: 'fallback',
      iccid: candidate.iccid,
      at: isoSeconds(this.now()),
    });
    this.rt.stateChangeCause = 'fallback';
    this.emit({ type: 'fallback', fromIccid: enabled.iccid, toIccid: candidate.iccid });
    this.startAttach({
      reason: 'fallback',
      previousIccid: enabled.iccid,
      targetIccid: candidate.iccid,
    });
  }

  // ---- profile download --------------------------------------------------------------------------

  /**
   * §4.1 profileDownloadTrigger: the LPA fetches the profile from the SM-DP+ named in the
   * activation code (ES9+), the eUICC installs it disabled, and the meter reports the download
   * result followed by an `install` notification.
   */
  private handleDownloadTrigger(eimTransactionId: string, activationCode: string): void {
    const done = this.rt.downloads.find((d) => d.eimTransactionId === eimTransactionId);
    if (done) {
      if (this.rt.pending.some((p) => p.seqNumber === done.seqNumber))
        this.flushPending({ only: done.seqNumber });
      else this.sendDownloadResult(done);
      return;
    }
    if (this.downloadsInProgress.has(eimTransactionId)) return;
    const code = parseActivationCode(activationCode);
    const carrier = code ? this.carrierBySmdp(code.smdpAddress) : undefined;
    if (!code || !carrier) {
      this.finishDownload(eimTransactionId, { result: 'noEligibleProfile' });
      return;
    }
    if (code.matchingId === '') {
      this.finishDownload(eimTransactionId, { result: 'matchingIdRefused' });
      return;
    }
    // A download costs a battery meter far more than an enable: refused on a low battery.
    if (this.battery && (this.rt.batteryPct ?? 100) < LOW_BATTERY_PCT) {
      this.finishDownload(eimTransactionId, { result: 'catBusy' });
      return;
    }
    if (this.rt.profiles.length >= MAX_PROFILES) {
      this.finishDownload(eimTransactionId, { result: 'insufficientMemory' });
      return;
    }
    this.downloadsInProgress.add(eimTransactionId);
    const [min, max] = this.deps.timing.downloadMs;
    const doneAt = this.now() + this.deps.rng.range(min, max);
    this.requestProfile(eimTransactionId, carrier, code.matchingId, doneAt, 1);
  }

  private requestProfile(
    eimTransactionId: string,
    carrier: Carrier,
    matchingId: string,
    doneAt: number,
    attempt: number,
  ): void {
    const { smdp } = this.deps;
    smdp
      .downloadProfile(carrier.carrierId, { eid: this.identity.eid, matchingId })
      .catch((error: unknown): SmdpDownloadOutcome => ({
        kind: 'transient',
        retryAfterMs: 1_000,
        error: error instanceof Error ? error.message : String(error),
      }))
      .then((outcome) => {
        if (this.stopped) return;
        if (outcome.kind === 'transient') {
          if (attempt >= MAX_DOWNLOAD_ATTEMPTS) {
            // Nothing in §4.2 says "SM-DP+ unreachable": the platform sees no result and may
            // trigger again (a new trigger starts over).
            this.downloadsInProgress.delete(eimTransactionId);
            this.emit({ type: 'downloadAbandoned', eimTransactionId, error: outcome.error });
            return;
          }
          this.setTimer(`download:${eimTransactionId}`, outcome.retryAfterMs, () =>
            this.requestProfile(eimTransactionId, carrier, matchingId, doneAt, attempt + 1),
          );
          return;
        }
        this.setTimer(`download:${eimTransactionId}`, Math.max(0, doneAt - this.now()), () =>
          this.finishDownload(
            eimTransactionId,
            outcome.kind === 'installed'
              ? { result: 'installed', iccid: outcome.iccid, carrierId: carrier.carrierId }
              : { result: outcome.reason },
          ),
        );
      })
      .catch((error: unknown) =>
        this.emit({
          type: 'downlinkInvalid',
          reason: `download failed: ${error instanceof Error ? error.message : String(error)}`,
        }),
      );
  }

  private finishDownload(
    eimTransactionId: string,
    outcome:
      | { result: 'installed'; iccid: string; carrierId: string }
      | { result: Exclude<ProfileDownloadResult['result'], 'installed'> },
  ): void {
    this.downloadsInProgress.delete(eimTransactionId);
    let iccid: string | undefined;
    if (outcome.result === 'installed') {
      iccid = outcome.iccid;
      if (!this.profile(iccid)) {
        this.rt.profiles.push({
          iccid,
          carrierId: outcome.carrierId,
          state: 'disabled',
          fallback: false,
        });
      }
      this.rt.downloadsInstalled++;
      this.drainBattery(1);
    }
    const item: DownloadItem = {
      kind: 'download',
      seqNumber: ++this.rt.seqNumber,
      eimTransactionId,
      result: outcome.result,
      ...(iccid ? { iccid } : {}),
    };
    this.rt.pending.push(item);
    if (iccid) {
      this.rt.pending.push({
        kind: 'notification',
        seqNumber: ++this.rt.seqNumber,
        event: 'install',
        iccid,
        at: isoSeconds(this.now()),
      });
    }
    this.rt.downloads.push({
      eimTransactionId,
      seqNumber: item.seqNumber,
      result: outcome.result,
      ...(iccid ? { iccid } : {}),
    });
    if (this.rt.downloads.length > MAX_REMEMBERED_TRANSACTIONS) this.rt.downloads.shift();
    this.emit({
      type: 'downloadCompleted',
      eimTransactionId,
      result: outcome.result,
      ...(iccid ? { iccid } : {}),
    });
    this.flushPending({ newOnly: true });
  }

  private carrierBySmdp(address: string): Carrier | undefined {
    const host = address.toLowerCase();
    const bySmdp = this.deps.catalogue.carriers.find((c) => c.smdpAddress.toLowerCase() === host);
    if (bySmdp) return bySmdp;
    const carrierId = /^smdp\.([a-z0-9-]+)\.example$/.exec(host)?.[1];
    return this.deps.catalogue.carriers.find((c) => c.carrierId === carrierId);
  }

  // ---- link and power ----------------------------------------------------------------------------

  /** Connected exactly when the enabled profile has service, no attach is running and (battery) awake. */
  private reconcileLink(): void {
    const service = this.attach ? 'down' : this.deps.coverage(this.enabledProfile().carrierId);
    const want = !this.stopped && service !== 'down' && (!this.battery || this.awake);
    if (want && !this.linkWanted) {
      this.linkWanted = true;
      this.deps.link.connect();
    } else if (!want && this.linkWanted) {
      this.linkWanted = false;
      this.linkUp = false;
      this.deps.link.disconnect(service === 'down' ? 'abrupt' : 'graceful');
    }
  }

  private wake(): void {
    this.awake = true;
    // Give up on this wake-up if the platform cannot be reached for a while; try again next report.
    this.setTimer('sleep', this.deps.timing.awakeMs * 3, () => this.sleep());
    this.reconcileLink();
  }

  private sleep(): void {
    if (!this.battery) return;
    this.awake = false;
    this.reconcileLink();
  }

  private canPublish(): boolean {
    return this.linkUp && !this.attach && !this.stopped;
  }

  // ---- helpers -----------------------------------------------------------------------------------

  private enabledProfile(): SimProfile {
    const enabled = this.rt.profiles.find((p) => p.state === 'enabled');
    if (!enabled) throw new Error(`${this.meterId}: no enabled profile`);
    return enabled;
  }

  private profile(iccid: string): SimProfile | undefined {
    return this.rt.profiles.find((p) => p.iccid === iccid);
  }

  private carrier(carrierId: string): Carrier {
    const carrier = this.deps.catalogue.carriers.find((c) => c.carrierId === carrierId);
    if (!carrier) throw new Error(`${this.meterId}: carrier ${carrierId} is not in the catalogue`);
    return carrier;
  }

  private usageOf(iccid: string): { up: number; down: number } {
    let usage = this.usage.get(iccid);
    if (!usage) {
      usage = { up: 0, down: 0 };
      this.usage.set(iccid, usage);
    }
    return usage;
  }

  private drainBattery(pct: number): void {
    if (this.rt.batteryPct === undefined) return;
    this.rt.batteryPct = Math.max(0, Math.round((this.rt.batteryPct - pct) * 100) / 100);
  }

  private now(): number {
    return this.deps.scheduler.now();
  }

  private setTimer(name: string, delayMs: number, fn: () => void): void {
    this.timers.get(name)?.cancel();
    const handle = this.deps.scheduler.setTimer(delayMs, () => {
      if (this.timers.get(name) === handle) this.timers.delete(name);
      if (!this.stopped) fn();
    });
    this.timers.set(name, handle);
  }

  private cancelTimer(name: string): void {
    this.timers.get(name)?.cancel();
    this.timers.delete(name);
  }

  private emit(event: MeterEventBody): void {
    this.deps.onEvent?.({ meterId: this.meterId, at: this.now(), ...event });
  }
}

/** The package as claimed, before any signature check (used only to address an error result). */
function decodeUnverifiedPackage(jws: string): EimPackagePayload | undefined {
  const body = jws.split('.')[1];
  if (body === undefined) return undefined;
  try {
    const parsed = eimPackagePayloadSchema.safeParse(
      JSON.parse(Buffer.from(body, 'base64url').toString('utf8')),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
