import { request } from 'node:http';
import type { CarrierCatalogue, ManifestLine } from '@meterlink/contracts';

interface ImportReport {
  imported: number;
  unchanged: number;
  rejected: number;
  errors: { line: number; reason: string }[];
}

export interface FleetImportResult {
  meters: number;
  imported: number;
  unchanged: number;
  rejected: number;
  seconds: number;
  /** Seconds per chunk, in order: provisioning slows down as the broker's dynsec file grows. */
  chunkSeconds: number[];
}

/**
 * The registry's operator API over node:http rather than fetch: a large import answers only
 * when it is done, which can take longer than fetch's (undici's) five-minute header timeout.
 */
function call(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  contentType: string,
  body: string,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': contentType,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 300) {
            reject(new Error(`${method} ${path} → ${res.statusCode}: ${text.slice(0, 500)}`));
            return;
          }
          try {
            resolve(text ? (JSON.parse(text) as unknown) : undefined);
          } catch {
            reject(new Error(`${method} ${path}: unreadable answer ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const IMPORT_ATTEMPTS = 3;

export async function importFleet(options: {
  baseUrl: string;
  token: string;
  catalogue: CarrierCatalogue;
  lines: ManifestLine[];
  chunkSize: number;
  onProgress: (done: number, total: number, seconds: number) => void;
  onRetry: (reason: string) => void;
}): Promise<FleetImportResult> {
  const { baseUrl, token, lines } = options;
  await call(
    baseUrl,
    token,
    'PUT',
    '/v1/catalogue',
    'application/json',
    JSON.stringify(options.catalogue),
  );
  const result: FleetImportResult = {
    meters: lines.length,
    imported: 0,
    unchanged: 0,
    rejected: 0,
    seconds: 0,
    chunkSeconds: [],
  };
  const started = Date.now();
  for (let at = 0; at < lines.length; at += options.chunkSize) {
    const chunk = lines.slice(at, at + options.chunkSize);
    const chunkStarted = Date.now();
    const body = chunk.map((l) => JSON.stringify(l)).join('\n') + '\n';
    let report: ImportReport | undefined;
    for (let attempt = 1; !report; attempt++) {
      try {
        report = (await call(
          baseUrl,
          token,
          'POST',
          '/v1/imports/manifest',
          'application/x-ndjson',
          body,
        )) as ImportReport;
      } catch (error) {
        // With thousands of meters in the broker, one dynsec control message can take longer
        // than the registry waits for it (10 s) and the import answers 500. Importing again is
        // idempotent and provisions what is missing.
        if (attempt >= IMPORT_ATTEMPTS) throw error;
        options.onRetry(error instanceof Error ? error.message : String(error));
      }
    }
    result.imported += report.imported;
    result.unchanged += report.unchanged;
    result.rejected += report.rejected;
    if (report.rejected > 0) {
      const first = report.errors
        .slice(0, 3)
        .map((e) => `line ${at + e.line}: ${e.reason}`)
        .join('; ');
      throw new Error(`the registry rejected ${report.rejected} bench meters: ${first}`);
    }
    result.chunkSeconds.push((Date.now() - chunkStarted) / 1000);
    options.onProgress(at + chunk.length, lines.length, (Date.now() - started) / 1000);
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
