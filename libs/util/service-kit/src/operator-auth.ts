import { timingSafeEqual } from 'node:crypto';
import {
  ForbiddenException,
  Inject,
  Injectable,
  SetMetadata,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
const ROLE_KEY = 'meterlink:role';
/** The least role a route needs; admin ⊃ operator ⊃ viewer. */
export const RequiresRole = (role: Role): MethodDecorator & ClassDecorator =>
  SetMetadata(ROLE_KEY, role);

export interface Operator {
  id: string;
  role: Role;
}
export type AuthenticatedRequest = Request & { operator?: Operator };

/**
 * The operator API tokens of a service: `token:role` entries (validated by the service's config
 * schema with `env.apiTokens()`), provided by each app module under this token.
 */
export const OPERATOR_API_TOKENS = Symbol('OPERATOR_API_TOKENS');

/**
 * Bearer tokens from configuration, compared in constant time. Guards the operator API controllers
 * (not health and metrics, which orchestrators and scrapers call without a token).
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  private readonly tokens: { token: Buffer; role: Role; id: string }[];
  constructor(
    @Inject(OPERATOR_API_TOKENS) entries: readonly string[],
    private readonly reflector: Reflector,
  ) {
    this.tokens = entries.map((entry, index) => {
      const cut = entry.lastIndexOf(':');
      return {
        token: Buffer.from(entry.slice(0, cut)),
        role: entry.slice(cut + 1) as Role,
        id: `token-${index + 1}`,
      };
    });
  }

  canActivate(context: ExecutionContext): boolean {
    // Fails closed: an API route that names no role needs admin.
    const required =
      this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'admin';
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization ?? '';
    const presented = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    const match = this.tokens.find(
      (t) => t.token.length === presented.length && timingSafeEqual(t.token, presented),
    );
    if (!match) throw new UnauthorizedException('a valid bearer token is required');
    if (RANK[match.role] < RANK[required])
      throw new ForbiddenException(`role ${required} required`);
    request.operator = { id: match.id, role: match.role };
    return true;
  }
}
