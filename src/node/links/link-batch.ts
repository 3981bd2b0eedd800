import { ItemBatch, idParts } from '../../protocol/batch-frames.ts';
import { encodeOwnFrame } from '../../protocol/codec.ts';
import type { ErrorInfo } from '../../errors.ts';
import type { Message } from '../../protocol/messages.ts';
import { MAX_PROGRESS_BYTES } from '../../protocol/progress.ts';

/**
 * Progress reports of one job closer together than this are coalesced (the latest wins):
 * a job reporting in a tight loop costs a frame per window, not one per call. A report
 * after a quiet spell goes at once, and pending ones always go before any feedback.
 */
export const PROGRESS_WINDOW_MS = 100;

/** Where a batch goes: the link's connection. */
export interface BatchSink {
  send(message: Message): void;
  sendFrame(frame: Buffer): void;
}

/**
 * What a node owes one distributor over one connection, collected during an event-loop
 * turn and written in one go right before the connection's write: accepted ids, returned
 * credits, refusals, run notes (starts, and ends without a feedback) and feedbacks. A burst
 * of 1,000 jobs costs a handful of frames back, not 2,000.
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
  /** Refused ids by reason (code and message): one message per reason per turn. */
  #rejected = new Map<string, { error: ErrorInfo; ids: string[] }>();
  #credit = 0;
  #withheld: number | undefined;
  #started: string[] = [];
  #stopped: string[] = [];
  #attempts: number[] = [];
  /** Start permits asked (jobs of names the distributor limits), with their names. */
  #permitIds: string[] = [];
  #permitNames: string[] = [];
  /** Latest progress per job, not yet sent. */
  #progress = new Map<string, unknown>();
  /** While set, a progress report waits for the window's end (see PROGRESS_WINDOW_MS). */
  #progressWindow: NodeJS.Timeout | undefined;
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

  /** Job `id` is refused for `error`; refusals for the same reason share a message. */
  rejected(id: string, error: ErrorInfo): void {
    this.#touch();
    const reason = `${error.code}\n${error.message}`;
    const same = this.#rejected.get(reason);
    if (same === undefined) this.#rejected.set(reason, { error, ids: [id] });
    else same.ids.push(id);
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

  /** Asks the distributor to let job `id` (of a limited name) start. */
  permit(id: string, name: string): void {
    this.#touch();
    this.#permitIds.push(id);
    this.#permitNames.push(name);
  }

  /** The latest progress of job `id` (checked by the job's context). */
  progress(id: string, value: unknown): void {
    this.#progress.set(id, value);
    if (this.#progressWindow === undefined) this.#touch();
  }

  /** Bytes of the feedbacks collected this turn (the rest of a batch is small). */
  get bytes(): number {
    return this.#feedbacks.bytes;
  }

  /** The connection is gone: nothing more will be flushed. */
  close(): void {
    clearTimeout(this.#progressWindow);
    this.#progressWindow = undefined;
    this.#progress.clear();
  }

  /** A feedback, encoded as a `feedbacks` item. */
  feedback(item: Buffer): void {
    this.#touch();
    this.#feedbacks.add(item);
  }

  /**
   * Everything collected, in this order: accepted (a job's acceptance before its feedback),
   * refusals, run notes, credit, permit requests, progress (a job's last report before its
   * feedback), feedbacks.
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
    if (this.#rejected.size > 0) {
      // Half a frame of ids leaves the other half to the error.
      for (const { error, ids: all } of this.#rejected.values()) {
        for (const ids of idParts(all, max / 2)) {
          sink.sendFrame(encodeOwnFrame({ t: 'rejected', ids, error }, max));
        }
      }
      this.#rejected.clear();
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
    if (this.#permitIds.length > 0) {
      const ids = this.#permitIds;
      const names = this.#permitNames;
      this.#permitIds = [];
      this.#permitNames = [];
      // Half a frame each for ids and names (a name is at most as long as the limit allows).
      let at = 0;
      for (const part of idParts(ids, max / 2)) {
        const message: Message = {
          t: 'permits',
          ids: part,
          names: names.slice(at, (at += part.length)),
        };
        sink.sendFrame(encodeOwnFrame(message, max));
      }
    }
    if (this.#progress.size > 0) this.#flushProgress(sink);
    this.#feedbacks.flush((frame) => sink.sendFrame(frame));
  }

  #flushProgress(sink: BatchSink): void {
    // Values are at most 4 KiB each (MAX_PROGRESS_BYTES): as many per frame as surely fit.
    const perFrame = Math.max(1, Math.floor(this.#maxFrameSize / (MAX_PROGRESS_BYTES + 256)));
    const entries = [...this.#progress];
    this.#progress.clear();
    for (let i = 0; i < entries.length; i += perFrame) {
      const part = entries.slice(i, i + perFrame);
      try {
        const message: Message = {
          t: 'progress',
          ids: part.map((e) => e[0]),
          values: part.map((e) => e[1]),
        };
        sink.sendFrame(encodeOwnFrame(message, this.#maxFrameSize));
      } catch {
        // Only a link whose frame limit is below one report: progress is a hint, and
        // the job's feedback (which follows) is what counts.
      }
    }
    // Reports from now until the window ends wait for it, then go together.
    this.#progressWindow = setTimeout(() => {
      this.#progressWindow = undefined;
      if (this.#progress.size > 0) this.#touch();
    }, PROGRESS_WINDOW_MS);
    this.#progressWindow.unref();
  }

  #touch(): void {
    if (this.#pending) return;
    this.#pending = true;
    this.#requestFlush();
  }
}
