import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { manifestLineSchema, type ManifestLine } from '@meterlink/contracts';
import { createLogger } from '@meterlink/observability';
import { withTransaction, type Pool } from '@meterlink/postgres';
import { PG_POOL, REGISTRY_CONFIG } from '../tokens';
import type { RegistryConfig } from '../config';
import { MetersRepository } from '../meters/meters.repository';
import { FleetPublisherService } from '../fleet-publisher/fleet-publisher.service';
import { BrokerCredentialsService } from '../broker/broker-credentials.service';

export interface LineError {
  line: number;
  reason: string;
}
export interface ImportReport {
  importId: string;
  lines: number;
  imported: number;
  unchanged: number;
  rejected: number;
  errors: LineError[];
}

/** Line errors kept in the stored report; the count stays exact beyond it. */
const MAX_REPORTED_ERRORS = 10_000;
const MAX_LINE_BYTES = 64 * 1024;

/**
 * Factory manifest import (provisioning.md): streamed line by line, invalid lines reported with
 * their number and reason while the valid ones land, idempotent on meterId. For a new meter the
 * order is database, then fleet topic, then broker credential, so that by the time a meter can
 * connect every service already knows it.
 */
@Injectable()
export class ImportManifestService {
  private readonly log = createLogger('ImportManifestService');
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly meters: MetersRepository,
    private readonly publisher: FleetPublisherService,
    private readonly broker: BrokerCredentialsService,
  ) {}

  async import(input: Readable, actor: string): Promise<ImportReport> {
    const report: ImportReport = {
      importId: randomUUID(),
      lines: 0,
      imported: 0,
      unchanged: 0,
      rejected: 0,
      errors: [],
    };
    const started = Date.now();
    await this.pool.query(
      `INSERT INTO registry.imports (import_id, kind) VALUES ($1, 'manifest')`,
      [report.importId],
    );
    const reject = (line: number, reason: string): void => {
      report.rejected++;
      if (report.errors.length < MAX_REPORTED_ERRORS) report.errors.push({ line, reason });
    };
    let batch: { line: number; value: ManifestLine }[] = [];
    const lines = createInterface({ input, crlfDelay: Infinity });
    for await (const text of lines) {
      report.lines++;
      const lineNo = report.lines;
      if (text.trim() === '') {
        report.lines--;
        continue;
      }
      if (text.length > MAX_LINE_BYTES) {
        reject(lineNo, `line longer than ${MAX_LINE_BYTES} bytes`);
        continue;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        reject(lineNo, 'not valid JSON');
        continue;
      }
      const parsed = manifestLineSchema.safeParse(json);
      if (!parsed.success) {
        reject(
          lineNo,
          parsed.error.issues
            .slice(0, 3)
            .map((i) => `${i.path.join('.') || '(line)'}: ${i.message}`)
            .join('; '),
        );
        continue;
      }
      batch.push({ line: lineNo, value: parsed.data });
      if (batch.length >= this.config.IMPORT_BATCH_SIZE) {
        await this.importBatch(batch, report, reject);
        batch = [];
      }
    }
    if (batch.length > 0) await this.importBatch(batch, report, reject);
    await this.pool.query(
      `UPDATE registry.imports SET finished_at = now(), lines = $2, imported = $3, unchanged = $4, rejected = $5, errors = $6 WHERE import_id = $1`,
      [
        report.importId,
        report.lines,
        report.imported,
        report.unchanged,
        report.rejected,
        JSON.stringify(report.errors),
      ],
    );
    await this.meters.audit(actor, 'manifest.import', report.importId, {
      lines: report.lines,
      imported: report.imported,
      unchanged: report.unchanged,
      rejected: report.rejected,
    });
    this.log.info(
      { ...report, errors: report.errors.length, ms: Date.now() - started },
      'manifest imported',
    );
    return report;
  }

  private async importBatch(
    batch: { line: number; value: ManifestLine }[],
    report: ImportReport,
    reject: (line: number, reason: string) => void,
  ): Promise<void> {
    // One line per meter within the batch: a repeated meterId is the same meter again.
    const byMeter = new Map<string, { line: number; value: ManifestLine }>();
    for (const item of batch) {
      if (byMeter.has(item.value.meterId)) report.unchanged++;
      else byMeter.set(item.value.meterId, item);
    }
    const { inserted, existing } = await withTransaction(this.pool, async (client) => {
      const known = await this.meters.findMany([...byMeter.keys()], client);
      const eids = await this.meters.existingEids(
        client,
        [...byMeter.values()].map((i) => i.value.eid),
      );
      const iccids = await this.meters.existingIccids(
        client,
        [...byMeter.values()].flatMap((i) => i.value.profiles.map((p) => p.iccid)),
      );
      const fresh: ManifestLine[] = [];
      const again: { line: number; value: ManifestLine }[] = [];
      const seenEids = new Set<string>();
      const seenIccids = new Set<string>();
      for (const item of byMeter.values()) {
        const line = item.value;
        const stored = known.get(line.meterId);
        if (stored) {
          if (stored.record.eid !== line.eid)
            reject(item.line, `meter ${line.meterId} already exists with another eid`);
          else again.push(item);
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
        fresh.push(line);
      }
      const insertedIds = await this.meters.insertNew(client, fresh);
      return { inserted: insertedIds, existing: again };
    });
    report.imported += inserted.size;
    report.unchanged += existing.length;
    // Meters inserted now, and earlier ones whose credential was never provisioned (a crash
    // between commit and provisioning), get their fleet record and credential now.
    const storedExisting = await this.meters.findMany(existing.map((e) => e.value.meterId));
    const toProvision = [
      ...[...inserted].map((id) => byMeter.get(id)!.value),
      ...existing
        .filter(
          (e) =>
            storedExisting.get(e.value.meterId)?.brokerProvisioned === false &&
            storedExisting.get(e.value.meterId)?.record.status === 'active',
        )
        .map((e) => e.value),
    ];
    if (toProvision.length === 0) return;
    const stored = await this.meters.findMany(toProvision.map((l) => l.meterId));
    await this.publisher.publishMeters([...stored.values()].map((s) => s.record));
    const provisioned = await this.broker.provision(
      toProvision.map((l) => ({ meterId: l.meterId, password: l.mqttPassword })),
    );
    await this.meters.markProvisioned([...provisioned]);
  }
}
