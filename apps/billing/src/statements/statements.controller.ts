import { Controller, Get, Param, Query, Res, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { billingPeriodSchema, carrierIdSchema, meterIdSchema } from '@meterlink/contracts';
import { ApiAuthGuard, RequiresRole } from '@meterlink/service-kit';
import { z } from 'zod';
import { auditQuerySchema, statementQuerySchema, type Statement } from '../api/api-schemas';
import { parseRequest } from '../api/validation';
import { AuditRepository } from './audit.repository';
import { StatementsRepository, statementCsv, type StatementSubject } from './statements.repository';

const customerIdSchema = z.string().min(1).max(128);

@Controller('v1')
@UseGuards(ApiAuthGuard)
export class StatementsController {
  constructor(
    private readonly statements: StatementsRepository,
    private readonly audit: AuditRepository,
  ) {}

  private async answer(
    subject: StatementSubject,
    id: string,
    period: string,
    query: unknown,
    res: Response,
  ): Promise<void> {
    const { format } = parseRequest(statementQuerySchema, query);
    const statement: Statement = await this.statements.statement(
      subject,
      id,
      parseRequest(billingPeriodSchema, period),
    );
    if (format === 'csv') {
      res
        .status(200)
        .type('text/csv')
        .setHeader('content-disposition', `attachment; filename="${subject}-${id}-${period}.csv"`)
        .send(statementCsv(statement));
      return;
    }
    res.status(200).json(statement);
  }

  @Get('statements/carriers/:carrierId/:period')
  @RequiresRole('viewer')
  async carrier(
    @Param('carrierId') carrierId: string,
    @Param('period') period: string,
    @Query() query: unknown,
    @Res() res: Response,
  ): Promise<void> {
    await this.answer('carrier', parseRequest(carrierIdSchema, carrierId), period, query, res);
  }

  @Get('statements/customers/:customerId/:period')
  @RequiresRole('viewer')
  async customer(
    @Param('customerId') customerId: string,
    @Param('period') period: string,
    @Query() query: unknown,
    @Res() res: Response,
  ): Promise<void> {
    await this.answer('customer', parseRequest(customerIdSchema, customerId), period, query, res);
  }

  @Get('statements/meters/:meterId/:period')
  @RequiresRole('viewer')
  async meter(
    @Param('meterId') meterId: string,
    @Param('period') period: string,
    @Query() query: unknown,
    @Res() res: Response,
  ): Promise<void> {
    await this.answer('meter', parseRequest(meterIdSchema, meterId), period, query, res);
  }

  @Get('meters/:meterId/charge-audit')
  @RequiresRole('viewer')
  async meterAudit(@Param('meterId') meterId: string, @Query() query: unknown) {
    const { period } = parseRequest(auditQuerySchema, query);
    return this.audit.forMeter(parseRequest(meterIdSchema, meterId), period);
  }
}
