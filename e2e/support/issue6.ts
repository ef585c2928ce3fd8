import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import type { ManifestLine, ProfileSwapRecord } from '@meterlink/contracts';
import {
  FleetSimulator,
  generateFleet,
  loadScenario,
  writeFleet,
  type GeneratedFleet,
  type Scenario,
} from '@meterlink/meter-sim';
import {
  Platform,
  REPO_ROOT,
  SmdpSimProcess,
  infraEnv,
  type InfraEnv,
  type ServiceName,
} from '@meterlink/testing';

/**
 * The issue-6 end-to-end rig: the five services as processes, the simulated carrier SM-DP+ as a
 * process, a simulated fleet with carriers and regions of its own (so that outages of other runs
 * on the same platform never mix in), and a client of the orchestrator's operator API
 * (contract B of docs ISSUE6-CONTRACTS).
 */

export const SCENARIOS_DIR = join(REPO_ROOT, 'tools', 'meter-sim', 'scenarios');

/** A run tag: letters and digits, short enough for meterIds, carrierIds and regions. */
export const runTag = (): string => randomBytes(3).toString('hex');

/**
 * The scenario with every carrierId and region suffixed by the tag (`carrier-a` → `carrier-a-x1`),
 * a fresh seed, and the SM-DP+ addresses to match, so that the run has its own carrier × region
 * groups on a shared platform.
 */
export function isolate(scenario: Scenario, tag: string): Scenario {
  const c = (id: string): string => `${id}-${tag}`;
  const r = (region: string): string => `${region}-${tag}`;
  return {
    ...scenario,
    seed: randomInt(1, 2 ** 31),
    catalogue: {
      ...scenario.catalogue,
      carriers: scenario.catalogue.carriers.map((carrier) => ({
        ...carrier,
        carrierId: c(carrier.carrierId),
        smdpAddress: `smdp.${c(carrier.carrierId)}.example`,
      })),
      regions: scenario.catalogue.regions.map((region) => ({
        ...region,
        region: r(region.region),
        carriers: region.carriers.map(c),
      })),
    },
    fleet: scenario.fleet.map((group) => ({
      ...group,
      region: r(group.region),
      carrierId: c(group.carrierId),
      otherProfiles: group.otherProfiles.map(c),
      ...(group.fallbackCarrierId ? { fallbackCarrierId: c(group.fallbackCarrierId) } : {}),
    })),
    outages: scenario.outages.map((outage) => ({
      ...outage,
      carrierId: c(outage.carrierId),
      ...(outage.region ? { region: r(outage.region) } : {}),
    })),
    injections: scenario.injections.map((injection) => ({
      ...injection,
      ...(injection.carrierId ? { carrierId: c(injection.carrierId) } : {}),
      ...(injection.region ? { region: r(injection.region) } : {}),
    })),
  };
}

export interface Issue6StackOptions {
  /** First of 6 consecutive HTTP ports: the five services, then the SM-DP+ simulator. */
  basePort: number;
  logTag: string;
  extraEnv?: Partial<Record<ServiceName, Record<string, string>>>;
}

export interface CampaignWave {
  index: number;
  size: number;
  started: number;
  completed: number;
  rolledBack: number;
  failed: number;
  expired: number;
  cancelled: number;
  inFlight: number;
}
export interface CampaignView {
  campaignId: string;
  name: string;
  trigger: 'operator' | 'carrier-outage';
  state: 'pending-approval' | 'running' | 'paused' | 'completed' | 'stopped';
  pausedReason?: string;
  targetCarrierId: string;
  meterCount: number;
  waves: CampaignWave[];
  totals: {
    completed: number;
    rolledBack: number;
    failed: number;
    expired: number;
    cancelled: number;
    inFlight: number;
    pending: number;
  };
  createdBy: string;
  approvedBy?: string;
}

/** The orchestrator's operator API (contract B) with one token per role. */
export class OrchestratorApi {
  constructor(
    private readonly baseUrl: () => string,
    readonly tokens: { viewer: string; operator: string; admin: string; approver: string },
  ) {}

