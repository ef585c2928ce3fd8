import { randomBytes } from 'node:crypto';
import { chown, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { isTransient } from '@meterlink/kafka';
import { connectMqtt } from '@meterlink/mqtt';
import { counter, createLogger, histogram } from '@meterlink/observability';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL, REGISTRY_CONFIG } from '../tokens';
import type { RegistryConfig } from '../config';
import { mosquittoVerifier } from './mosquitto-password';
import { reloadBroker } from './broker-reload';

const FETCH_ROWS = 20_000;
/** Longer than a reload of a million lines takes (1.6 s measured), so a reload is not cut short. */
const RESIGNAL_MS = 5_000;
const RETRY_MS = 10_000;
/**
 * Not a meter: meterIds match ^[A-Za-z0-9._-]+$. It may log in, and the acl_file patterns give it
 * only its own mtr/v1/~registry-canary/ topics, which ingestion refuses as an unknown meter.
 */
export const CANARY_USERNAME = '~registry-canary';
const renderSeconds = histogram(
  'registry_password_file_render_seconds',
  'Time to write the broker password file from PostgreSQL and signal the broker',
  [],
  [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);
const renders = counter('registry_password_file_renders_total', 'Password files written', [
  'outcome',
]);

/**
 * BROKER_CREDENTIALS=password-file: each meter's verifier lives in PostgreSQL
 * (`meters.broker_verifier`), and the broker's password_file is written from there, whole and
 * atomically, then the broker gets SIGHUP. Mosquitto re-reads the file in O(fleet) on a reload
 * (measured: 0.2 s for 100,000 lines, 1.6 s for 1,000,000) and disconnects password sessions
 * whose line went away. Authorisation is the broker's acl_file patterns
 * (`pattern write mtr/v1/%u/up/#`, `pattern read mtr/v1/%u/down/#`), which the classic ACL file
 * does substitute, so a meter needs no per-meter state beyond this one line.
 *
 * Writes are coalesced: whoever asks for a render gets one that started after the ask, and asks
 * that arrive while one runs share the next.
 */
@Injectable()
export class PasswordFileService {
  private readonly log = createLogger('PasswordFileService');
  private tail: Promise<void> = Promise.resolve();
  /** Asked for and not started yet: later asks share it. */
  private queued: Promise<void> | undefined;
  private lastError: string | undefined;
  private lastRenderAt = 0;
  private soonTimer: NodeJS.Timeout | undefined;

  constructor(
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  get enabled(): boolean {
    return this.config.BROKER_CREDENTIALS === 'password-file';
  }

  /** Verifiers for the passwords, in order; PBKDF2 runs on the thread pool, in parallel. */
  verifiers(passwords: string[]): Promise<string[]> {
    return Promise.all(
      passwords.map((p) => mosquittoVerifier(p, this.config.MQTT_PASSWORD_ITERATIONS)),
    );
  }

  health(): { ok: boolean; detail?: string } {
    if (!this.enabled || this.lastError === undefined) return { ok: true };
    return { ok: false, detail: `last password file write failed: ${this.lastError}` };
  }

  /** A render that starts after this call; resolves when the broker has been told. */
  render(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    if (this.queued) return this.queued;
    const run = this.tail
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.renderWithRetry();
      });
    this.queued = run;
    this.tail = run;
    return run;
  }

  /**
   * During a long import, meters of earlier batches become usable without waiting for its end:
   * at most one background render per interval. Failures are logged and kept for health.
   */
  renderSoon(intervalMs = 10_000, minDelayMs = 0): void {
    if (!this.enabled || this.soonTimer) return;
    const wait = Math.max(minDelayMs, this.lastRenderAt + intervalMs - Date.now());
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      this.render().catch(() => undefined);
    }, wait);
    this.soonTimer.unref();
  }

  stop(): void {
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
  }

  /**
   * SIGHUP only asks the broker to reload. The file's canary line carries a password new to each
   * render, so once the canary can log in, the broker runs this file (and a broker that does not
   * read the file at all shows up here, not as meters that cannot connect). Mosquitto 2.0.11
   * forgets a SIGHUP that arrives while it is reloading (measured: a 1.25-million-line reload
   * swallowed the next signal), so the signal is repeated until the canary gets in.
   */
  private async untilBrokerAccepts(canaryPassword: string): Promise<void> {
    const timeoutS = this.config.MQTT_PASSWORD_FILE_RELOAD_TIMEOUT_S;
    const started = Date.now();
    let signalled = started;
    for (;;) {
      try {
        const client = await connectMqtt({
          url: this.config.MQTT_URL,
          clientId: `${CANARY_USERNAME}-${process.pid}`,
          username: CANARY_USERNAME,
          password: canaryPassword,
          clean: true,
          extra: {
            reconnectPeriod: 0,
            connectTimeout: 5_000,
            properties: { sessionExpiryInterval: 0 },
          },
        });
        await client.endAsync();
        return;
      } catch (error) {
        if (Date.now() - started > timeoutS * 1000)
          throw new Error(
            `the broker did not take the new password file within ${timeoutS} s ` +
              '(is it its password_file, and does it get SIGHUP?)',
            { cause: error },
          );
        if (Date.now() - signalled > RESIGNAL_MS) {
          signalled = Date.now();
          await reloadBroker(this.config.MQTT_BROKER_PID_FILE, this.log);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async renderWithRetry(): Promise<void> {
    const started = process.hrtime.bigint();
    for (let attempt = 1; ; attempt++) {
      try {
        const lines = await this.renderOnce();
        this.lastError = undefined;
        this.lastRenderAt = Date.now();
        renders.inc({ outcome: 'ok' });
        renderSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        this.log.info({ lines, attempt }, 'broker password file written');
        return;
      } catch (error) {
        // A lost connection: the next attempt takes another one from the pool.
        if (isTransient(error) && attempt < 3) continue;
        this.lastError = error instanceof Error ? error.message : String(error);
        renders.inc({ outcome: 'failed' });
        this.log.error({ err: error }, 'could not write the broker password file');
        // Whoever asked learns of the failure; the broker still needs the file, so keep trying.
        this.renderSoon(RETRY_MS, RETRY_MS);
        throw error;
      }
    }
  }

  /**
   * The file lists the active meters whose fleet record is out (broker_provisioned) with a
   * verifier, from one snapshot (the cursor's).
   */
  private async renderOnce(): Promise<number> {
    const file = this.config.MQTT_PASSWORD_FILE!;
    const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
    const previous = await stat(file).catch(() => undefined);
    const client = await this.pool.connect();
    let lines = 0;
    try {
      await client.query('BEGIN READ ONLY');
      // Registries sharing a database and a broker (tests run several; a rollout may overlap two)
      // render one at a time, each from a snapshot taken once it holds the lock, and keep it
      // until the broker took its file: a file is never replaced by one from an older snapshot,
      // nor before its own canary got in.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
        `registry.password-file:${file}`,
      ]);
      await client.query(
        `DECLARE password_lines NO SCROLL CURSOR FOR
           SELECT meter_id || ':' || broker_verifier AS line FROM registry.meters
           WHERE status = 'active' AND broker_provisioned AND broker_verifier IS NOT NULL`,
      );
      // The broker reads the file after dropping root, so the new file keeps the old one's owner.
      const handle = await open(tmp, 'w', previous ? previous.mode & 0o777 : 0o640);
      const canary = randomBytes(18).toString('base64url');
      try {
        // A random 144-bit password needs no key stretching: one PBKDF2 round.
        await handle.write(`${CANARY_USERNAME}:${await mosquittoVerifier(canary, 1)}\n`);
        for (;;) {
          const { rows } = await client.query<{ line: string }>(
            `FETCH ${FETCH_ROWS} FROM password_lines`,
          );
          if (rows.length === 0) break;
          lines += rows.length;
          await handle.write(`${rows.map((r) => r.line).join('\n')}\n`);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (previous && process.getuid?.() === 0)
        await chown(tmp, previous.uid, previous.gid).catch((error: unknown) =>
          this.log.warn({ err: error, file }, 'could not keep the password file owner'),
        );
      await rename(tmp, file);
      await reloadBroker(this.config.MQTT_BROKER_PID_FILE, this.log);
      await this.untilBrokerAccepts(canary);
      await client.query('COMMIT');
      return lines;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      await rm(tmp, { force: true });
      throw error;
    } finally {
      client.release();
    }
  }
}
