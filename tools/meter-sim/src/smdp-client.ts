import {
  ES9_PATHS,
  es9DownloadProfileResponseSchema,
  es9DownloadRefusedSchema,
  smdpBaseUrl,
  type Es9DownloadProfileRequest,
  type Es9DownloadRefusal,
} from '@meterlink/contracts';

/** What the eUICC's LPA gets from the SM-DP+ for one download attempt (ES9+, simplified). */
export type SmdpDownloadOutcome =
  | { kind: 'installed'; iccid: string }
  | { kind: 'refused'; reason: Es9DownloadRefusal }
  /** Unreachable, 5xx, timeout or an answer that makes no sense: try again later. */
  | { kind: 'transient'; retryAfterMs: number; error: string };

export interface SmdpEs9Client {
  downloadProfile(
    carrierId: string,
    request: Es9DownloadProfileRequest,
  ): Promise<SmdpDownloadOutcome>;
}

/** ES9+ over HTTP to the carrier's SM-DP+ at `urlTemplate` (`{carrierId}` replaced). */
export class HttpSmdpClient implements SmdpEs9Client {
  constructor(
    private readonly urlTemplate: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async downloadProfile(
    carrierId: string,
    request: Es9DownloadProfileRequest,
  ): Promise<SmdpDownloadOutcome> {
    const url = `${smdpBaseUrl(this.urlTemplate, carrierId)}${ES9_PATHS.downloadProfile}`;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const body: unknown = await res.json().catch(() => undefined);
      if (res.status === 200) {
        const ok = es9DownloadProfileResponseSchema.safeParse(body);
        if (ok.success) return { kind: 'installed', iccid: ok.data.iccid };
      }
      if (res.status === 409) {
        const refused = es9DownloadRefusedSchema.safeParse(body);
        if (refused.success) return { kind: 'refused', reason: refused.data.reason };
      }
      const retryAfterS = Number(res.headers.get('retry-after'));
      return {
        kind: 'transient',
        retryAfterMs: Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS * 1000 : 1000,
        error: `HTTP ${res.status}`,
      };
    } catch (error) {
      return {
        kind: 'transient',
        retryAfterMs: 1000,
        error: error instanceof Error ? error.message : String(error),
      };
    }
  }
}
