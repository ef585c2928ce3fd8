import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpException,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import type { z } from 'zod';
import type { CoverageStatsView, FleetView } from '@meterlink/fleet-view';
import { ApiAuthGuard, RequiresRole, type AuthenticatedRequest } from '@meterlink/service-kit';
import { Inject } from '@nestjs/common';
import { COVERAGE_STATS, FLEET_VIEW, ORCHESTRATOR_CONFIG } from '../tokens';
import type { OrchestratorConfig } from '../config';
import { SwapsRepository } from '../swaps.repository';
import { SwapSagaService } from '../swap-saga.service';
import { CampaignError, CampaignsService, type CampaignView } from '../campaigns/campaigns.service';
import {
  auditQuerySchema,
  createCampaignSchema,
  parseRequest,
  swapRequestSchema,
  type auditListSchema,
  type campaignCreatedSchema,
  type campaignListSchema,
  type pendingPackagesSchema,
  type regionCoverageSchema,
  type swapAcceptedSchema,
  type swapHistorySchema,
} from './api-schemas';
import { buildOpenApiDocument } from './openapi';

const actorOf = (req: AuthenticatedRequest): string => req.operator?.id ?? 'unknown';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(status: number, code: string, message: string): never {
  throw new HttpException({ statusCode: status, message, code }, status);
}

async function campaignCall(fn: () => Promise<CampaignView>): Promise<CampaignView> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof CampaignError) fail(error.status, error.code, error.message);
    throw error;
  }
}

@UseGuards(ApiAuthGuard)
@Controller('v1/campaigns')
export class CampaignsController {
  constructor(private readonly campaigns: CampaignsService) {}

  @Post()
  @RequiresRole('operator')
  async create(
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
  ): Promise<z.infer<typeof campaignCreatedSchema>> {
    const input = parseRequest(createCampaignSchema, body);
    const view = await campaignCall(() => this.campaigns.create(input, actorOf(req)));
    return {
      campaignId: view.campaignId,
      state: view.state,
      meterCount: view.meterCount,
      requiresApproval: view.state === 'pending-approval',
    };
  }

  @Get()
  @RequiresRole('viewer')
  async list(): Promise<z.infer<typeof campaignListSchema>> {
    return { items: await this.campaigns.list() };
  }

  @Get(':campaignId')
  @RequiresRole('viewer')
  async get(@Param('campaignId') campaignId: string): Promise<CampaignView> {
    const view = uuidPattern.test(campaignId) ? await this.campaigns.get(campaignId) : undefined;
    if (!view) fail(404, 'no_such_campaign', `no campaign ${campaignId}`);
    return view;
  }

  @Post(':campaignId/approve')
  @HttpCode(200)
  @RequiresRole('admin')
  approve(
    @Param('campaignId') campaignId: string,
    @Req() req: AuthenticatedRequest,
  ): Promise<CampaignView> {
    return campaignCall(() => this.campaigns.command(this.id(campaignId), 'approve', actorOf(req)));
  }

  @Post(':campaignId/pause')
  @HttpCode(200)
  @RequiresRole('operator')
  pause(
    @Param('campaignId') campaignId: string,
    @Req() req: AuthenticatedRequest,
  ): Promise<CampaignView> {
    return campaignCall(() => this.campaigns.command(this.id(campaignId), 'pause', actorOf(req)));
  }

  @Post(':campaignId/resume')
  @HttpCode(200)
  @RequiresRole('operator')
  resume(
    @Param('campaignId') campaignId: string,
    @Req() req: AuthenticatedRequest,
  ): Promise<CampaignView> {
    return campaignCall(() => this.campaigns.command(this.id(campaignId), 'resume', actorOf(req)));
  }

  @Post(':campaignId/stop')
  @HttpCode(200)
  @RequiresRole('operator')
  stop(
    @Param('campaignId') campaignId: string,
    @Req() req: AuthenticatedRequest,
  ): Promise<CampaignView> {
    return campaignCall(() => this.campaigns.stop(this.id(campaignId), actorOf(req)));
  }

  private id(campaignId: string): string {
    if (!uuidPattern.test(campaignId)) fail(404, 'no_such_campaign', `no campaign ${campaignId}`);
    return campaignId;
  }
}

@UseGuards(ApiAuthGuard)
@Controller('v1/meters')
export class MeterSwapsController {
  constructor(
    @Inject(FLEET_VIEW) private readonly fleet: FleetView,
    private readonly saga: SwapSagaService,
    private readonly swaps: SwapsRepository,
  ) {}

  private known(meterId: string): void {
    if (!this.fleet.meter(meterId)) fail(404, 'no_such_meter', `no meter ${meterId}`);
  }

  @Post(':meterId/swaps')
  @HttpCode(202)
  @RequiresRole('operator')
  async request(
    @Param('meterId') meterId: string,
    @Body() body: unknown,
    @Req() req: AuthenticatedRequest,
  ): Promise<z.infer<typeof swapAcceptedSchema>> {
    this.known(meterId);
    const { targetCarrierId } = parseRequest(swapRequestSchema, body);
    const out = await this.saga.requestSwap(meterId, targetCarrierId, actorOf(req));
    if ('swapId' in out) return out;
    const status =
      out.error === 'no_such_meter'
        ? 404
        : out.error === 'unknown_carrier' || out.error === 'no_enabled_profile'
          ? 422
          : 409;
    fail(status, out.error, `swap refused: ${out.error}`);
  }

