import { BadRequestException } from '@nestjs/common';
import type { z } from 'zod';

/** Parses a path parameter, query string or body with its API schema; 400 names each problem. */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const parsed = schema.safeParse(input ?? {});
  if (!parsed.success)
    throw new BadRequestException(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`),
    );
  return parsed.data;
}
