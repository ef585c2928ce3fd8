import { randomBytes, randomInt } from 'node:crypto';
import {
  makeIccid,
  type CancelOrderRequest,
  type ConfirmOrderRequest,
  type DownloadOrderRequest,
  type Es2ResponseHeader,
  type Es2StatusCodeData,
  type Es9DownloadProfileRequest,
  type Es9DownloadRefusal,
  type SmdpSimConfig,
  type SmdpSimStats,
} from '@meterlink/contracts';

/**
 * The SM-DP+ of every simulated carrier: download orders bound to an EID, confirmations that
 * release a matching id, cancellations, the device's download, order expiry, and the knobs tests
 * and benchmarks turn (failures, refusals, capacity). Pure logic: the clock and randomness are
 * injected, HTTP and latency are the server's job.
 */

export type Es2Function = 'downloadOrder' | 'confirmOrder' | 'cancelOrder';
export type SmdpFunction = Es2Function | 'downloadProfile';

/** What to answer: HTTP status, JSON body, and for 503 how long to wait. */
export interface SmdpAnswer {
  status: number;
  body: object;
  retryAfterS?: number;
}

export interface SmdpSimulatorOptions {
  /** Orders not downloaded within this many seconds of their downloadOrder expire. */
  orderTtlS: number;
  /** `{carrierId}` replaced: the address confirmOrder answers unless configured per carrier. */
  smdpAddressTemplate?: string;
  now?: () => number;
  /** Uniform in [0, 1): decides injected failures. */
  random?: () => number;
  /** First ICCID serial handed out; random by default so that runs against one platform differ. */
  iccidSerialBase?: number;
  /** Idempotency answers kept per carrier (oldest forgotten first). */
  maxRememberedCalls?: number;
}

type OrderState = 'allocated' | 'released' | 'downloaded' | 'cancelled';

interface Order {
  iccid: string;
  eid: string;
  profileType?: string;
  state: OrderState;
  matchingId?: string;
  createdAt: number;
  expiresAt: number;
}

interface Carrier {
  config: SmdpSimConfig;
  orders: Map<string, Order>;
  byMatchingId: Map<string, Order>;
  /** `<function>:<functionCallIdentifier>` → the answer given. */
  answers: Map<string, SmdpAnswer>;
  /** Times of the downloadOrders accepted in the last minute (capacity). */
  recentOrders: number[];
  stats: Omit<SmdpSimStats, 'carrierId' | 'openOrders'>;
}

const CAPACITY_WINDOW_MS = 60_000;
const DEFAULT_ADDRESS_TEMPLATE = 'smdp.{carrierId}.example';

const success = (): Es2ResponseHeader => ({
  functionExecutionStatus: { status: 'Executed-Success' },
});
const failed = (subjectCode: string, reasonCode: string, message: string): SmdpAnswer => {
  const statusCodeData: Es2StatusCodeData = { subjectCode, reasonCode, message };
  return {
    status: 200,
    body: { header: { functionExecutionStatus: { status: 'Failed', statusCodeData } } },
  };
};

/** SGP.22-style codes: subject (what) and reason (why). */
const SUBJECT = {
  eid: '8.1.1',
  iccid: '8.2.1',
  matchingId: '8.2.6',
  downloadOrder: '8.8.5',
  function: '8.1',
} as const;
const REASON = {
  invalid: '2.1',
  alreadyInUse: '3.3',
  notAllowed: '3.5',
  unknown: '3.9',
  invalidAssociation: '3.10',
  executionError: '4.2',
  expired: '4.10',
} as const;

const emptyStats = (): Carrier['stats'] => ({
  orders: 0,
  confirmations: 0,
  downloads: 0,
  cancellations: 0,
  replays: 0,
  failures: {
    downloadOrder: 0,
    confirmOrder: 0,
    cancelOrder: 0,
    downloadProfile: 0,
    injected: 0,
    capacity: 0,
    expired: 0,
    refused: 0,
  },
});

/** Issuer code of a carrier's ICCIDs: stable per carrierId, 10..99. */
export function issuerCodeFor(carrierId: string): number {
  let hash = 0;
  for (const ch of carrierId) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return 10 + (hash % 90);
}

export class SmdpSimulator {
  private readonly carriers = new Map<string, Carrier>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly maxRememberedCalls: number;
  private nextSerial: number;

  constructor(private readonly options: SmdpSimulatorOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.maxRememberedCalls = options.maxRememberedCalls ?? 200_000;
    // Above the meter simulator's factory (< 4e11) and download (5e11 + ...) serials.
    this.nextSerial =
      options.iccidSerialBase ?? 600_000_000_000 + randomInt(0, 3_000_000) * 100_000;
  }

  // ---- ES2+ ------------------------------------------------------------------------------------

