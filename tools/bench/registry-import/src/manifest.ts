import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { Readable } from 'node:stream';
import type { CarrierCatalogue, ManifestLine } from '@meterlink/contracts';
import { generateEcKeyPair } from '@meterlink/jws';

export const BENCH_IMPORT_CATALOGUE: CarrierCatalogue = {
  carriers: ['a', 'b', 'c'].map((c, i) => ({
    carrierId: `bench-carrier-${c}`,
    name: `Bench carrier ${c.toUpperCase()}`,
    plmns: [`2341${i + 5}`],
    smdpAddress: `smdp.bench-carrier-${c}.example`,
    tariff: {
      currency: 'EUR',
      monthlyFeeMinor: 60,
      perMbMinor: 20,
      downloadFeeMinor: 100,
      swapFeeMinor: 10,
    },
  })),
  regions: [
    { region: 'bench-north', carriers: ['bench-carrier-a', 'bench-carrier-b'] },
    { region: 'bench-south', carriers: ['bench-carrier-b', 'bench-carrier-c'] },
  ],
};

const digits = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * A manifest of unique meters, made on the fly in O(1) memory per line: ids, EIDs and ICCIDs
 * carry a per-run number so that runs never collide in a database that keeps earlier runs.
 * Device keys repeat from a small pool (the registry requires valid P-256 points, not unique
 * ones; generating a million keys would measure the bench, not the registry).
 */
export class BenchManifest {
  readonly run = randomInt(0, 1_000_000);
  private readonly secret = randomBytes(32);
  private readonly keys = Array.from({ length: 64 }, () => generateEcKeyPair().publicJwk);

  constructor(readonly meters: number) {}

  meterId(index: number): string {
    return `BI-${digits(this.run, 6)}-${digits(index, 8)}`;
  }

  /** Each meter's own password, derived so that probes can log in without keeping them all. */
  password(index: number): string {
    return createHmac('sha256', this.secret).update(this.meterId(index)).digest('base64url');
  }

  line(index: number): ManifestLine {
    const key = this.keys[index % this.keys.length]!;
    const north = index % 2 === 0;
    const iccid = (p: number): string => `8944${digits(this.run, 6)}${digits(index, 8)}${p}`;
    return {
      meterId: this.meterId(index),
      eid: `89049032${digits(this.run, 6)}${digits(index, 18)}`,
      kind: index % 3 === 0 ? 'gas' : 'electricity',
      region: north ? 'bench-north' : 'bench-south',
      customerId: `CUST-${index % 5000}`,
      tariffId: 'residential-tou',
      reportIntervalS: 900,
      signedTelemetry: false,
      rollbackWindowS: 600,
      fallbackDelayS: 3600,
      devicePublicKeyJwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y },
      mqttPassword: this.password(index),
      profiles: [
        {
          iccid: iccid(1),
          carrierId: north ? 'bench-carrier-a' : 'bench-carrier-b',
          state: 'enabled',
          fallback: false,
        },
        {
          iccid: iccid(2),
          carrierId: north ? 'bench-carrier-b' : 'bench-carrier-c',
          state: 'disabled',
          fallback: true,
        },
      ],
    };
  }

  /** The NDJSON manifest as a stream that is generated only as fast as it is read. */
  stream(linesPerChunk = 256): Readable {
    return Readable.from(this.chunks(linesPerChunk), { objectMode: false });
  }

  private *chunks(linesPerChunk: number): Generator<Buffer> {
    for (let at = 0; at < this.meters; at += linesPerChunk) {
      const end = Math.min(this.meters, at + linesPerChunk);
      let text = '';
      for (let i = at; i < end; i++) text += `${JSON.stringify(this.line(i))}\n`;
      yield Buffer.from(text);
    }
  }
}