  async call<T>(
    method: string,
    path: string,
    body?: unknown,
    as: keyof OrchestratorApi['tokens'] = 'operator',
  ): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.baseUrl()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.tokens[as]}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async ok<T>(
    method: string,
    path: string,
    body?: unknown,
    as: keyof OrchestratorApi['tokens'] = 'operator',
  ): Promise<T> {
    const res = await this.call<T>(method, path, body, as);
    if (res.status < 200 || res.status > 299)
      throw new Error(`${method} ${path} → ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body;
  }

  async campaigns(): Promise<CampaignView[]> {
    const body = await this.ok<{ items: CampaignView[] }>(
      'GET',
      '/v1/campaigns',
      undefined,
      'viewer',
    );
    return body.items;
  }

  campaign(id: string): Promise<CampaignView> {
    return this.ok<CampaignView>(
      'GET',
      `/v1/campaigns/${encodeURIComponent(id)}`,
      undefined,
      'viewer',
    );
  }

  swaps(meterId: string): Promise<unknown> {
    return this.ok('GET', `/v1/meters/${encodeURIComponent(meterId)}/swaps`, undefined, 'viewer');
  }

  pendingPackages(meterId: string): Promise<unknown> {
    return this.ok(
      'GET',
      `/v1/meters/${encodeURIComponent(meterId)}/pending-packages`,
      undefined,
      'viewer',
    );
  }
}

export interface Issue6Stack {
  infra: InfraEnv;
  platform: Platform;
  smdp: SmdpSimProcess;
  api: OrchestratorApi;
  start(): Promise<void>;
  stop(): Promise<Map<string, number | null>>;
}

export function issue6Stack(options: Issue6StackOptions): Issue6Stack {
  const infra = infraEnv();
  const smdp = new SmdpSimProcess(options.basePort + 5, {}, options.logTag);
  const token = (): string => randomBytes(20).toString('hex');
  const tokens = { viewer: token(), operator: token(), admin: token(), approver: token() };
  const orchestratorTokens = [
    `${tokens.viewer}:viewer`,
    `${tokens.operator}:operator`,
    `${tokens.admin}:admin`,
    `${tokens.approver}:admin`,
  ].join(',');
  const platform = new Platform({
    infra,
    basePort: options.basePort,
    logTag: options.logTag,
    extraEnv: {
      ...options.extraEnv,
      'profile-orchestrator': {
        ORCHESTRATOR_API_TOKENS: orchestratorTokens,
        SMDP_URL_TEMPLATE: smdp.urlTemplate,
        ...options.extraEnv?.['profile-orchestrator'],
      },
      'coverage-monitor': {
        COVERAGE_OUTAGE_EVAL_INTERVAL_MS: '250',
        COVERAGE_OUTAGE_RECOVERY_HOLD_S: '2',
        ...options.extraEnv?.['coverage-monitor'],
      },
    },
  });
  const api = new OrchestratorApi(() => platform.service('profile-orchestrator').baseUrl, tokens);
  return {
    infra,
    platform,
    smdp,
    api,
    async start() {
      await smdp.start();
      await platform.start();
    },
    async stop() {
      const codes = new Map<string, number | null>(await platform.stop());
      codes.set('smdp-sim', await smdp.stop());
      return codes;
    },
  };
}

export interface E2eFleet {
  scenario: Scenario;
  fleet: GeneratedFleet;
  stateDir: string;
  tag: string;
  simulator: FleetSimulator;
  carrier(id: string): string;
  region(id: string): string;
  /** The meters of a scenario group (fleet order). */
  meters(filter: (line: ManifestLine) => boolean): string[];
  enabledCarrier(meterId: string): string;
}

/**
 * Generates the isolated fleet of a scenario file, imports it into the registry and starts the
 * simulator against the stack (packages verified with the orchestrator's JWKS, downloads through
 * the SM-DP+ simulator).
 */
export async function startFleet(
  stack: Issue6Stack,
  scenarioFile: string,
  adjust: (scenario: Scenario) => Scenario = (s) => s,
): Promise<E2eFleet> {
  const tag = runTag();
  const scenario = adjust(isolate(await loadScenario(join(SCENARIOS_DIR, scenarioFile)), tag));
  const fleet = generateFleet(scenario, { fleetTag: tag });
  const stateDir = mkdtempSync(join(tmpdir(), 'meterlink-e2e6-'));
  const files = await writeFleet(fleet, stateDir);
  await stack.platform.importCatalogue(files.catalogue);
  const report = await stack.platform.importManifest(files.manifest);
  if (report.rejected > 0 || report.imported !== fleet.manifest.length)
    throw new Error(`manifest import: ${JSON.stringify(report)}`);
  const simulator = new FleetSimulator({
    scenario,
    stateDir,
    // The meters' own listener where the stack has one (password-file credentials), else the one.
    mqttUrl: process.env.MQTT_METER_URL ?? stack.infra.MQTT_URL,
    eimJwks: `${stack.platform.service('profile-orchestrator').baseUrl}/eim/jwks.json`,
    smdpUrlTemplate: stack.smdp.urlTemplate,
    durationS: 0,
  });
  await simulator.start();
  return {
    scenario,
    fleet,
    stateDir,
    tag,
    simulator,
    carrier: (id) => `${id}-${tag}`,
    region: (id) => `${id}-${tag}`,
    meters: (filter) => fleet.manifest.filter(filter).map((m) => m.meterId),
    enabledCarrier: (meterId) => {
      const line = fleet.manifest.find((m) => m.meterId === meterId);
      const enabled = line?.profiles.find((p) => p.state === 'enabled');
      if (!enabled) throw new Error(`no meter ${meterId}`);
      return enabled.carrierId;
    },
  };
}

/** Swap records of some meters, in the order they were written. */
export function swapsOf(
  records: ProfileSwapRecord[],
  meterIds: Iterable<string>,
): ProfileSwapRecord[] {
  const ids = new Set(meterIds);
  return records.filter((r) => ids.has(r.meterId));
}

/** The states each swap went through, by swapId. */
export function statesBySwap(records: ProfileSwapRecord[]): Map<string, string[]> {
  const states = new Map<string, string[]>();
  for (const r of records) states.set(r.swapId, [...(states.get(r.swapId) ?? []), r.state]);
  return states;
}
