// The live tail's memory: what is on screen (bounded, counting what it drops from view),
// and what arrived while paused (shown on resume; bounded too, since no more than
// `capacity` of it could be on screen then). Pure, so it is tested alone.
import type { LogEvent } from "./api";

export class TailBuffer {
  rows: LogEvent[] = [];
  pending: LogEvent[] = [];
  dropped = 0;
  received = 0;
  arrivedWhilePaused = 0;
  constructor(readonly capacity: number) {}

  /** Take a batch that arrived: onto the screen when following, else kept for later. */
  add(batch: LogEvent[], following: boolean): void {
    this.received += batch.length;
    if (following) {
      this.show(batch);
      return;
    }
    this.arrivedWhilePaused += batch.length;
    for (const ev of batch) this.pending.push(ev);
    if (this.pending.length > this.capacity) {
      const over = this.pending.length - this.capacity;
      this.dropped += over;
      this.pending = this.pending.slice(over);
    }
  }

  /** Resume: what arrived while paused goes on screen, in order. */
  resume(): void {
    const held = this.pending;
    this.pending = [];
    this.arrivedWhilePaused = 0;
    this.show(held);
  }

  clear(): void {
    this.dropped += this.rows.length;
    this.rows = [];
  }

  private show(batch: LogEvent[]): void {
    if (batch.length === 0) return;
    let next = this.rows.concat(batch);
    if (next.length > this.capacity) {
      const over = next.length - this.capacity;
      this.dropped += over;
      next = next.slice(over);
    }
    this.rows = next;
  }
}
