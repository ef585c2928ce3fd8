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
  importListQuerySchema,
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
    if (!z.uuid().safeParse(importId).success)
      throw new BadRequestException('importId: not a UUID');
    const report = await this.imports.get(importId);
    if (!report) throw new NotFoundException(`import ${importId} not found`);
    return report;
  }
}
