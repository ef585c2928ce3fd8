import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from '@meterlink/redis';
import { REDIS } from '../tokens';
import { DICT_KEY } from './layout';
import { DICT_ID } from './scripts';

type Namespace = 'c' | 'r';

/**
 * Carrier ids and region names as small numbers, so that packed state and aggregate fields stay
 * short. Numbers are assigned once, in Redis, and never reused; every process caches them.
 */
@Injectable()
export class DictionaryRepository {
  private readonly ids = new Map<string, number>();
  private readonly names = new Map<string, string>();

  constructor(@Inject(REDIS) private readonly redis: Redis) {
    redis.defineCommand('covDictId', { numberOfKeys: 1, lua: DICT_ID });
  }

  async load(): Promise<void> {
    const hash = await this.redis.hgetall(DICT_KEY);
    for (const [field, value] of Object.entries(hash)) this.remember(field, value);
  }

  /** Numbers for these carriers and regions, assigning new ones where needed. */
  async ensure(carriers: Iterable<string>, regions: Iterable<string>): Promise<void> {
    const missing: [Namespace, string][] = [];
    for (const c of carriers) if (!this.ids.has(`c:${c}`)) missing.push(['c', c]);
    for (const r of regions) if (!this.ids.has(`r:${r}`)) missing.push(['r', r]);
    for (const [ns, name] of missing) {
      const id = Number(
        await (
          this.redis as unknown as {
            covDictId(key: string, ns: string, name: string): Promise<number>;
          }
        ).covDictId(DICT_KEY, ns, name),
      );
      if (id > 0xffff) throw new Error(`more than 65535 ${ns === 'c' ? 'carriers' : 'regions'}`);
      this.ids.set(`${ns}:${name}`, id);
      this.names.set(`${ns}#${id}`, name);
    }
  }

  knownCarrierIdx(carrierId: string): number | undefined {
    return this.ids.get(`c:${carrierId}`);
  }
  knownRegionIdx(region: string): number | undefined {
    return this.ids.get(`r:${region}`);
  }

  carrierIdx(carrierId: string): number {
    return this.id('c', carrierId);
  }
  regionIdx(region: string): number {
    return this.id('r', region);
  }
  knowsNumbers(carrierIdx: number, regionIdx: number): boolean {
    return this.names.has(`c#${carrierIdx}`) && this.names.has(`r#${regionIdx}`);
  }

  carrierName(idx: number): string {
    return this.name('c', idx);
  }
  regionName(idx: number): string {
    return this.name('r', idx);
  }

  private id(ns: Namespace, name: string): number {
    const id = this.ids.get(`${ns}:${name}`);
    if (id === undefined) throw new Error(`${name} has no number yet (ensure() first)`);
    return id;
  }

  private name(ns: Namespace, idx: number): string {
    const name = this.names.get(`${ns}#${idx}`);
    if (name !== undefined) return name;
    throw new Error(`no ${ns === 'c' ? 'carrier' : 'region'} number ${idx} (load() first)`);
  }

  /** Names assigned by another replica since load(): refreshed when one is missing. */
  async nameOf(ns: Namespace, idx: number): Promise<string> {
    if (!this.names.has(`${ns}#${idx}`)) await this.load();
    return this.name(ns, idx);
  }

  private remember(field: string, value: string): void {
    if (field.startsWith('#')) return;
    if (field[1] === ':') {
      this.ids.set(field, Number(value));
    } else if (field[1] === '#') {
      this.names.set(field, value);
    }
  }
}
