import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';

export interface LineError {
  line: number;
  reason: string;
}
export type ImportKind = 'manifest' | 'catalogue';
export type ImportStatus = 'running' | 'completed' | 'failed';

/** An import and what it did; the manifest import's HTTP answer is this, at its end. */
export interface ImportReport {
  importId: string;
  kind: ImportKind;
  status: ImportStatus;
  actor: string;
  startedAt: string;
  finishedAt?: string;
  /** Non-blank lines read (manifest). */
  lines: number;
  imported: number;
  unchanged: number;
  rejected: number;
  /**
   * Line errors, the first MAX_REPORTED_ERRORS of them by line number; `rejected` counts all,
   * and every one is kept in `import_line_errors` (GET /v1/imports/{id}/errors).
   */
  errors: LineError[];
  /** Why a failed import stopped. */
  failure?: string;
  /** What a catalogue import changed. */
  detail?: Record<string, unknown>;
}
export type ImportSummary = Omit<ImportReport, 'errors'>;

/** Line errors a report carries inline; all of them are kept in `import_line_errors`. */
export const MAX_REPORTED_ERRORS = 10_000;

interface ImportRow {
  import_id: string;
  kind: ImportKind;
  status: ImportStatus;
  actor: string;
  started_at: Date;
  finished_at: Date | null;
  lines: number;
  imported: number;
  unchanged: number;
  rejected: number;
  errors?: LineError[];
  failure: string | null;
  detail: Record<string, unknown>;
}

function toReport(row: ImportRow): ImportSummary & { errors?: LineError[] } {
  return {
    importId: row.import_id,
    kind: row.kind,
    status: row.status,
    actor: row.actor,
    startedAt: row.started_at.toISOString(),
    ...(row.finished_at ? { finishedAt: row.finished_at.toISOString() } : {}),
    lines: row.lines,
    imported: row.imported,
    unchanged: row.unchanged,
    rejected: row.rejected,
    ...(row.errors ? { errors: row.errors } : {}),
    ...(row.failure ? { failure: row.failure } : {}),
    ...(Object.keys(row.detail).length > 0 ? { detail: row.detail } : {}),
  };
}

const SUMMARY_COLUMNS = `import_id, kind, status, actor, started_at, finished_at, lines, imported,
  unchanged, rejected, failure, detail`;

@Injectable()
export class ImportsRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async create(report: ImportReport): Promise<void> {
    await this.pool.query(
      `INSERT INTO registry.imports (import_id, kind, status, actor, started_at) VALUES ($1, $2, $3, $4, $5)`,
      [report.importId, report.kind, report.status, report.actor, report.startedAt],
    );
  }

  /** Counts so far, so that GET /v1/imports/{id} shows a long import moving. */
  async progress(report: ImportReport): Promise<void> {
    await this.pool.query(
      `UPDATE registry.imports SET lines = $2, imported = $3, unchanged = $4, rejected = $5, updated_at = now()
       WHERE import_id = $1 AND status = 'running'`,
      [report.importId, report.lines, report.imported, report.unchanged, report.rejected],
    );
  }

  async finish(report: ImportReport): Promise<void> {
    await this.pool.query(
      `UPDATE registry.imports SET status = $2, finished_at = $3, lines = $4, imported = $5, unchanged = $6,
         rejected = $7, errors = $8, failure = $9, detail = $10, updated_at = now()
       WHERE import_id = $1`,
      [
        report.importId,
        report.status,
        report.finishedAt ?? new Date().toISOString(),
        report.lines,
        report.imported,
        report.unchanged,
        report.rejected,
        JSON.stringify(report.errors),
        report.failure ?? null,
        JSON.stringify(report.detail ?? {}),
      ],
    );
  }

  /** Line errors as the import finds them (once each: a line is rejected at most once). */
  async appendErrors(importId: string, errors: readonly LineError[]): Promise<void> {
    if (errors.length === 0) return;
    await this.pool.query(
      `INSERT INTO registry.import_line_errors (import_id, line, reason)
       SELECT $1, line, reason FROM unnest($2::integer[], $3::text[]) AS e(line, reason)
       ON CONFLICT (import_id, line) DO NOTHING`,
      [importId, errors.map((e) => e.line), errors.map((e) => e.reason)],
    );
  }

  /** An import's line errors by line number, after the line `after`. */
  async errors(importId: string, after: number, limit: number): Promise<LineError[]> {
    const { rows } = await this.pool.query<LineError>(
      `SELECT line, reason FROM registry.import_line_errors
       WHERE import_id = $1 AND line > $2 ORDER BY line LIMIT $3`,
      [importId, after, limit],
    );
    return rows;
  }

  async exists(importId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM registry.imports WHERE import_id = $1',
      [importId],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Imports that stopped moving while running were cut off (the process died or was killed);
   * a live one updates its progress at least every few seconds.
   */
  async markInterrupted(staleAfterSeconds: number): Promise<ImportSummary[]> {
    const { rows } = await this.pool.query<ImportRow>(
      `UPDATE registry.imports SET status = 'failed', failure = 'interrupted: no progress since ' || updated_at,
         finished_at = now() WHERE status = 'running' AND updated_at < now() - make_interval(secs => $1)
       RETURNING ${SUMMARY_COLUMNS}`,
      [staleAfterSeconds],
    );
    return rows.map(toReport);
  }

  async get(importId: string): Promise<ImportReport | undefined> {
    const { rows } = await this.pool.query<ImportRow>(
      `SELECT ${SUMMARY_COLUMNS}, errors FROM registry.imports WHERE import_id = $1`,
      [importId],
    );
    const row = rows[0];
    return row ? (toReport(row) as ImportReport) : undefined;
  }

  /** Newest first; `before` is the cursor (an importId from the previous page). */
  async list(filter: {
    kind?: ImportKind;
    status?: ImportStatus;
    before?: string;
    limit: number;
  }): Promise<ImportSummary[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.kind) where.push(`kind = $${args.push(filter.kind)}`);
    if (filter.status) where.push(`status = $${args.push(filter.status)}`);
    if (filter.before)
      where.push(
        `(started_at, import_id) < (SELECT started_at, import_id FROM registry.imports WHERE import_id = $${args.push(filter.before)})`,
      );
    const { rows } = await this.pool.query<ImportRow>(
      `SELECT ${SUMMARY_COLUMNS} FROM registry.imports ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY started_at DESC, import_id DESC LIMIT $${args.push(filter.limit)}`,
      args,
    );
    return rows.map(toReport);
  }
}
