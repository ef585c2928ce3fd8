import {
  BadRequestException,
  Controller,
  Get,
  NotFoundException,
  Param,
  Query,
  UseGuards,
} from '@nestjs/common';
import { z } from 'zod';
import { ApiAuthGuard, RequiresRole } from '@meterlink/service-kit';
import {
  importErrorsQuerySchema,
  importListQuerySchema,
  type importErrorPageSchema,
  type importListSchema,
  type importReportSchema,
} from '../api/api-schemas';
import { parseRequest } from '../api/validation';
import { ImportsRepository } from './imports.repository';

/** Past and running imports with their reports (counts, line errors, how they ended). */
@UseGuards(ApiAuthGuard)
@Controller('v1/imports')
export class ImportsController {
  constructor(private readonly imports: ImportsRepository) {}

  @Get()
  @RequiresRole('viewer')
  async list(@Query() query: unknown): Promise<z.infer<typeof importListSchema>> {
    const { limit, ...filter } = parseRequest(importListQuerySchema, query);
    const imports = await this.imports.list({ ...filter, limit });
    return {
      imports,
      ...(imports.length === limit ? { nextBefore: imports[imports.length - 1]!.importId } : {}),
    };
  }

  @Get(':importId')
  @RequiresRole('viewer')
  async get(@Param('importId') importId: string): Promise<z.infer<typeof importReportSchema>> {
    checkImportId(importId);
    const report = await this.imports.get(importId);
    if (!report) throw new NotFoundException(`import ${importId} not found`);
    return report;
  }

  /** Every line error of an import, by line number, a page at a time (a running one: so far). */
  @Get(':importId/errors')
  @RequiresRole('viewer')
  async errors(
    @Param('importId') importId: string,
    @Query() query: unknown,
  ): Promise<z.infer<typeof importErrorPageSchema>> {
    checkImportId(importId);
    const { after, limit } = parseRequest(importErrorsQuerySchema, query);
    if (!(await this.imports.exists(importId)))
      throw new NotFoundException(`import ${importId} not found`);
    const errors = await this.imports.errors(importId, after, limit);
    return {
      errors,
      ...(errors.length === limit ? { nextAfter: errors[errors.length - 1]!.line } : {}),
    };
  }
}

function checkImportId(importId: string): void {
  if (!z.uuid().safeParse(importId).success) throw new BadRequestException('importId: not a UUID');
}
