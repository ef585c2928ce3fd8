import { request } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * One call to the registry over node:http: the body may be a stream (sent chunked, as fast as the
 * registry reads it), and a long import answers only when it is done, later than fetch's
 * five-minute header timeout would wait.
 */
export function callRegistry(
  baseUrl: string,
  token: string,
  method: string,
  path: string,
  body?: { contentType: string; data: string | Readable },
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}${path}`,
      {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': body.contentType } : {}),
          ...(typeof body?.data === 'string'
            ? { 'content-length': Buffer.byteLength(body.data) }
            : {}),
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
    if (body === undefined) req.end();
    else if (typeof body.data === 'string') req.end(body.data);
    else pipeline(body.data, req).catch(reject);
  });
}

/** Sums of a Prometheus counter (or a histogram's _sum) by one label, from /metrics text. */
export function metricByLabel(text: string, name: string, label: string): Map<string, number> {
  const result = new Map<string, number>();
  const pattern = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  for (const match of text.matchAll(pattern)) {
    const value = new RegExp(`${label}="([^"]*)"`).exec(match[1]!)?.[1];
    if (value !== undefined) result.set(value, (result.get(value) ?? 0) + Number(match[2]));
  }
  return result;
}
