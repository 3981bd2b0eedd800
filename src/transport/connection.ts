import type { JobReactorError } from '../errors.ts';
import type { Message } from '../protocol/messages.ts';

/**
 * One framed, message-level link to a peer (over TCP). Sends are buffered and written in
 * one `write` per event-loop turn (cork/uncork), so a burst of jobs costs one syscall.
 *
 * States: open → closing → closed. `close(err)` sends an `error` frame first when given a
 * JobReactorError, then ends the socket; `onClose` handlers run exactly once.
 */
export interface Connection {
  /** `host:port` of the peer, for logs. */
  readonly remote: string;
  readonly closed: boolean;
  /** How long nothing was received from the peer, ms: how fresh the link is. */
  silentFor(): number;
  send(message: Message): void;
  /** Sends a frame made earlier with `encodeFrame` (the distributor encodes a job once, at enqueue). */
  sendFrame(frame: Buffer): void;
  /**
   * `hook` runs right before each write of queued frames (the once-per-turn one and
   * `flush`), while the link is open: the owner of batched messages adds their frames to
   * the same write. One hook per connection; a second call replaces it.
   */
  setFlushHook(hook: () => void): void;
  /** Makes sure a write happens at the end of this turn (for a hook that has something). */
  requestFlush(): void;
  /**
   * Bytes that may still be queued before the link counts as backlogged: twice
   * `maxOutboundBytes` (half the immediate slow-consumer cut), less what is queued and what
   * the socket still holds; ≤ 0 when backlogged. A sender that could queue more than that
   * in one turn (the distributor, with a burst of delayed jobs) stops there and goes on
   * from the drain hook, instead of being cut as a slow consumer by its own burst.
   */
  sendRoom(): number;
  /**
   * `hook` runs each time the backlog (written, not yet taken by the peer) falls under
   * `maxOutboundBytes`, while the link is open: a sender that found no room (above twice
   * that) may go on. One hook per connection; a second call replaces it.
   */
  setDrainHook(hook: () => void): void;
  close(reason?: JobReactorError): void;
  /** Handlers run in registration order for every decoded message. */
  onMessage(handler: (message: Message) => void): void;
  /**
   * `reason` is why the link ended: a protocol error, a peer timeout, a socket error, or
   * undefined for a clean close. Returns a function that unregisters the handler.
   */
  onClose(handler: (reason: Error | undefined) => void): () => void;
}
