import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { ManifestLine } from '@meterlink/contracts';
import { counter, createLogger, histogram } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL, REGISTRY_CONFIG } from '../tokens';
import type { RegistryConfig } from '../config';
import { MetersRepository, newMeterRecord } from '../meters/meters.repository';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';
import { BrokerCredentialsService } from '../broker/broker-credentials.service';
import { PasswordFileService } from '../broker/password-file.service';
import {
  ImportsRepository,
  MAX_REPORTED_ERRORS,
  type ImportReport,
  type LineError,
} from '../imports/imports.repository';
import { AuditLogRepository } from '../audit/audit-log.repository';
import { ndjsonLines } from './ndjson-lines';
import { BatchPipeline, ConcurrentStage, SerialStage } from './batch-pipeline';
import { parseLine } from './manifest-line';

const MAX_LINE_BYTES = 64 * 1024;
const PROGRESS_EVERY_MS = 2_000;
/** Line errors found while reading are written once this many wait (batches write their own). */
const ERRORS_PER_WRITE = 1_000;
const UNIQUE_VIOLATION = '23505';
/** A batch raced another import for a meter and must be checked again (rolls its insert back). */
class StoreConflict extends Error {}
const DEADLOCK_DETECTED = '40P01';
const storeConflicts = counter(
  'registry_import_store_retries_total',
  'Manifest batches stored again after another batch took one of their EIDs or ICCIDs first',
);

const stageSeconds = histogram(
  'registry_import_stage_seconds',
  'Time a manifest batch spent in each import stage (parse is per batch of lines read)',
  ['stage'],
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
);

