import { createHash } from 'node:crypto';
import type { z } from 'zod';
import {
  ES2_PATHS,
  cancelOrderResponseSchema,
  confirmOrderResponseSchema,
  downloadOrderResponseSchema,
  smdpBaseUrl,
  type Es2ResponseHeader,
  type Es2StatusCodeData,
} from '@meterlink/contracts';

/**
 * ES2+ (eIM/operator → the carrier's SM-DP+), JSON over HTTP as in ISSUE6 contract A (schemas in
 * @meterlink/contracts). Every call carries a functionCallIdentifier derived from the swap, so a
 * retry after a timeout or a crash gets the answer of the first call instead of a second order.
 */
export type Es2Outcome<T> =
  | { ok: true; value: T }
  /** The SM-DP+ answered Failed: a business refusal, not worth retrying. */
  | { ok: false; transient: false; code: string; message?: string }
  /** 5xx, timeout, connection refused, unparsable answer: retry later with the same id. */
  | { ok: false; transient: true; code: string; message?: string };

export interface SmdpClientOptions {
  /** e.g. `http://127.0.0.1:3090/{carrierId}` */
  urlTemplate: string;
  requesterId: string;
  timeoutMs: number;
}

/** The idempotency key of one ES2+ function of one swap: stable across retries and restarts. */
export function functionCallId(swapId: string, fn: string): string {
  return `${swapId}:${fn}`;
}

/** The ES2+ reason of a Failed answer as a stable code (the SGP.22 subject/reason codes joined). */
export function failureCode(data?: Es2StatusCodeData): string {
  if (!data) return 'smdp_failed';
  // An SGP.32 outcome named in the message (e.g. `noEligibleProfile`) is the clearest code;
  // otherwise the subject and reason codes (e.g. 8.2.5 / 3.8).
  if (/^[a-zA-Z]+$/.test(data.message ?? '')) return data.message!;
  return `es2_${data.subjectCode}_${data.reasonCode}`;
}

export class SmdpClient {
  constructor(private readonly options: SmdpClientOptions) {}

  private async call<T extends { header: Es2ResponseHeader }>(
    carrierId: string,
    fn: keyof typeof ES2_PATHS,
    callId: string,
    body: Record<string, unknown>,
    schema: z.ZodType<T>,
  ): Promise<Es2Outcome<T>> {
    const url = `${smdpBaseUrl(this.options.urlTemplate, carrierId)}${ES2_PATHS[fn]}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          header: {
            functionRequesterIdentifier: this.options.requesterId,
            functionCallIdentifier: callId,
          },
          ...body,
        }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      return {
        ok: false,
        transient: true,
        code: 'smdp_unreachable',
        message: error instanceof Error ? error.message : String(error),
      };
    }
    if (res.status >= 500 || res.status === 429)
      return { ok: false, transient: true, code: `smdp_http_${res.status}` };
    if (res.status !== 200) return { ok: false, transient: false, code: `smdp_http_${res.status}` };
    const parsed = schema.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) return { ok: false, transient: true, code: 'smdp_bad_answer' };
    const status = parsed.data.header.functionExecutionStatus;
    if (status.status === 'Executed-Success') return { ok: true, value: parsed.data };
    return {
      ok: false,
      transient: false,
      code: failureCode(status.statusCodeData),
      ...(status.statusCodeData?.message ? { message: status.statusCodeData.message } : {}),
    };
  }

  async downloadOrder(
    carrierId: string,
    swapId: string,
    eid: string,
  ): Promise<Es2Outcome<{ iccid: string }>> {
    const out = await this.call(
      carrierId,
      'downloadOrder',
      functionCallId(swapId, 'downloadOrder'),
      { eid },
      downloadOrderResponseSchema,
    );
    if (!out.ok) return out;
    if (!out.value.iccid) return { ok: false, transient: false, code: 'smdp_bad_iccid' };
    return { ok: true, value: { iccid: out.value.iccid } };
  }

  async confirmOrder(
    carrierId: string,
    swapId: string,
    eid: string,
    iccid: string,
  ): Promise<Es2Outcome<{ matchingId: string; smdpAddress: string }>> {
    const out = await this.call(
      carrierId,
      'confirmOrder',
      functionCallId(swapId, 'confirmOrder'),
      { iccid, eid, releaseFlag: true },
      confirmOrderResponseSchema,
    );
    if (!out.ok) return out;
    const { matchingId, smdpAddress } = out.value;
    if (matchingId === undefined || !smdpAddress)
      return { ok: false, transient: false, code: 'smdp_bad_confirmation' };
    return { ok: true, value: { matchingId, smdpAddress } };
  }

  async cancelOrder(
    carrierId: string,
    swapId: string,
    eid: string,
    iccid: string,
    matchingId: string | null,
  ): Promise<Es2Outcome<object>> {
    return this.call(
      carrierId,
      'cancelOrder',
      functionCallId(swapId, 'cancelOrder'),
      { iccid, eid, matchingId: matchingId ?? '', finalProfileStatusIndicator: 'Available' },
      cancelOrderResponseSchema,
    );
  }
}

/** Exponential backoff for transient ES2+ failures: 1 s, 2 s, 4 s … capped. */
export function retryDelayMs(attempts: number, capMs = 60_000): number {
  return Math.min(capMs, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** A short, stable token for logs (never the matching id itself, which is a secret). */
export const redact = (value: string): string =>
  createHash('sha256').update(value).digest('hex').slice(0, 8);
