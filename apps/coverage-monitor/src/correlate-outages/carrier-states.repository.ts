import { Inject, Injectable } from '@nestjs/common';
import type { CarrierRegionState } from '@meterlink/coverage-domain';
import type { Redis } from '@meterlink/redis';
import type { OutgoingEvent } from '../publish/coverage-events.publisher';
import { REDIS } from '../tokens';
import { CARRIERS_KEY } from '../state/layout';
import { WRITE_CARRIER } from '../state/scripts';

/**
 * Where an outage's side effects stand: `opening` (stored, not yet marked on the shards, its
 * meters already unhealthy counted into the event, and published), `open`, `closing` (recovered,
 * not yet unmarked and published), `idle`. `restating` is only read: earlier versions restated
 * already unhealthy meters one event each in that phase; it is taken as `open`.
 */
export type CarrierPhase = 'idle' | 'opening' | 'restating' | 'open' | 'closing';

export interface StoredCarrierState extends CarrierRegionState {
  phase: CarrierPhase;
  /** The carrier event of the current phase, stored before it is published. */
  pending: { storedAt: number; events: OutgoingEvent[] } | null;
  /** While `closing`: the outage being closed. */
  closingOutageId: string | null;
}

export interface CarrierStateEntry {
  raw: string;
  state: StoredCarrierState;
}

/** Correlation state per carrier × region (`<carrier>.<region>` numbers), one JSON each. */
@Injectable()
export class CarrierStatesRepository {
  constructor(@Inject(REDIS) private readonly redis: Redis) {
    redis.defineCommand('covWriteCarrier', { numberOfKeys: 1, lua: WRITE_CARRIER });
  }

  async load(): Promise<Map<string, CarrierStateEntry>> {
    const hash = await this.redis.hgetall(CARRIERS_KEY);
    return new Map(
      Object.entries(hash).map(([field, raw]) => [
        field,
        { raw, state: JSON.parse(raw) as StoredCarrierState },
      ]),
    );
  }

  /** Compare-and-set, so that a leader that lost its lease can't overwrite its successor. */
  async write(
    field: string,
    expectedRaw: string,
    state: StoredCarrierState,
  ): Promise<CarrierStateEntry | null> {
    const raw = JSON.stringify(state);
    const ok = await (
      this.redis as unknown as {
        covWriteCarrier(key: string, field: string, expected: string, raw: string): Promise<number>;
      }
    ).covWriteCarrier(CARRIERS_KEY, field, expectedRaw, raw);
    return ok === 1 ? { raw, state } : null;
  }
}
