import { ItemBatch, idParts } from '../../protocol/batch-frames.ts';
import { encodeOwnFrame } from '../../protocol/codec.ts';
import type { Message } from '../../protocol/messages.ts';

/** Where a batch goes: the link's connection. */
export interface BatchSink {
  send(message: Message): void;
  sendFrame(frame: Buffer): void;
}

/**
 * What a node owes one distributor over one connection, collected during an event-loop
 * turn and written in one go right before the connection's write: accepted ids, returned
 * credits, run notes (starts, and ends without a feedback) and feedbacks. A burst of 1,000
 * jobs costs a handful of frames back, not 2,000.
 *
 * Credits are withheld while the distributor is held back (it leaves too many feedbacks
 * unacknowledged): counted, and given back together when it is let go. Without credit a
 * distributor sends no instant job. A new connection starts with a fresh batch: its
 * distributor starts from the node's full window again.
 */
export class LinkBatch {
  readonly #feedbacks: ItemBatch;
  readonly #maxFrameSize: number;
  readonly #requestFlush: () => void;
  #accepted: string[] = [];
  #credit = 0;
  #withheld: number | undefined;
  #started: string[] = [];
  #stopped: string[] = [];
  #attempts: number[] = [];
  #pending = false;

  /** `requestFlush`: makes the connection write at the end of this turn. */
  constructor(maxFrameSize: number, requestFlush: () => void) {
    this.#feedbacks = new ItemBatch('feedbacks', maxFrameSize);
    this.#maxFrameSize = maxFrameSize;
    this.#requestFlush = requestFlush;
  }

  accepted(id: string): void {
    this.#touch();
    this.#accepted.push(id);
  }

  /** `n` instant jobs may be sent again (withheld while held back). */
  credit(n = 1): void {
    if (this.#withheld !== undefined) {
      this.#withheld += n;
      return;
    }
    this.#touch();
    this.#credit += n;
  }

  /** Holds back credits from now on. */
  holdCredits(): void {
    this.#withheld ??= 0;
  }

  /** Gives back what was held back; credits flow again. */
  releaseCredits(): void {
    const n = this.#withheld;
    this.#withheld = undefined;
    if (n !== undefined && n > 0) this.credit(n);
  }

  get creditsHeld(): boolean {
    return this.#withheld !== undefined;
  }

  /** An attempt of job `id` starts (see DistributorLink.noteStart). */
  started(id: string): void {
    this.#touch();
    this.#started.push(id);
  }

  /** An attempt ended without a feedback (a retry waits), after `attempts` in this cycle. */
  stopped(id: string, attempts: number): void {
    this.#touch();
    this.#stopped.push(id);
    this.#attempts.push(attempts);
  }

  /** A feedback, encoded as a `feedbacks` item. */
  feedback(item: Buffer): void {
    this.#touch();
    this.#feedbacks.add(item);
  }

  /**
   * Everything collected, in this order: accepted (a job's acceptance before its feedback),
   * run notes, credit, feedbacks.
   */
  flush(sink: BatchSink): void {
    if (!this.#pending) return;
    this.#pending = false;
    // Ids and counts this node checked when the jobs came in: framed without a second pass,
    // in as many frames as the frame limit needs.
    const max = this.#maxFrameSize;
    if (this.#accepted.length > 0) {
      for (const ids of idParts(this.#accepted, max)) {
        sink.sendFrame(encodeOwnFrame({ t: 'accepted', ids }, max));
      }
      this.#accepted = [];
    }
    if (this.#started.length > 0 || this.#stopped.length > 0) {
      // Starts and stops share each message (one, as a rule), half a frame each.
      const started = [...idParts(this.#started, max / 2)];
      const stopped = [...idParts(this.#stopped, max / 2)];
      const attempts = this.#attempts;
      this.#started = [];
      this.#stopped = [];
      this.#attempts = [];
      let at = 0;
      for (let k = 0; k < Math.max(started.length, stopped.length); k++) {
        const stops = stopped[k] ?? [];
        const runs: Message = { t: 'runs', started: started[k] ?? [], stopped: stops };
        if (stops.length > 0) runs.attempts = attempts.slice(at, (at += stops.length));
        sink.sendFrame(encodeOwnFrame(runs, max));
      }
    }
    if (this.#credit > 0) {
      sink.sendFrame(encodeOwnFrame({ t: 'credit', n: this.#credit }, max));
      this.#credit = 0;
    }
    this.#feedbacks.flush((frame) => sink.sendFrame(frame));
  }

  #touch(): void {
    if (this.#pending) return;
    this.#pending = true;
    this.#requestFlush();
  }
}
