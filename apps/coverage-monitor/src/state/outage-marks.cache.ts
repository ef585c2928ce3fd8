import { Injectable } from '@nestjs/common';
import { CoverageStateRepository } from './coverage-state.repository';

/**
 * This process's copy of the open outages per shard (`<carrier>.<region>` → outage id). Meter
 * events take their outageId from here; the write script checks the shard's own copy, so a stale
 * cache costs a retry, never a wrong id.
 */
@Injectable()
export class OutageMarksCache {
  private marks: Map<string, string>[] = [];

  constructor(private readonly states: CoverageStateRepository) {}

  async refresh(): Promise<void> {
    this.marks = await this.states.outageMarks();
  }

  outageId(shard: number, field: string): string {
    return this.marks[shard]?.get(field) ?? '';
  }

  learn(shard: number, field: string, outageId: string): void {
    const marks = (this.marks[shard] ??= new Map());
    if (outageId) marks.set(field, outageId);
    else marks.delete(field);
  }
}