  @Get(':meterId/swaps')
  @RequiresRole('viewer')
  async history(@Param('meterId') meterId: string): Promise<z.infer<typeof swapHistorySchema>> {
    this.known(meterId);
    const rows = await this.swaps.listSwaps(this.swaps.pool, meterId);
    return {
      meterId,
      swaps: rows.map((s) => ({
        swapId: s.swap_id,
        trigger: s.trigger,
        // `confirming` is internal: publicly the swap is still dispatched.
        state: s.state === 'confirming' ? 'dispatched' : s.state,
        phase: s.phase,
        needsDownload: s.needs_download,
        fromIccid: s.from_iccid,
        ...(s.to_iccid ? { toIccid: s.to_iccid } : {}),
        fromCarrierId: s.from_carrier_id,
        toCarrierId: s.to_carrier_id,
        ...(s.reason_code ? { reasonCode: s.reason_code } : {}),
        ...(s.campaign_id ? { campaignId: s.campaign_id } : {}),
        ...(s.requested_by ? { requestedBy: s.requested_by } : {}),
        createdAt: s.created_at.toISOString(),
        updatedAt: s.updated_at.toISOString(),
      })),
    };
  }

  @Get(':meterId/pending-packages')
  @RequiresRole('viewer')
  async pending(@Param('meterId') meterId: string): Promise<z.infer<typeof pendingPackagesSchema>> {
    this.known(meterId);
    const meter = this.fleet.meter(meterId)!;
    const active = await this.swaps.activeSwap(this.swaps.pool, meterId);
    const presence = await this.swaps.presence(this.swaps.pool, meterId);
    const packages: z.infer<typeof pendingPackagesSchema>['packages'] = [];
    if (active?.state === 'dispatched' && active.eim_transaction_id)
      packages.push({
        type: 'eimPackage',
        swapId: active.swap_id,
        eimTransactionId: active.eim_transaction_id,
        ...(active.counter_value ? { counterValue: Number(active.counter_value) } : {}),
        ...(active.deadline ? { expiresAt: active.deadline.toISOString() } : {}),
      });
    else if (active?.phase === 'downloading' && active.download_transaction_id)
      packages.push({
        type: 'profileDownloadTrigger',
        swapId: active.swap_id,
        eimTransactionId: active.download_transaction_id,
        ...(active.deadline ? { expiresAt: active.deadline.toISOString() } : {}),
      });
    return {
      meterId,
      sleepy: meter.kind !== 'electricity',
      ...(presence
        ? {
            lastSeenAt: presence.last_seen_at.toISOString(),
            nextExpectedAt: presence.next_expected_at.toISOString(),
          }
        : {}),
      packages,
    };
  }
}

@UseGuards(ApiAuthGuard)
@Controller('v1/regions')
export class RegionCoverageController {
  constructor(
    @Inject(COVERAGE_STATS) private readonly coverage: CoverageStatsView,
    @Inject(ORCHESTRATOR_CONFIG) private readonly config: OrchestratorConfig,
  ) {}

  /** What the swap policy would judge the region's carriers by now (stale counts flagged). */
  @Get(':region/coverage')
  @RequiresRole('viewer')
  region(@Param('region') region: string): z.infer<typeof regionCoverageSchema> {
    const maxAgeS = this.config.COVERAGE_STATS_MAX_AGE_S;
    const freshFrom = Date.now() - maxAgeS * 1000;
    return {
      region,
      maxAgeS,
      carriers: this.coverage.region(region, 0).map((r) => ({
        carrierId: r.carrierId,
        meters: r.meters,
        healthy: r.healthy,
        degraded: r.degraded,
        lost: r.lost,
        slowMeters: r.slowMeters,
        ...(r.outageId ? { outageId: r.outageId } : {}),
        at: r.at,
        fresh: Date.parse(r.at) >= freshFrom,
      })),
    };
  }
}

@UseGuards(ApiAuthGuard)
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly swaps: SwapsRepository) {}

  @Get()
  @RequiresRole('admin')
  async list(@Query() query: unknown): Promise<z.infer<typeof auditListSchema>> {
    const filter = parseRequest(auditQuerySchema, query);
    const rows = await this.swaps.auditPage(this.swaps.pool, filter);
    const entries = rows.map((r) => ({
      auditId: Number(r.audit_id),
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      ...(r.meter_id ? { meterId: r.meter_id } : {}),
      ...(r.eid ? { eid: r.eid } : {}),
      ...(r.swap_id ? { swapId: r.swap_id } : {}),
      ...(r.campaign_id ? { campaignId: r.campaign_id } : {}),
      detail: r.detail,
    }));
    return {
      entries,
      ...(entries.length === filter.limit
        ? { nextBefore: entries[entries.length - 1]!.auditId }
        : {}),
    };
  }
}

/** The operator API's OpenAPI document, public: it holds no fleet data. */
@Controller()
export class OpenApiController {
  private readonly document = buildOpenApiDocument();

  @Get('openapi.json')
  openApi(): Record<string, unknown> {
    return this.document;
  }
}
