import type { Outage } from './scenario';
import { Prng } from './prng';

/** `degraded`: connected but poor radio; `down`: no service at all. */
export type ServiceLevel = 'ok' | 'degraded' | 'down';

export interface OutageEdge {
  fieldS: number;
  /** `flip`: an intermittent outage's service comes or goes. */
  edge: 'start' | 'end' | 'flip';
  outage: Outage;
}

/** An intermittent outage is up during the first upS of each period. */
const intermittentUp = (o: Outage, fieldS: number): boolean =>
  o.periodS !== undefined && o.upS !== undefined && (fieldS - o.fromS) % o.periodS < o.upS;

/**
 * Which carrier has service where and when, from the scenario's outages. Anything no outage
 * mentions has service (including carriers not under contract in a region).
 */
export class ServiceModel {
  constructor(private readonly outages: readonly Outage[]) {}

  levelAt(carrierId: string, region: string, fieldS: number): ServiceLevel {
    let level: ServiceLevel = 'ok';
    for (const o of this.outages) {
      if (o.carrierId !== carrierId || (o.region !== undefined && o.region !== region)) continue;
      if (fieldS < o.fromS || fieldS >= o.toS) continue;
      if (o.mode === 'intermittent') {
        if (!intermittentUp(o, fieldS)) return 'down';
        continue;
      }
      if (o.mode === 'down') return 'down';
      level = 'degraded';
    }
    return level;
  }

  /** Outage starts and ends in time order, the moments at which meters must look at coverage again. */
  edges(): OutageEdge[] {
    return this.outages
      .flatMap((outage): OutageEdge[] => [
        { fieldS: outage.fromS, edge: 'start', outage },
        ...flips(outage),
        { fieldS: outage.toS, edge: 'end', outage },
      ])
      .sort((a, b) => a.fieldS - b.fieldS);
  }
}

/** Every moment an intermittent outage's service comes back or goes, inside the outage. */
function flips(outage: Outage): OutageEdge[] {
  const { periodS, upS } = outage;
  if (outage.mode !== 'intermittent' || periodS === undefined || upS === undefined) return [];
  const edges: OutageEdge[] = [];
  for (let at = outage.fromS; at < outage.toS; at += periodS) {
    if (at > outage.fromS) edges.push({ fieldS: at, edge: 'flip', outage });
    if (at + upS < outage.toS) edges.push({ fieldS: at + upS, edge: 'flip', outage });
  }
  return edges;
}

export interface RadioSample {
  rsrp: number;
  rsrq: number;
  sinr: number;
  attachFailures: number;
}

/** What a meter sees of one carrier where it stands: fixed per (seed, meter, carrier). */
export interface RadioSite {
  baseRsrp: number;
  cellId: string;
}

export function radioSite(seed: number, meterId: string, carrierId: string): RadioSite {
  const rng = Prng.derive(seed, meterId, carrierId, 'site');
  return {
    baseRsrp: -90 + rng.int(-8, 8),
    cellId: rng.int(0x100000, 0xffffff).toString(16).toUpperCase(),
  };
}

/** One radio reading: normal around the site's RSRP, or the degraded values of an outage. */
export function sampleRadio(
  level: Exclude<ServiceLevel, 'down'>,
  site: RadioSite,
  rng: Prng,
): RadioSample {
  if (level === 'degraded') {
    return {
      rsrp: -125 + rng.int(-2, 2),
      rsrq: -19 + rng.int(-1, 1),
      sinr: -8 + rng.int(-1, 1),
      attachFailures: rng.int(2, 5),
    };
  }
  return {
    rsrp: site.baseRsrp + rng.int(-2, 2),
    rsrq: -9 + rng.int(-1, 1),
    sinr: 8 + rng.int(-1, 1),
    attachFailures: 0,
  };
}
