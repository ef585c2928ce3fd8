import { z } from 'zod';
import { isoDateTimeSchema } from './primitives';

/**
 * Fields every platform record carries (STYLE.md: one event envelope). They sit at the top level
 * of each record rather than in a wrapper so that the topic contract's fields stay flat.
 */
export const envelopeShape = {
  eventId: z.uuid(),
  type: z.string().min(1),
  at: isoDateTimeSchema,
  correlationId: z.string().min(1).max(128).optional(),
  causationId: z.string().min(1).max(128).optional(),
};
export const envelopeSchema = z.object(envelopeShape);
export type Envelope = z.infer<typeof envelopeSchema>;

/** Kafka header names; the correlation id travels from the MQTT message to every record and log. */
export const HEADER_CORRELATION_ID = 'correlation-id';
export const HEADER_CAUSATION_ID = 'causation-id';
export const HEADER_EVENT_TYPE = 'event-type';
export const HEADER_SCHEMA = 'schema';
