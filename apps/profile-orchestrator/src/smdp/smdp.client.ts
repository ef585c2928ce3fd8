import { createHash } from 'node:crypto';

/**
 * ES2+ (eIM/operator → the carrier's SM-DP+), JSON over HTTP as in ISSUE6 contract A. Every call
 * carries a functionCallIdentifier derived from the swap, so a retry after a timeout or a crash
 * gets the answer of the first call instead of a second order.
 */
export type Es2Outcome<T> =
  | { ok: true; value: T }
  /** The SM-DP+ answered Failed: a business refusal, not worth retrying. */
  | { ok: false; transient: false; code: string; message?: string }
  /** 5xx, timeout, connection refused, unparsable answer: retry later with the same id. */
  | { ok: false; transient: true; code: string; message?: string };

interface Es2Header {
  functionExecutionStatus?: {
    status?: string;
    statusCodeData?: { subjectCode?: string; reasonCode?: string; message?: string };
  };
}

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
function failureCode(data?: {
  subjectCode?: string;
  reasonCode?: string;
  message?: string;
}): string {
  if (!data) return 'smdp_failed';
  // The simulator names the SGP.32 outcome in the message (e.g. `noEligibleProfile`); a real
  // SM-DP+ gives subject and reason codes (e.g. 8.2.5 / 3.8).
  if (data.message && /^[a-zA-Z]+$/.test(data.message)) return data.message;
  return `es2_${data.subjectCode ?? 'x'}_${data.reasonCode ?? 'x'}`;
}

export class SmdpClient {
  constructor(private readonly options: SmdpClientOptions) {}

  baseUrl(carrierId: string): string {
    return this.options.urlTemplate.replace('{carrierId}', encodeURIComponent(carrierId));
  }

  private async call<T>(
    carrierId: string,
    fn: 'downloadOrder' | 'confirmOrder' | 'cancelOrder',
    callId: string,
    body: Record<string, unknown>,
  ): Promise<Es2Outcome<T & { header: Es2Header }>> {
    const url = `${this.baseUrl(carrierId)}/gsma/rsp2/es2plus/${fn}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-admin-protocol': 'gsma/rsp/v2.5.0' },
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
    const text = await res.text().catch(() => '');
    let parsed: (T & { header: Es2Header }) | undefined;
    try {
      parsed = JSON.parse(text) as T & { header: Es2Header };
    } catch {
      return { ok: false, transient: true, code: 'smdp_bad_answer' };
    }
    if (res.status !== 200) return { ok: false, transient: false, code: `smdp_http_${res.status}` };
    const status = parsed.header?.functionExecutionStatus;
    if (status?.status === 'Executed-Success') return { ok: true, value: parsed };
    return {
      ok: false,
      transient: false,
      code: failureCode(status?.statusCodeData),
      ...(status?.statusCodeData?.message ? { message: status.statusCodeData.message } : {}),
    };
  }

  async downloadOrder(
    carrierId: string,
    swapId: string,
    eid: string,
  ): Promise<Es2Outcome<{ iccid: string }>> {
    const out = await this.call<{ iccid?: string }>(
      carrierId,
      'downloadOrder',
      functionCallId(swapId, 'downloadOrder'),
      { eid },
    );
    if (!out.ok) return out;
    if (typeof out.value.iccid !== 'string' || !/^[0-9]{18,22}F?$/.test(out.value.iccid))
      return { ok: false, transient: false, code: 'smdp_bad_iccid' };
    return { ok: true, value: { iccid: out.value.iccid } };
  }

  async confirmOrder(
    carrierId: string,
    swapId: string,
    eid: string,
    iccid: string,
  ): Promise<Es2Outcome<{ matchingId: string; smdpAddress: string }>> {
    const out = await this.call<{ matchingId?: string; smdpAddress?: string }>(
      carrierId,
      'confirmOrder',
      functionCallId(swapId, 'confirmOrder'),
      { iccid, eid, releaseFlag: true },
    );
    if (!out.ok) return out;
    const { matchingId, smdpAddress } = out.value;
    if (typeof matchingId !== 'string' || typeof smdpAddress !== 'string' || !smdpAddress)
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
    return this.call<object>(carrierId, 'cancelOrder', functionCallId(swapId, 'cancelOrder'), {
      iccid,
      eid,
      matchingId: matchingId ?? '',
      finalProfileStatusIndicator: 'Available',
    });
  }
}

/** Exponential backoff for transient ES2+ failures: 1 s, 2 s, 4 s … capped. */
export function retryDelayMs(attempts: number, capMs = 60_000): number {
  return Math.min(capMs, 1000 * 2 ** Math.max(0, attempts - 1));
}

/** A short, stable token for logs (never the matching id itself, which is a secret). */
export const redact = (value: string): string =>
  createHash('sha256').update(value).digest('hex').slice(0, 8);
