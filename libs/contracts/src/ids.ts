import { hash as oneShotHash } from 'node:crypto';

/**
 * A UUID (version 5 layout, SHA-1) derived from its parts. Records derived from one input get the
 * same eventId however often that input is processed, so a consumer can drop any duplicate that a
 * retry lets through.
 */
export function stableEventId(...parts: (string | number)[]): string {
  // The one-shot hash costs about half of createHash().update().digest(): ingestion makes two
  // of these per message.
  const hash = oneShotHash('sha1', parts.join('\u001f'), 'buffer');
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
