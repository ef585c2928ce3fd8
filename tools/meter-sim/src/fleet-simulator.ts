import { DEFAULT_SMDP_URL_TEMPLATE } from '@meterlink/contracts';
import { privateKeyFromJwk } from '@meterlink/jws';
import { createLogger, type Logger } from '@meterlink/observability';
import { ServiceModel, radioSite, type OutageEdge } from './coverage';
import { keyringFromJwks, loadEimKeyring, type EimKeyring, type Jwks } from './eim-keys';
import { loadFleetState, saveFleetState } from './fleet';
import type { FleetState, FleetStateMeter } from './fleet-state';
import {
  Meter,
  type InjectionKind,
  type MeterEvent,
  type MeterStatus,
  type MeterTiming,
} from './meter';
import { MqttGateway } from './gateway-link';
import { MqttMeterLink, type SimLink } from './mqtt-link';
import { Prng } from './prng';
import { RealScheduler, type Scheduler, type TimerHandle } from './scheduler';
import { toRealMs, type Scenario } from './scenario';
import { HttpSmdpClient, type SmdpEs9Client } from './smdp-client';

export interface FleetSimulatorOptions {
  scenario: Scenario;
  /** Directory holding fleet-state.json (written by `generate`); updated as the fleet runs. */
  stateDir: string;
  mqttUrl: string;
  /** eIM public keys: an http(s) URL or file path of a JWKS document, the document, or a keyring. */
  eimJwks: string | Jwks | EimKeyring;
  /** Real seconds to run; default scenario.durationS / speedup; 0 runs until stop(). */
  durationS?: number;
  summaryIntervalMs?: number;
  /** How often the fleet state is saved while running (it is always saved on stop). */
  persistIntervalMs?: number;
  /** start() waits at most this long for every meter with coverage to connect and boot. */
  startTimeoutMs?: number;
  sessionExpiryS?: number;
  scheduler?: Scheduler;
  /**
   * Where the carriers' SM-DP+ live for profile downloads (`{carrierId}` replaced); default
   * `SMDP_URL_TEMPLATE` from the environment, else http://127.0.0.1:3090/{carrierId}.
   */
  smdpUrlTemplate?: string;
  /**
   * Many meters per MQTT connection (benchmarks): a broker identity allowed to publish every
   * meter's `up/` and receive every meter's `down/`, and how many connections to share.
   */
  gateway?: { username: string; password: string; connections: number };
  /** Replaces the ES9+ client altogether (tests). */
  smdp?: SmdpEs9Client;
  /** Replaces the MQTT connection (tests, other transports). */
  linkFactory?: (meter: FleetStateMeter) => SimLink;
  logger?: Logger;
}

export interface FleetStats {
  running: boolean;
  fieldTimeS: number;
  metersTotal: number;
  metersConnected: number;
  metersBooted: number;
  messagesSent: number;
  messagesReceived: number;
  bytesUp: number;
  packagesExecuted: number;
  packagesRejected: number;
  resultsResent: number;
  swapsCompleted: number;
  rollbacks: number;
  fallbacks: number;
  downloads: number;
  downloadsAbandoned: number;
  resultsInjected: number;
  pendingItems: number;
  connectErrors: number;
}

type EventCounters = Pick<
  FleetStats,
  | 'packagesExecuted'
  | 'packagesRejected'
  | 'resultsResent'
  | 'swapsCompleted'
  | 'rollbacks'
  | 'fallbacks'
  | 'downloads'
  | 'downloadsAbandoned'
  | 'resultsInjected'
>;

interface SimMeter {
  meter: Meter;
  link: SimLink;
  config: FleetStateMeter;
}

/**
 * Runs a generated fleet against an MQTT broker on the scenario's compressed clock: one Meter and
 * one connection per meter, outages switched on and off at their (field) times.
 */
