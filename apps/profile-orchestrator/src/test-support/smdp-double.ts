import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * A carrier SM-DP+ speaking ISSUE6 contract A's ES2+, for the orchestrator's integration tests
 * until tools/smdp-sim (branch h/sim) is merged: one HTTP server, every carrier under
 * `/{carrierId}`, idempotent per functionCallIdentifier, with refusals to inject.
 */
export interface SmdpOrder {
  carrierId: string;
  eid: string;
  iccid: string;
  matchingId?: string;
  cancelled: boolean;
}

export class SmdpDouble {
  private server: Server | undefined;
  readonly orders: SmdpOrder[] = [];
  readonly calls: { carrierId: string; fn: string; callId: string }[] = [];
  private readonly answers = new Map<string, unknown>();
  /** Per carrier: answer downloadOrder with this failure (e.g. `noEligibleProfile`). */
  readonly refuse = new Map<string, string>();
  /** Per carrier: answer this many calls with HTTP 503 first (transient failures). */
  readonly unavailable = new Map<string, number>();
  private serial = Math.floor(Math.random() * 1e9);

  constructor(readonly port: number) {}

  get urlTemplate(): string {
    return `http://127.0.0.1:${this.port}/{carrierId}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(({ status, body }) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  ordersOf(eid: string): SmdpOrder[] {
    return this.orders.filter((o) => o.eid === eid);
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const match = /^\/([^/]+)\/gsma\/rsp2\/es2plus\/(\w+)$/.exec(req.url ?? '');
    if (!match) return { status: 404, body: { error: 'not found' } };
    const [, carrierId, fn] = match as unknown as [string, string, string];
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as {
      header?: { functionCallIdentifier?: string };
      eid?: string;
      iccid?: string;
    };
    const callId = body.header?.functionCallIdentifier ?? '';
    this.calls.push({ carrierId, fn, callId });
    const down = this.unavailable.get(carrierId) ?? 0;
    if (down > 0) {
      this.unavailable.set(carrierId, down - 1);
      return { status: 503, body: { error: 'unavailable' } };
    }
    const key = `${carrierId}:${fn}:${callId}`;
    const previous = this.answers.get(key);
    if (previous) return { status: 200, body: previous };
    const ok = (extra: object) => ({
      header: { functionExecutionStatus: { status: 'Executed-Success' } },
      ...extra,
    });
    const failed = (message: string) => ({
      header: {
        functionExecutionStatus: {
          status: 'Failed',
          statusCodeData: { subjectCode: '8.2.5', reasonCode: '3.8', message },
        },
      },
    });
    let answer: unknown;
    if (fn === 'downloadOrder') {
      const refusal = this.refuse.get(carrierId);
      if (refusal) answer = failed(refusal);
      else {
        const iccid = `8944${String(++this.serial).padStart(15, '0').slice(-15)}`;
        this.orders.push({ carrierId, eid: body.eid ?? '', iccid, cancelled: false });
        answer = ok({ iccid });
      }
    } else if (fn === 'confirmOrder') {
      const order = this.orders.find((o) => o.iccid === body.iccid && o.carrierId === carrierId);
      if (!order) answer = failed('unknownIccid');
      else {
        order.matchingId = `MATCH-${randomBytes(6).toString('hex').toUpperCase()}`;
        answer = ok({ matchingId: order.matchingId, smdpAddress: `smdp.${carrierId}.example` });
      }
    } else if (fn === 'cancelOrder') {
      const order = this.orders.find((o) => o.iccid === body.iccid && o.carrierId === carrierId);
      if (order) order.cancelled = true;
      answer = ok({});
    } else return { status: 404, body: { error: 'unknown function' } };
    this.answers.set(key, answer);
    return { status: 200, body: answer };
  }
}