async function timed<T>(stage: string, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  try {
    return await work();
  } finally {
    stageSeconds.observe({ stage }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}

interface ParsedLine {
  line: number;
  value: ManifestLine;
}

/** A batch after it was stored: what the report and the later stages need. */
interface Stored {
  inserted: ManifestLine[];
  /** Existing active meters whose credential never reached the broker (a crash in between). */
  repair: ManifestLine[];
  unchanged: number;
  rejected: LineError[];
}

/**
 * Factory manifest import (provisioning.md): streamed line by line, invalid lines reported with
 * their number and reason while the valid ones land, idempotent on meterId. For a new meter the
 * order is database, then fleet topic, then broker credential, so that by the time a meter can
 * connect every service already knows it.
 *
 * Throughput: batches of IMPORT_BATCH_SIZE lines go through serial stages (password verifiers
 * in password-file mode, store in PostgreSQL, publish on fleet.meters.v1, broker credential) with up to IMPORT_PIPELINE_DEPTH
 * batches in flight, so the stages of different batches overlap; reading waits when the pipeline
 * is full, which slows the upload down instead of buffering it (memory stays flat for a
 * million-line manifest).
 */
@Injectable()
export class ImportManifestService {
  private readonly log = createLogger('ImportManifestService');
  private readonly hashStage = new SerialStage();
  private readonly storeStage: ConcurrentStage;
  private readonly publishStage = new SerialStage();
  private readonly brokerStage = new SerialStage();

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly meters: MetersRepository,
    private readonly imports: ImportsRepository,
    private readonly audit: AuditLogRepository,
    private readonly publisher: FleetPublisherService,
    private readonly broker: BrokerCredentialsService,
    private readonly passwordFile: PasswordFileService,
  ) {
    this.storeStage = new ConcurrentStage(config.IMPORT_STORE_CONCURRENCY);
  }

  async import(input: AsyncIterable<Buffer | string>, actor: string): Promise<ImportReport> {
    const report: ImportReport = {
      importId: randomUUID(),
      kind: 'manifest',
      status: 'running',
      actor,
      startedAt: new Date().toISOString(),
      lines: 0,
      imported: 0,
      unchanged: 0,
      rejected: 0,
      errors: [],
    };
    const started = Date.now();
    await this.imports.create(report);
    // Every line error goes to import_line_errors; the report carries the first ones inline.
    let unwritten: LineError[] = [];
    const reject = (line: number, reason: string): void => {
      report.rejected++;
      unwritten.push({ line, reason });
      if (report.errors.length < MAX_REPORTED_ERRORS) report.errors.push({ line, reason });
    };
    const writeErrors = async (): Promise<void> => {
      if (unwritten.length === 0) return;
      const errors = unwritten;
      unwritten = [];
      await this.imports.appendErrors(report.importId, errors);
    };
    let lastProgress = Date.now();
    const provisioned = { count: 0 };
    const pipeline = new BatchPipeline<ParsedLine[]>(
      this.config.IMPORT_PIPELINE_DEPTH,
      async (batch) => {
        provisioned.count += await this.importBatch(batch, report, reject);
        await writeErrors();
        if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
          lastProgress = Date.now();
          await this.imports.progress(report);
        }
      },
    );
    try {
      let batch: ParsedLine[] = [];
      let parseStarted = process.hrtime.bigint();
      for await (const item of ndjsonLines(input, MAX_LINE_BYTES)) {
        if (unwritten.length >= ERRORS_PER_WRITE) await writeErrors();
        report.lines++;
        if ('tooLong' in item) {
          reject(item.lineNo, `line longer than ${MAX_LINE_BYTES} bytes`);
          continue;
        }
        const parsed = parseLine(item.text);
        if ('reason' in parsed) {
          reject(item.lineNo, parsed.reason);
          continue;
        }
        batch.push({ line: item.lineNo, value: parsed.value });
        if (batch.length >= this.config.IMPORT_BATCH_SIZE) {
          stageSeconds.observe(
            { stage: 'parse' },
            Number(process.hrtime.bigint() - parseStarted) / 1e9,
          );
          await pipeline.submit(batch);
          batch = [];
          parseStarted = process.hrtime.bigint();
        }
      }
      if (batch.length > 0) await pipeline.submit(batch);
      await pipeline.drain();
      await writeErrors();
      // Batches store concurrently, so their line errors arrive out of order: when the report
      // cannot carry them all, it carries the first by line number.
      if (report.rejected > report.errors.length)
        report.errors = await this.imports.errors(report.importId, 0, MAX_REPORTED_ERRORS);
      // The answer says "imported" only once the broker has been given every credential. A file
      // write costs O(fleet) and a broker reload, so an import that provisioned nothing skips it.
      if (provisioned.count > 0) await timed('broker', () => this.passwordFile.render());
      report.status = 'completed';
    } catch (error) {
      // Batches already stored stay: importing the same manifest again completes the rest.
      await pipeline.drain().catch(() => undefined);
      report.status = 'failed';
      report.failure = error instanceof Error ? error.message : String(error);
      this.log.error({ err: error, importId: report.importId }, 'manifest import failed');
      throw error;
    } finally {
      report.finishedAt = new Date().toISOString();
      // A failed import keeps the line errors it found, as far as the database takes them.
      await writeErrors().catch((err: unknown) =>
        this.log.error({ err, importId: report.importId }, 'line errors not written'),
      );
      report.errors.sort((a, b) => a.line - b.line);
      await this.imports.finish(report);
      await this.audit.append(actor, 'manifest.import', report.importId, {
        status: report.status,
        lines: report.lines,
        imported: report.imported,
        unchanged: report.unchanged,
        rejected: report.rejected,
      });
      this.log.info(
        { ...report, errors: report.errors.length, ms: Date.now() - started },
        'manifest import finished',
      );
    }
    return report;
  }

  /** Returns how many meters were given their broker credential. */
  private async importBatch(
    batch: ParsedLine[],
    report: ImportReport,
    reject: (line: number, reason: string) => void,
  ): Promise<number> {
    const verifiers = await this.hashStage.run(() => timed('hash', () => this.hashNew(batch)));
    const stored = await this.storeStage.run(() =>
      timed('store', () => this.storeWithRetry(batch, verifiers, report.importId)),
    );
    report.imported += stored.inserted.length;
    report.unchanged += stored.unchanged;
    for (const { line, reason } of stored.rejected) reject(line, reason);
    const toProvision = [...stored.inserted, ...stored.repair];
    if (toProvision.length === 0) return 0;
    await this.publishStage.run(() =>
      timed('publish', async () => {
        const records = stored.inserted.map((line) => newMeterRecord(line));
        if (stored.repair.length > 0) {
          const current = await this.meters.findMany(stored.repair.map((l) => l.meterId));
          records.push(...[...current.values()].map((s) => s.record));
        }
        await this.publisher.publishMeters(records);
      }),
    );
    await this.brokerStage.run(() =>
      timed('broker', () => this.provision(stored.inserted, stored.repair, verifiers)),
    );
    return toProvision.length;
  }

  /**
   * Password-file mode: the verifiers of the meters that do not exist yet, so that they are
   * stored with the meter (PBKDF2 on the thread pool, while the previous batch is stored).
   */
  private async hashNew(batch: ParsedLine[]): Promise<Map<string, string>> {
    if (this.broker.mode !== 'password-file') return new Map();
    const existing = await this.meters.existingIds(batch.map((i) => i.value.meterId));
    // The first line of a meter is the one stored (store()): its password is the one to verify.
    const first = new Map<string, ManifestLine>();
    for (const { value } of batch)
      if (!existing.has(value.meterId) && !first.has(value.meterId))
        first.set(value.meterId, value);
    const fresh = [...first.values()];
    const verifiers = await this.passwordFile.verifiers(fresh.map((l) => l.mqttPassword));
    return new Map(fresh.map((l, i) => [l.meterId, verifiers[i]!]));
  }

  /**
   * Batches are stored concurrently (IMPORT_STORE_CONCURRENCY), with no lock: another batch, of
   * this import or another, may take an EID or ICCID between the check and the insert. The insert
   * then fails once the other transaction committed (or the two deadlock), and the batch is
   * checked and stored again, which now rejects that line as a duplicate.
   */
  private async storeWithRetry(
    batch: ParsedLine[],
    verifiers: Map<string, string>,
    importId: string,
  ): Promise<Stored> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store(batch, verifiers, importId);
      } catch (error) {
        const code = (error as { code?: string }).code;
        const conflict =
          error instanceof StoreConflict || code === UNIQUE_VIOLATION || code === DEADLOCK_DETECTED;
        if (conflict && attempt < 5) {
          storeConflicts.inc();
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * One transaction: classify each line against what exists, insert the new meters. Changes no
   * report counter itself, so that a retried batch counts once.
   */
  private async store(
    batch: ParsedLine[],
    verifiers: Map<string, string>,
    importId: string,
  ): Promise<Stored> {
    const result: Stored = { inserted: [], repair: [], unchanged: 0, rejected: [] };
    const reject = (line: number, reason: string): number => result.rejected.push({ line, reason });
    return withTransaction(this.pool, async (client) => {
      const meterIds = [...new Set(batch.map((i) => i.value.meterId))];
      const known = await this.meters.importState(client, meterIds);
      const eids = await this.meters.existingEids(
        client,
        batch.map((i) => i.value.eid),
      );
      const iccids = await this.meters.existingIccids(
        client,
        batch.flatMap((i) => i.value.profiles.map((p) => p.iccid)),
      );
      const fresh: ManifestLine[] = [];
      // Meters this batch inserts, by meterId: a later line of one of them is judged against
      // it as a line of a later batch would be against the stored meter, whatever the batch size.
      const freshByMeter = new Map<string, ManifestLine>();
      const repairing = new Set<string>();
      const seenEids = new Set<string>();
      const seenIccids = new Set<string>();
      for (const item of batch) {
        const line = item.value;
        const stored = known.get(line.meterId) ?? freshByMeter.get(line.meterId);
        if (stored) {
          if (stored.eid !== line.eid) {
            reject(item.line, `meter ${line.meterId} already exists with another eid`);
            continue;
          }
          result.unchanged++;
          const state = known.get(line.meterId);
          if (state?.active && !state.provisioned && !repairing.has(line.meterId)) {
            repairing.add(line.meterId);
            result.repair.push(line);
          }
          continue;
        }
        const eidOwner = eids.get(line.eid);
        if (eidOwner || seenEids.has(line.eid)) {
          reject(
            item.line,
            `eid already belongs to ${eidOwner ?? 'another meter in this manifest'}`,
          );
          continue;
        }
        const clash = line.profiles.find((p) => iccids.has(p.iccid) || seenIccids.has(p.iccid));
        if (clash) {
          reject(
            item.line,
            `iccid ${clash.iccid} already belongs to ${iccids.get(clash.iccid) ?? 'another meter in this manifest'}`,
          );
          continue;
        }
        seenEids.add(line.eid);
        line.profiles.forEach((p) => seenIccids.add(p.iccid));
        freshByMeter.set(line.meterId, line);
        fresh.push(line);
      }
      const inserted = await this.meters.insertNew(client, fresh, importId, verifiers);
      // Another import stored one of these meters meanwhile: check the batch again against it
      // (same EID: unchanged; another: rejected), as for a conflict on an EID or ICCID.
      if (inserted.size < fresh.length) throw new StoreConflict();
      result.inserted = fresh;
      return result;
    });
  }

  /**
   * The broker credential of meters already stored and published. Password-file mode: they may
   * now go into the password file (written in the background during a long import, and once
   * more at its end).
   */
  private async provision(
    inserted: ManifestLine[],
    repair: ManifestLine[],
    verifiers: Map<string, string>,
  ): Promise<void> {
    if (this.broker.mode === 'password-file') {
      const ready = new Map(inserted.map((l) => [l.meterId, verifiers.get(l.meterId)!]));
      // A repaired meter keeps the verifier it has; one stored in dynsec mode gets one now.
      const repaired = await this.passwordFile.verifiers(repair.map((l) => l.mqttPassword));
      repair.forEach((l, i) => ready.set(l.meterId, repaired[i]!));
      await this.meters.markProvisionedWithVerifiers(ready);
      this.passwordFile.renderSoon();
      return;
    }
    const provisioned = await this.broker.provision(
      [...inserted, ...repair].map((l) => ({ meterId: l.meterId, password: l.mqttPassword })),
    );
    await this.meters.markProvisioned([...provisioned]);
  }
}
