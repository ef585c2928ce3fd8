import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SERVICES, ServiceProcess, type ServiceName } from './service-process';
import type { InfraEnv } from './infrastructure';

export interface PlatformOptions {
  infra: InfraEnv;
  /** First HTTP port; services take consecutive ports in SERVICES order. */
  basePort: number;
  services?: readonly ServiceName[];
  extraEnv?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Further operator API tokens, as `token:role`, next to the admin token the platform makes. */
  extraApiTokens?: string[];
  logTag?: string;
}

/** The platform's services as processes, with a registry client for imports. */
export class Platform {
  readonly services = new Map<ServiceName, ServiceProcess>();
  readonly adminToken = randomBytes(24).toString('hex');
  readonly eimKeyFile: string;

  constructor(private readonly options: PlatformOptions) {
    this.eimKeyFile = join(mkdtempSync(join(tmpdir(), 'meterlink-eim-')), 'eim-key.json');
    const wanted = options.services ?? SERVICES;
    SERVICES.forEach((name, index) => {
      if (!wanted.includes(name)) return;
      const env: Record<string, string> = {
        ...options.infra,
        LOG_LEVEL: 'info',
        REGISTRY_API_TOKENS: [`${this.adminToken}:admin`, ...(options.extraApiTokens ?? [])].join(
          ',',
        ),
        EIM_KEY_FILE: this.eimKeyFile,
        ...(options.extraEnv?.[name] ?? {}),
      };
      this.services.set(
        name,
        new ServiceProcess(name, options.basePort + index, env, options.logTag),
      );
    });
  }

  service(name: ServiceName): ServiceProcess {
    const s = this.services.get(name);
    if (!s) throw new Error(`${name} is not part of this platform`);
    return s;
  }

  async start(): Promise<void> {
    // The registry first: it creates missing topics and owns the fleet view the others replay.
    const registry = this.services.get('registry');
    if (registry) await registry.start();
    await Promise.all(
      [...this.services.values()].filter((s) => s !== registry).map((s) => s.start()),
    );
  }

  async stop(): Promise<Map<ServiceName, number | null>> {
    const codes = new Map<ServiceName, number | null>();
    await Promise.all(
      [...this.services.values()].map(async (s) => codes.set(s.name, await s.stop())),
    );
    return codes;
  }

  async registryCall(
    method: string,
    path: string,
    body: string,
    contentType: string,
  ): Promise<unknown> {
    const res = await fetch(`${this.service('registry').baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': contentType },
      body,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
    return JSON.parse(text) as unknown;
  }

  async registryGet(path: string): Promise<unknown> {
    const res = await fetch(`${this.service('registry').baseUrl}${path}`, {
      headers: { authorization: `Bearer ${this.adminToken}` },
    });
    if (!res.ok) throw new Error(`GET ${path} → ${res.status}`);
    const body: unknown = await res.json();
    return body;
  }

  async importCatalogue(fileOrJson: string | object): Promise<unknown> {
    const body =
      typeof fileOrJson === 'string'
        ? readFileSync(fileOrJson, 'utf8')
        : JSON.stringify(fileOrJson);
    return this.registryCall('PUT', '/v1/catalogue', body, 'application/json');
  }

  /** Imports a manifest from a file path or, with `{ ndjson }`, from text. */
  async importManifest(source: string | { ndjson: string }): Promise<{
    imported: number;
    unchanged: number;
    rejected: number;
    errors: { line: number; reason: string }[];
  }> {
    const body = typeof source === 'string' ? readFileSync(source, 'utf8') : source.ndjson;
    return (await this.registryCall(
      'POST',
      '/v1/imports/manifest',
      body,
      'application/x-ndjson',
    )) as {
      imported: number;
      unchanged: number;
      rejected: number;
      errors: { line: number; reason: string }[];
    };
  }
}