  downloadOrder(carrierId: string, req: DownloadOrderRequest): SmdpAnswer {
    const carrier = this.carrier(carrierId);
    return this.idempotent(carrier, 'downloadOrder', req.header.functionCallIdentifier, () => {
      const over = this.overCapacity(carrier);
      if (over) return over;
      const injected = this.injectedFailure(carrier, 'downloadOrder');
      if (injected) return injected;
      const now = this.now();
      const order: Order = {
        iccid: makeIccid(issuerCodeFor(carrierId), this.nextSerial++),
        eid: req.eid,
        ...(req.profileType ? { profileType: req.profileType } : {}),
        state: 'allocated',
        createdAt: now,
        expiresAt: now + this.options.orderTtlS * 1000,
      };
      carrier.orders.set(order.iccid, order);
      carrier.recentOrders.push(now);
      carrier.stats.orders++;
      return { status: 200, body: { header: success(), iccid: order.iccid } };
    });
  }

  confirmOrder(carrierId: string, req: ConfirmOrderRequest): SmdpAnswer {
    const carrier = this.carrier(carrierId);
    return this.idempotent(carrier, 'confirmOrder', req.header.functionCallIdentifier, () => {
      const injected = this.injectedFailure(carrier, 'confirmOrder');
      if (injected) return injected;
      const order = carrier.orders.get(req.iccid);
      if (!order) return failed(SUBJECT.iccid, REASON.unknown, 'no download order for this ICCID');
      if (order.eid !== req.eid)
        return failed(SUBJECT.eid, REASON.invalidAssociation, 'the order is bound to another EID');
      if (!req.releaseFlag)
        return failed(SUBJECT.function, REASON.invalid, 'only releaseFlag true is supported');
      if (order.state === 'cancelled')
        return failed(SUBJECT.iccid, REASON.notAllowed, 'the order was cancelled');
      if (order.state !== 'allocated')
        return failed(SUBJECT.iccid, REASON.alreadyInUse, 'the order is already confirmed');
      if (this.isExpired(order)) {
        carrier.stats.failures.expired++;
        return failed(SUBJECT.downloadOrder, REASON.expired, 'the download order expired');
      }
      const matchingId = req.matchingId ?? `MID-${randomBytes(10).toString('hex').toUpperCase()}`;
      if (carrier.byMatchingId.has(matchingId))
        return failed(SUBJECT.matchingId, REASON.alreadyInUse, 'matching id already in use');
      order.state = 'released';
      order.matchingId = matchingId;
      carrier.byMatchingId.set(matchingId, order);
      carrier.stats.confirmations++;
      return {
        status: 200,
        body: { header: success(), matchingId, smdpAddress: this.smdpAddress(carrierId) },
      };
    });
  }

  cancelOrder(carrierId: string, req: CancelOrderRequest): SmdpAnswer {
    const carrier = this.carrier(carrierId);
    return this.idempotent(carrier, 'cancelOrder', req.header.functionCallIdentifier, () => {
      const injected = this.injectedFailure(carrier, 'cancelOrder');
      if (injected) return injected;
      const order = carrier.orders.get(req.iccid);
      if (!order) return failed(SUBJECT.iccid, REASON.unknown, 'no download order for this ICCID');
      if (order.eid !== req.eid)
        return failed(SUBJECT.eid, REASON.invalidAssociation, 'the order is bound to another EID');
      if (req.matchingId !== undefined && req.matchingId !== order.matchingId)
        return failed(SUBJECT.matchingId, REASON.invalidAssociation, 'matching id does not match');
      if (order.state === 'downloaded')
        return failed(SUBJECT.iccid, REASON.notAllowed, 'the profile was already downloaded');
      if (order.state !== 'cancelled') {
        order.state = 'cancelled';
        if (order.matchingId) carrier.byMatchingId.delete(order.matchingId);
        carrier.stats.cancellations++;
      }
      return { status: 200, body: { header: success() } };
    });
  }

  // ---- ES9+ (simplified) -----------------------------------------------------------------------

  downloadProfile(carrierId: string, req: Es9DownloadProfileRequest): SmdpAnswer {
    const carrier = this.carrier(carrierId);
    const refuse = (reason: Es9DownloadRefusal): SmdpAnswer => {
      carrier.stats.failures.downloadProfile++;
      carrier.stats.failures.refused++;
      return { status: 409, body: { reason } };
    };
    if (carrier.config.refuse) return refuse(carrier.config.refuse);
    const injected = this.injectedFailure(carrier, 'downloadProfile');
    if (injected) return injected;
    const order = carrier.byMatchingId.get(req.matchingId);
    if (!order || order.eid !== req.eid) return refuse('matchingIdRefused');
    if (order.state === 'downloaded') {
      // The device retrying after a lost answer gets the same profile.
      carrier.stats.replays++;
      return { status: 200, body: { iccid: order.iccid } };
    }
    if (this.isExpired(order)) {
      carrier.stats.failures.expired++;
      return refuse('downloadOrderExpired');
    }
    order.state = 'downloaded';
    carrier.stats.downloads++;
    return { status: 200, body: { iccid: order.iccid } };
  }

  // ---- knobs and counters ----------------------------------------------------------------------

  /** Replaces the carrier's configuration (fields left out go back to their defaults). */
  configure(carrierId: string, config: SmdpSimConfig): SmdpSimConfig {
    this.carrier(carrierId).config = structuredClone(config);
    return this.config(carrierId);
  }