export class FleetSimulator {
  private readonly log: Logger;
  private readonly scheduler: Scheduler;
  private readonly service: ServiceModel;
  private readonly smdp: SmdpEs9Client;
  private gateway: MqttGateway | undefined;
  private readonly listeners = new Set<(event: MeterEvent) => void>();
  private readonly counters: EventCounters = {
    packagesExecuted: 0,
    packagesRejected: 0,
    resultsResent: 0,
    swapsCompleted: 0,
    rollbacks: 0,
    fallbacks: 0,
    downloads: 0,
    downloadsAbandoned: 0,
    resultsInjected: 0,
  };
  private readonly booted = new Set<string>();
  private readonly timers: TimerHandle[] = [];
  private meters: SimMeter[] = [];
  private state: FleetState | undefined;
  private startMs = 0;
  private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;
  private persisting: Promise<void> = Promise.resolve();
  private resolveFinished: () => void = () => undefined;
  private readonly finishedPromise = new Promise<void>((resolve) => {
    this.resolveFinished = resolve;
  });

  constructor(private readonly options: FleetSimulatorOptions) {
    this.log = options.logger ?? createLogger('meter-sim');
    this.scheduler = options.scheduler ?? new RealScheduler();
    this.service = new ServiceModel(options.scenario.outages);
    this.smdp =
      options.smdp ??
      new HttpSmdpClient(
        options.smdpUrlTemplate ?? process.env.SMDP_URL_TEMPLATE ?? DEFAULT_SMDP_URL_TEMPLATE,
      );
  }

  /** Loads the fleet state, connects every meter and resolves once those with coverage have booted. */
  async start(): Promise<FleetStats> {
    if (this.phase !== 'new') throw new Error('a FleetSimulator starts once');
    this.phase = 'starting';
    const { scenario } = this.options;
    const state = await loadFleetState(this.options.stateDir);
    if (state.scenario !== scenario.name || state.speedup !== scenario.speedup) {
      this.log.warn(
        {
          stateScenario: state.scenario,
          stateSpeedup: state.speedup,
          scenario: scenario.name,
          speedup: scenario.speedup,
        },
        'fleet state was generated from another scenario; its manifest timings may not match',
      );
    }
    if (!this.options.gateway && state.meters.length > scenario.maxConnections) {
      throw new Error(
        `fleet has ${state.meters.length} meters, above maxConnections ${scenario.maxConnections} (one MQTT connection per meter)`,
      );
    }
    const keyring = await this.resolveKeyring();
    if (this.stopping) return this.stats();
    this.state = state;
    this.startMs = this.scheduler.now();
    this.meters = state.meters.map((config) => this.createMeter(config, keyring));
    this.scheduleOutages();
    this.scheduleInjections();
    for (const { meter } of this.meters) meter.start();
    this.phase = 'running';

    this.every(this.options.summaryIntervalMs ?? 5_000, () =>
      this.log.info(this.stats(), 'fleet summary'),
    );
    this.every(this.options.persistIntervalMs ?? 30_000, () => void this.persist());
    const durationS = this.options.durationS ?? scenario.durationS / scenario.speedup;
    if (durationS > 0) {
      this.timers.push(this.scheduler.setTimer(durationS * 1000, () => void this.stop()));
    }
    this.log.info(
      {
        scenario: scenario.name,
        meters: this.meters.length,
        speedup: scenario.speedup,
        durationS,
        mqttUrl: this.options.mqttUrl,
      },
      'fleet started',
    );
    await this.waitForBoot(this.options.startTimeoutMs ?? 15_000);
    return this.stats();
  }

  /** Disconnects every meter, saves the fleet state; idempotent. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.shutdown();
    return this.stopping;
  }

  /** Resolves once the simulator has stopped (duration elapsed or stop()). */
  finished(): Promise<void> {
    return this.finishedPromise;
  }

