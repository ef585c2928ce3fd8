import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import type { z } from 'zod';
import { ApiAuthGuard, RequiresRole } from '@meterlink/service-kit';
import { auditQuerySchema, type auditListSchema } from '../api/api-schemas';
import { parseRequest } from '../api/validation';
import { AuditLogRepository } from './audit-log.repository';

/** The append-only audit log, newest first, filtered by who, what, which and when. */
@UseGuards(ApiAuthGuard)
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditLogRepository) {}

  @Get()
  @RequiresRole('admin')
  async list(@Query() query: unknown): Promise<z.infer<typeof auditListSchema>> {
    const filter = parseRequest(auditQuerySchema, query);
    const entries = await this.audit.list(filter);
    return {
      entries,
      ...(entries.length === filter.limit
        ? { nextBefore: entries[entries.length - 1]!.auditId }
        : {}),
    };
  }
}
