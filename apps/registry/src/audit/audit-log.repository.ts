import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from '@meterlink/postgres';
import { PG_POOL } from '../tokens';

export interface AuditEntry {
  auditId: number;
  at: string;
  /** Who: an API token's id (`token-<n>`), `eim` for what the platform learned from swaps. */
  actor: string;
  /** What, as `<thing>.<verb>`: manifest.import, catalogue.import, meter.decommission, ... */
  action: string;
  /** Which: a meterId, an importId, `catalogue`. */
  subject: string;
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  subject?: string;
  since?: string;
  until?: string;
  /** Cursor: entries older than this auditId (newest come first). */
  before?: number;
  limit: number;
}

interface AuditRow {
  audit_id: string;
  at: Date;
  actor: string;
  action: string;
  subject: string;
  detail: Record<string, unknown>;
}

/**
 * The registry's append-only audit log (registry.audit_log): every change an operator, an import
 * or the platform made. PostgreSQL itself refuses UPDATE, DELETE and TRUNCATE on the table
 * (migration 005), so this class can only add and read.
 */
@Injectable()
export class AuditLogRepository {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  /** Pass the transaction's client to record a change together with the change itself. */
  async append(
    actor: string,
    action: string,
    subject: string,
    detail: Record<string, unknown>,
    client: Pool | PoolClient = this.pool,
  ): Promise<void> {
    await client.query(
      'INSERT INTO registry.audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4)',
      [actor, action, subject, JSON.stringify(detail)],
    );
  }

  async list(filter: AuditFilter): Promise<AuditEntry[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.actor) where.push(`actor = $${args.push(filter.actor)}`);
    if (filter.action) where.push(`action = $${args.push(filter.action)}`);
    if (filter.subject) where.push(`subject = $${args.push(filter.subject)}`);
    if (filter.since) where.push(`at >= $${args.push(filter.since)}`);
    if (filter.until) where.push(`at < $${args.push(filter.until)}`);
    if (filter.before !== undefined) where.push(`audit_id < $${args.push(filter.before)}`);
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT audit_id, at, actor, action, subject, detail FROM registry.audit_log
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY audit_id DESC LIMIT $${args.push(filter.limit)}`,
      args,
    );
    return rows.map((r) => ({
      auditId: Number(r.audit_id),
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      subject: r.subject,
      detail: r.detail,
    }));
  }
}