  config(carrierId: string): SmdpSimConfig {
    return structuredClone(this.carrier(carrierId).config);
  }

  /** Forgets the carrier's orders, answers, counters and configuration. */
  reset(carrierId: string): void {
    this.carriers.delete(carrierId);
  }

  stats(carrierId: string): SmdpSimStats {
    const carrier = this.carrier(carrierId);
    let openOrders = 0;
    for (const order of carrier.orders.values()) {
      if ((order.state === 'allocated' || order.state === 'released') && !this.isExpired(order))
        openOrders++;
    }
    return { carrierId, ...structuredClone(carrier.stats), openOrders };
  }

  /** Every carrier seen so far, and their sum. */
  allStats(): { carriers: SmdpSimStats[]; total: SmdpSimStats } {
    const carriers = [...this.carriers.keys()].sort().map((id) => this.stats(id));
    const total: SmdpSimStats = { ...emptyStats(), openOrders: 0 };
    for (const s of carriers) {
      total.orders += s.orders;
      total.confirmations += s.confirmations;
      total.downloads += s.downloads;
      total.cancellations += s.cancellations;
      total.replays += s.replays;
      total.openOrders += s.openOrders;
      for (const key of Object.keys(total.failures) as (keyof SmdpSimStats['failures'])[])
        total.failures[key] += s.failures[key];
    }
    return { carriers, total };
  }

  /** Latency to add before answering this carrier's ES2+/ES9+ calls. */
  latencyMs(carrierId: string): number {
    return this.carriers.get(carrierId)?.config.latencyMs ?? 0;
  }

  // ---- internals -------------------------------------------------------------------------------

  private carrier(carrierId: string): Carrier {
    let carrier = this.carriers.get(carrierId);
    if (!carrier) {
      carrier = {
        config: {},
        orders: new Map(),
        byMatchingId: new Map(),
        answers: new Map(),
        recentOrders: [],
        stats: emptyStats(),
      };
      this.carriers.set(carrierId, carrier);
    }
    return carrier;
  }

  /**
   * The same functionCallIdentifier gets the same answer. Transient answers (503) are not kept:
   * the caller is meant to retry them, with the same id, and get a real answer.
   */
  private idempotent(
    carrier: Carrier,
    fn: Es2Function,
    functionCallIdentifier: string,
    execute: () => SmdpAnswer,
  ): SmdpAnswer {
    const key = `${fn}:${functionCallIdentifier}`;
    const stored = carrier.answers.get(key);
    if (stored) {
      carrier.stats.replays++;
      return structuredClone(stored);
    }
    const answer = execute();
    if (!isSuccess(answer)) carrier.stats.failures[fn]++;
    if (answer.status < 500) {
      carrier.answers.set(key, structuredClone(answer));
      if (carrier.answers.size > this.maxRememberedCalls) {
        const oldest = carrier.answers.keys().next().value;
        if (oldest !== undefined) carrier.answers.delete(oldest);
      }
    }
    return answer;
  }

  private overCapacity(carrier: Carrier): SmdpAnswer | undefined {
    const capacity = carrier.config.capacityPerMin;
    if (capacity === undefined) return undefined;
    const now = this.now();
    while (carrier.recentOrders.length > 0 && carrier.recentOrders[0]! <= now - CAPACITY_WINDOW_MS)
      carrier.recentOrders.shift();
    if (carrier.recentOrders.length < capacity) return undefined;
    carrier.stats.failures.capacity++;
    const oldest = carrier.recentOrders[0] ?? now;
    return {
      status: 503,
      body: { reason: 'capacityExceeded' },
      retryAfterS: Math.max(1, Math.ceil((oldest + CAPACITY_WINDOW_MS - now) / 1000)),
    };
  }

  private injectedFailure(carrier: Carrier, fn: SmdpFunction): SmdpAnswer | undefined {
    const rate = carrier.config.failRate?.[fn] ?? 0;
    if (rate <= 0 || this.random() >= rate) return undefined;
    carrier.stats.failures.injected++;
    if (fn === 'downloadProfile') carrier.stats.failures.downloadProfile++;
    if (carrier.config.failMode === 'failed' && fn !== 'downloadProfile')
      return failed(SUBJECT.function, REASON.executionError, 'injected failure');
    return { status: 503, body: { reason: 'injectedFailure' }, retryAfterS: 1 };
  }

  private isExpired(order: Order): boolean {
    return this.now() >= order.expiresAt;
  }

  private smdpAddress(carrierId: string): string {
    return (
      this.carrier(carrierId).config.smdpAddress ??
      (this.options.smdpAddressTemplate ?? DEFAULT_ADDRESS_TEMPLATE).replaceAll(
        '{carrierId}',
        carrierId,
      )
    );
  }
}

function isSuccess(answer: SmdpAnswer): boolean {
  if (answer.status !== 200) return false;
  const header = (answer.body as { header?: Es2ResponseHeader }).header;
  return header?.functionExecutionStatus.status === 'Executed-Success';
}
