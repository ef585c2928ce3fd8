import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import {
  buildCrl,
  caKeyId,
  crlToPem,
  nodeCrypto,
  x509,
  type DeviceCaStore,
} from '@meterlink/device-pki';
import { counter, createLogger } from '@meterlink/observability';
import { REGISTRY_CONFIG } from '../tokens';
import type { RegistryConfig } from '../config';
import { DEVICE_CA_STORE } from './device-ca.tokens';
import { DeviceCertificatesRepository } from './device-certificates.repository';
import { reloadBroker } from '../broker/broker-reload';
import { PasswordFileService } from '../broker/password-file.service';

const CRL_NUMBER_OID = '2.5.29.20';
const RETRY_MS = 10_000;

export interface PublishedCrl {
  pem: string;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
}

/** The CRL number of a CRL in PEM, if it has one (the extension holds a DER INTEGER). */
export function crlNumberOf(pem: string): bigint | undefined {
  try {
    const ext = new x509.X509Crl(pem).getExtension(CRL_NUMBER_OID);
    if (!ext) return undefined;
    const der = Buffer.from(ext.value);
    if (der[0] !== 0x02 || der[1] !== der.length - 2) return undefined;
    return BigInt(`0x${der.subarray(2).toString('hex') || '0'}`);
  } catch {
    return undefined;
  }
}

/**
 * Keeps the device CA's CRL current: rebuilt from PostgreSQL at start, after every revocation and
 * every DEVICE_CRL_REFRESH_S (a CRL past its nextUpdate makes the broker refuse every device
 * certificate). Each CRL is written to DEVICE_CRL_FILE atomically, since Mosquitto 2.0.11 stops
 * checking revocation if it reloads a missing or broken file, and the co-located broker gets
 * SIGHUP to re-read it. GET /v1/pki/crl.pem serves the same CRL to brokers elsewhere.
 */
@Injectable()
export class CrlPublisherService {
  private readonly log = createLogger('CrlPublisherService');
  private readonly published = counter('device_crl_published_total', 'CRLs signed and published');
  private latest: PublishedCrl | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  /** The last publish failed: what the database holds may not be in the broker's CRL. */
  stale = false;

  constructor(
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    @Inject(DEVICE_CA_STORE) private readonly store: DeviceCaStore | null,
    private readonly certificates: DeviceCertificatesRepository,
    private readonly passwordFile: PasswordFileService,
  ) {}

  current(): PublishedCrl | undefined {
    return this.latest;
  }

  /** Healthy while the published CRL stays valid for at least one more refresh period. */
  health(): { ok: boolean; detail?: string } {
    if (!this.store) return { ok: true };
    const margin = this.config.DEVICE_CRL_REFRESH_S * 1000;
    if (!this.latest) return { ok: false, detail: 'no CRL published yet' };
    if (this.latest.nextUpdate.getTime() - Date.now() < margin)
      return { ok: false, detail: `CRL expires at ${this.latest.nextUpdate.toISOString()}` };
    return { ok: true };
  }

  /** Publishes once (a failure stops the start), then refreshes on a timer. */
  async start(): Promise<void> {
    if (!this.store) return;
    await this.publish();
    this.schedule(this.config.DEVICE_CRL_REFRESH_S * 1000);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Signs a new CRL from the database and publishes it; calls run one after another. */
  publish(): Promise<PublishedCrl> {
    const run = async (): Promise<PublishedCrl> => {
      try {
        const published = await this.publishNow();
        this.stale = false;
        return published;
      } catch (error) {
        this.stale = true;
        throw error;
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.publish().then(
        () => {
          if (this.failing) this.log.info('CRL publishing works again');
          this.failing = false;
          this.schedule(this.config.DEVICE_CRL_REFRESH_S * 1000);
        },
        (error: unknown) => {
          this.failing = true;
          this.log.error({ err: error, retryInMs: RETRY_MS }, 'could not publish the CRL');
          this.schedule(Math.min(RETRY_MS, this.config.DEVICE_CRL_REFRESH_S * 1000));
        },
      );
    }, delayMs);
    this.timer.unref();
  }

  private async publishNow(): Promise<PublishedCrl> {
    if (!this.store) throw new Error('device PKI not configured');
    const ca = this.store.current();
    const file = this.config.DEVICE_CRL_FILE;
    // Another writer (tools/stack/stack.sh re-signs the file when it nears expiry) may have used
    // higher numbers; stay above them so the numbers keep growing.
    const onDisk = file && existsSync(file) ? crlNumberOf(await readFile(file, 'utf8')) : undefined;
    const crlNumber = await this.certificates.nextCrlNumber(onDisk ?? 0n);
    const entries = await this.certificates.revokedEntries(caKeyId(ca.certificate));
    const thisUpdate = new Date();
    const nextUpdate = new Date(
      thisUpdate.getTime() + this.config.DEVICE_CRL_VALIDITY_HOURS * 3_600_000,
    );
    const crl = await buildCrl({ ca, entries, crlNumber, thisUpdate, nextUpdate });
    const pem = crlToPem(crl);
    // Never hand the broker a CRL it cannot use: that would switch its revocation checks off.
    const check = new x509.X509Crl(pem);
    if (!(await check.verify({ publicKey: ca.certificate }, nodeCrypto)))
      throw new Error('the new CRL does not verify against the device CA');
    if (file) {
      const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
      try {
        await writeFile(tmp, pem, { mode: 0o644 });
        await rename(tmp, file);
      } catch (error) {
        await rm(tmp, { force: true });
        throw error;
      }
      // In password-file mode a render signals the broker too, and waits until a reload that
      // began after it actually happened: a bare SIGHUP can be lost during another reload.
      if (this.passwordFile.enabled) await this.passwordFile.render();
      else await reloadBroker(this.config.MQTT_BROKER_PID_FILE, this.log);
    }
    this.latest = { pem, crlNumber, thisUpdate, nextUpdate, entries: entries.length };
    this.published.inc();
    this.log.info(
      { crlNumber: crlNumber.toString(), entries: entries.length, nextUpdate, file },
      'CRL published',
    );
    return this.latest;
  }
}