  onEvent(listener: (event: MeterEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): FleetStats {
    let metersConnected = 0;
    let messagesSent = 0;
    let messagesReceived = 0;
    let bytesUp = 0;
    let pendingItems = 0;
    let connectErrors = 0;
    for (const { meter, link } of this.meters) {
      if (meter.online) metersConnected++;
      messagesSent += meter.counters.messagesSent;
      messagesReceived += meter.counters.messagesReceived;
      bytesUp += meter.counters.bytesUp;
      pendingItems += meter.status().pendingSeqNumbers.length;
      connectErrors += link.connectErrors;
    }
    connectErrors += this.gateway?.connectErrors ?? 0;
    return {
      running: this.phase === 'running',
      fieldTimeS: Math.round(this.fieldTimeS()),
      metersTotal: this.meters.length,
      metersConnected,
      metersBooted: this.booted.size,
      messagesSent,
      messagesReceived,
      bytesUp,
      ...this.counters,
      pendingItems,
      connectErrors,
    };
  }

  meterStatus(meterId: string): MeterStatus | undefined {
    return this.meters.find((m) => m.meter.meterId === meterId)?.meter.status();
  }

  meterStatuses(): MeterStatus[] {
    return this.meters.map((m) => m.meter.status());
  }

  /** Stages an attack through one meter (see Meter.inject); false if it could not be staged. */
  inject(meterId: string, kind: InjectionKind): boolean {
    return this.meterById(meterId).inject(kind);
  }

  /** Makes one meter poll now; false while it has no connection. */
  poll(meterId: string): boolean {
    return this.meterById(meterId).pollNow();
  }

  private meterById(meterId: string): Meter {
    const found = this.meters.find((m) => m.meter.meterId === meterId);
    if (!found) throw new Error(`no meter ${meterId} in this fleet`);
    return found.meter;
  }

  /** Field seconds since start: real elapsed time times speedup. */
  fieldTimeS(): number {
    if (this.phase === 'new') return 0;
    return ((this.scheduler.now() - this.startMs) / 1000) * this.options.scenario.speedup;
  }

  private createMeter(config: FleetStateMeter, eimKeys: EimKeyring): SimMeter {
    const { scenario } = this.options;
    const gatewayOptions = this.options.gateway;
    if (gatewayOptions && !this.gateway && !this.options.linkFactory) {
      this.gateway = new MqttGateway({
        url: this.options.mqttUrl,
        ...gatewayOptions,
        logger: this.log,
      });
    }
    const link =
      this.options.linkFactory?.(config) ??
      this.gateway?.linkFor(config.meterId) ??
      new MqttMeterLink({
        url: this.options.mqttUrl,
        meterId: config.meterId,
        password: config.mqttPassword,
        logger: this.log,
        ...(this.options.sessionExpiryS !== undefined
          ? { sessionExpiryS: this.options.sessionExpiryS }
          : {}),
      });
    const realRange = ([min, max]: readonly [number, number]): [number, number] => [
      toRealMs(min, scenario.speedup),
      toRealMs(max, scenario.speedup),
    ];
    const timing: MeterTiming = {
      reportIntervalMs: config.reportIntervalS * 1000,
      rollbackWindowMs: config.rollbackWindowS * 1000,
      fallbackDelayMs: config.fallbackDelayS * 1000,
      attachMs: realRange(scenario.attachS),
      downloadMs: realRange(scenario.downloadS),
      awakeMs: Math.max(2_000, toRealMs(scenario.awakeS, scenario.speedup)),
      retransmitAfterMs: Math.max(1_000, toRealMs(scenario.retransmitS, scenario.speedup)),
    };
    const sites = new Map<string, ReturnType<typeof radioSite>>();
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
        scheduler: this.scheduler,
        link,
        timing,
        catalogue: scenario.catalogue,
        coverage: (carrierId) => this.service.levelAt(carrierId, config.region, this.fieldTimeS()),
        radioSite: (carrierId) => {
          let site = sites.get(carrierId);
          if (!site) {
            site = radioSite(scenario.seed, config.meterId, carrierId);
            sites.set(carrierId, site);
          }
          return site;
        },
        eimKeys,
        deviceKey: privateKeyFromJwk(config.deviceKey),
        smdp: this.smdp,
        // Seeded per run (seq moves on between runs), so a rerun does not replay the same radio.
        rng: Prng.derive(scenario.seed, config.meterId, 'run', config.runtime.seq),
        onEvent: (event) => this.handleEvent(event),
      },
    );
    link.bind(meter);
    return { meter, link, config };
  }

  private scheduleOutages(): void {
    const { speedup } = this.options.scenario;
    for (const edge of this.service.edges()) {
      const delayMs = toRealMs(edge.fieldS, speedup);
      if (edge.fieldS <= 0) {
        this.logOutage(edge);
        continue;
      }
      this.timers.push(
        this.scheduler.setTimer(delayMs, () => {
          this.logOutage(edge);
          for (const { meter, config } of this.meters) {
            if (edge.outage.region === undefined || edge.outage.region === config.region)
              meter.onCoverageChanged();
          }
        }),
      );
    }
  }

  private scheduleInjections(): void {
    const { speedup, injections } = this.options.scenario;
    for (const injection of injections) {
      this.timers.push(
        this.scheduler.setTimer(toRealMs(injection.atS, speedup), () => {
          const chosen = this.meters
            .filter(
              ({ meter, config }) =>
                (injection.region === undefined || injection.region === config.region) &&
                (injection.carrierId === undefined ||
                  injection.carrierId === meter.status().enabledCarrierId),
            )
            .slice(0, injection.count);
          for (const { meter } of chosen) {
            if (!meter.inject(injection.kind))
              this.log.warn(
                { meterId: meter.meterId, kind: injection.kind },
                'injection not staged (nothing to replay, or no connection)',
              );
          }
        }),
      );
    }
  }

  private logOutage(edge: OutageEdge): void {
    const { carrierId, region, mode, fromS, toS } = edge.outage;
    if (edge.edge === 'flip') {
      this.log.debug({ carrierId, region: region ?? '*', fieldS: edge.fieldS }, 'outage flips');
      return;
    }
    this.log.warn(
      {
        carrierId,
        region: region ?? '*',
        mode,
        fromS,
        toS,
        fieldTimeS: Math.round(this.fieldTimeS()),
      },
      edge.edge === 'start' ? 'outage started' : 'outage ended',
    );
  }

  private handleEvent(event: MeterEvent): void {
    const { meterId } = event;
    switch (event.type) {
      case 'booted':
        this.booted.add(meterId);
        this.log.debug({ meterId }, 'meter booted');
        break;
      case 'packageExecuted':
        this.counters.packagesExecuted++;
        this.log.info(
          {
            meterId,
            eimTransactionId: event.eimTransactionId,
            counterValue: event.counterValue,
            codes: event.codes,
          },
          'package executed',
        );
        break;
      case 'packageRejected':
        this.counters.packagesRejected++;
        this.log.warn(
          { meterId, eimTransactionId: event.eimTransactionId, reason: event.reason },
          'package rejected',
        );
        break;
      case 'resultResent':
        this.counters.resultsResent++;
        this.log.info(
          { meterId, eimTransactionId: event.eimTransactionId },
          'package seen before: stored result re-sent',
        );
        break;
      case 'swapStarted':
        this.log.info(
          { meterId, fromIccid: event.fromIccid, toIccid: event.toIccid, rollback: event.rollback },
          'profile switch: attaching',
        );
        break;
      case 'swapCompleted':
        this.counters.swapsCompleted++;
        this.log.info(
          {
            meterId,
            fromIccid: event.fromIccid,
            toIccid: event.toIccid,
            eimTransactionId: event.eimTransactionId,
          },
          'swap executed',
        );
        break;
      case 'rolledBack':
        this.counters.rollbacks++;
        this.log.warn(
          {
            meterId,
            fromIccid: event.fromIccid,
            toIccid: event.toIccid,
            eimTransactionId: event.eimTransactionId,
          },
          'rollback',
        );
        break;
      case 'fallback':
        this.counters.fallbacks++;
        this.log.warn({ meterId, fromIccid: event.fromIccid, toIccid: event.toIccid }, 'fallback');
        break;
      case 'downloadCompleted':
        this.counters.downloads++;
        this.log.info(
          {
            meterId,
            eimTransactionId: event.eimTransactionId,
            iccid: event.iccid,
            result: event.result,
          },
          'profile download finished',
        );
        break;
      case 'downloadAbandoned':
        this.counters.downloadsAbandoned++;
        this.log.warn(
          { meterId, eimTransactionId: event.eimTransactionId, error: event.error },
          'profile download abandoned: SM-DP+ unreachable',
        );
        break;
      case 'resultInjected':
        this.counters.resultsInjected++;
        this.log.warn(
          { meterId, kind: event.kind, eimTransactionId: event.eimTransactionId },
          'attack staged: result injected',
        );
        break;
      case 'downlinkInvalid':
        this.log.warn({ meterId, reason: event.reason }, 'downlink ignored');
        break;
      case 'serviceLost':
      case 'serviceRestored':
      case 'acknowledged':
      case 'downlink':
        this.log.debug({ ...event }, event.type);
        break;
    }
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error(
          { err: error instanceof Error ? error.message : String(error) },
          'event listener failed',
        );
      }
    }
  }

  private async resolveKeyring(): Promise<EimKeyring> {
    const source = this.options.eimJwks;
    if (typeof source === 'string') return loadEimKeyring(source);
    if (source instanceof Map) return source;
    return keyringFromJwks(source);
  }

  private async waitForBoot(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const expected = (): string[] =>
      this.meters
        .filter(({ meter }) => {
          const status = meter.status();
          return status.service !== 'down';
        })
        .map(({ meter }) => meter.meterId)
        .filter((id) => !this.booted.has(id));
    while (this.phase === 'running' && expected().length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const missing = expected();
    if (missing.length > 0 && this.phase === 'running') {
      this.log.warn(
        {
          notConnected: missing.length,
          examples: missing.slice(0, 5),
          connectErrors: this.stats().connectErrors,
        },
        'some meters have not connected yet (credentials provisioned? broker up?); they keep retrying',
      );
    }
  }

  private every(intervalMs: number, fn: () => void): void {
    const tick = (): void => {
      if (this.phase !== 'running') return;
      fn();
      this.timers.push(this.scheduler.setTimer(intervalMs, tick));
    };
    this.timers.push(this.scheduler.setTimer(intervalMs, tick));
  }

  /** Saves are chained so that a periodic save and the final one never interleave. */
  private persist(): Promise<void> {
    this.persisting = this.persisting.then(() => this.save());
    return this.persisting;
  }

  private async save(): Promise<void> {
    const state = this.state;
    if (!state) return;
    const byId = new Map(this.meters.map((m) => [m.meter.meterId, m.meter]));
    const next: FleetState = {
      ...state,
      meters: state.meters.map((config) => {
        const meter = byId.get(config.meterId);
        return meter ? { ...config, runtime: meter.snapshot() } : config;
      }),
    };
    try {
      await saveFleetState(this.options.stateDir, next);
    } catch (error) {
      this.log.error(
        { err: error instanceof Error ? error.message : String(error) },
        'could not save fleet state',
      );
    }
  }

  private async shutdown(): Promise<void> {
    if (this.phase === 'new') {
      this.phase = 'stopped';
      this.resolveFinished();
      return;
    }
    this.phase = 'stopping';
    for (const timer of this.timers.splice(0)) timer.cancel();
    for (const { meter } of this.meters) meter.stop();
    await Promise.all(this.meters.map(({ link }) => link.close()));
    await this.gateway?.close();
    await this.persist();
    this.phase = 'stopped';
    this.log.info(this.stats(), 'fleet stopped');
    this.resolveFinished();
  }
}
