import { ItemBatch } from '../../protocol/codec.ts';
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
    if (this.#accepted.length > 0) {
      sink.send({ t: 'accepted', ids: this.#accepted });
      this.#accepted = [];
    }
    if (this.#started.length > 0 || this.#stopped.length > 0) {
      const runs: Message = { t: 'runs', started: this.#started, stopped: this.#stopped };
      if (this.#stopped.length > 0) runs.attempts = this.#attempts;
      sink.send(runs);
      this.#started = [];
      this.#stopped = [];
      this.#attempts = [];
    }
    if (this.#credit > 0) {
      sink.send({ t: 'credit', n: this.#credit });
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
