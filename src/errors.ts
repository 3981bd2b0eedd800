/**
 * One error hierarchy for the whole library. Callers branch on `err.code`, never on the
 * message text (the undici scheme). Every class sets `name`, accepts `{ cause }`, and has a
 * code that is stable across releases.
 */

/** Plain, serializable description of an error; what crosses the wire and reaches errbacks. */
export interface ErrorInfo {
  name: string;
  code: string;
  message: string;
  /** Extra fields an error class wants to carry (never a stack on the wire by default). */
  details?: Record<string, unknown>;
}

export const ErrorCodes = {
  Base: 'JR_ERR',
  InvalidArgument: 'JR_ERR_INVALID_ARGUMENT',
  Protocol: 'JR_ERR_PROTOCOL',
  MalformedFrame: 'JR_ERR_MALFORMED_FRAME',
  FrameTooLarge: 'JR_ERR_FRAME_TOO_LARGE',
  PayloadTooLarge: 'JR_ERR_PAYLOAD_TOO_LARGE',
  VersionMismatch: 'JR_ERR_VERSION_MISMATCH',
  AuthRequired: 'JR_ERR_AUTH_REQUIRED',
  AuthFailed: 'JR_ERR_AUTH_FAILED',
  HandshakeTimeout: 'JR_ERR_HANDSHAKE_TIMEOUT',
  Connection: 'JR_ERR_CONNECTION',
  PeerTimeout: 'JR_ERR_PEER_TIMEOUT',
  SlowConsumer: 'JR_ERR_SLOW_CONSUMER',
  Closed: 'JR_ERR_CLOSED',
  UnknownJob: 'JR_ERR_UNKNOWN_JOB',
  DuplicateJob: 'JR_ERR_DUPLICATE_JOB',
  DuplicateNode: 'JR_ERR_DUPLICATE_NODE',
  QueueFull: 'JR_ERR_QUEUE_FULL',
  JobFailed: 'JR_ERR_JOB_FAILED',
  JobCancelled: 'JR_ERR_JOB_CANCELLED',
  JobThrew: 'JR_ERR_JOB_THREW',
  Cancel: 'JR_ERR_CANCEL',
  Timeout: 'JR_ERR_TIMEOUT',
  Unrecoverable: 'JR_ERR_UNRECOVERABLE',
  Storage: 'JR_ERR_STORAGE',
  FeedbackHandler: 'JR_ERR_FEEDBACK_HANDLER',
  Shutdown: 'JR_ERR_SHUTDOWN',
  LeaseLost: 'JR_ERR_LEASE_LOST',
  PoisonJob: 'JR_ERR_POISON_JOB',
  StorageLost: 'JR_ERR_STORAGE_LOST',
  StorageCorrupt: 'JR_ERR_STORAGE_CORRUPT',
  TlsConfig: 'JR_ERR_TLS_CONFIG',
  TlsUntrusted: 'JR_ERR_TLS_UNTRUSTED',
  TlsMismatch: 'JR_ERR_TLS_MISMATCH',
  /** No such thing: an admin API route, or a job id no one knows. */
  NotFound: 'JR_ERR_NOT_FOUND',
  /** A state machine was asked for a transition its state does not allow: a bug in job-reactor. */
  IllegalTransition: 'JR_ERR_ILLEGAL_TRANSITION',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class JobReactorError extends Error {
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options?.code ?? ErrorCodes.Base;
  }
  /** The serializable form used on the wire and in errbacks. */
  toInfo(): ErrorInfo {
    return { name: this.name, code: this.code, message: this.message };
  }
}

function defineError(code: string) {
  return class extends JobReactorError {
    constructor(message: string, options?: { cause?: unknown }) {
      super(message, { ...options, code });
    }
  };
}

/** Bad input to a public API (options, names, durations). */
export class InvalidArgumentError extends defineError(ErrorCodes.InvalidArgument) {}
/** A peer broke the protocol (unexpected message, bad field). The connection is closed. */
export class ProtocolError extends defineError(ErrorCodes.Protocol) {}
/** Bytes that are not a frame: bad header, undecodable body. The connection is closed. */
export class MalformedFrameError extends defineError(ErrorCodes.MalformedFrame) {}
/** A frame header announced more bytes than the configured maximum. Rejected from the header alone. */
export class FrameTooLargeError extends defineError(ErrorCodes.FrameTooLarge) {}
/** A job's encoded size is over the maximum frame size; rejected at `enqueue`. */
export class PayloadTooLargeError extends defineError(ErrorCodes.PayloadTooLarge) {}
/** The peer speaks another protocol version. */
export class VersionMismatchError extends defineError(ErrorCodes.VersionMismatch) {}
/** The peer sent something other than the handshake first, or no proof where one is required. */
export class AuthRequiredError extends defineError(ErrorCodes.AuthRequired) {}
/** The peer's proof of the shared secret is wrong. */
export class AuthFailedError extends defineError(ErrorCodes.AuthFailed) {}
/** The handshake did not finish within its deadline. */
export class HandshakeTimeoutError extends defineError(ErrorCodes.HandshakeTimeout) {}
/** A socket-level failure (refused, reset). */
export class ConnectionError extends defineError(ErrorCodes.Connection) {}
/** Nothing heard from the peer within the heartbeat deadline (half-open connection). */
export class PeerTimeoutError extends defineError(ErrorCodes.PeerTimeout) {}
/** The peer does not read: its outbound buffer passed the cap. */
export class SlowConsumerError extends defineError(ErrorCodes.SlowConsumer) {}
/** The object was closed; the call cannot proceed. */
export class ClosedError extends defineError(ErrorCodes.Closed) {}
/** No job of that name is registered (on the node), or no connected node knows it. */
export class UnknownJobError extends defineError(ErrorCodes.UnknownJob) {}
/** A job name was defined twice in one registry. */
export class DuplicateJobError extends defineError(ErrorCodes.DuplicateJob) {}
/** A node connected under a name that a live connection already uses. */
export class DuplicateNodeError extends defineError(ErrorCodes.DuplicateNode) {}
/** The distributor's waiting queue (no eligible node) is at its bound. */
export class QueueFullError extends defineError(ErrorCodes.QueueFull) {}
/** A handler threw something that is not an Error; wrapped so it has a name and a code. */
export class JobThrewError extends defineError(ErrorCodes.JobThrew) {}
/** The job took longer than its `timeout`. Retried like any failure. */
export class TimeoutError extends defineError(ErrorCodes.Timeout) {}
/** A storage operation failed (Redis down, write refused). */
export class StorageError extends defineError(ErrorCodes.Storage) {}
/**
 * What a storage found on disk is not a store it can read (an LMDB directory holding other
 * files, a damaged data file). Nothing was written; move the files away or restore them.
 */
export class StorageCorruptError extends defineError(ErrorCodes.StorageCorrupt) {}
/** No such thing: an admin API route, or a job id no one knows. */
export class NotFoundError extends defineError(ErrorCodes.NotFound) {}
/** An application feedback callback threw; reported as an event, never crashes the process. */
export class FeedbackHandlerError extends defineError(ErrorCodes.FeedbackHandler) {}
/** The node or distributor is shutting down. */
export class ShutdownError extends defineError(ErrorCodes.Shutdown) {}
/**
 * A state machine was asked for a transition its current state does not allow. Always a
 * bug in job-reactor (input never causes it): the message names the transition and state.
 */
export class IllegalTransitionError extends defineError(ErrorCodes.IllegalTransition) {}
/**
 * A node no longer owns the jobs it was running: its lease on its name (durable storage)
 * was taken by another live node, or expired while the node was frozen. It stops running
 * them; the new owner does.
 */
export class LeaseLostError extends defineError(ErrorCodes.LeaseLost) {}
/**
 * A job whose node crashed or froze while running it `maxDeliveries` times: it is
 * quarantined (never sent again) and ends with this error.
 */
export class PoisonJobError extends defineError(ErrorCodes.PoisonJob) {}
/**
 * A node's storage lost data it had acknowledged (e.g. Redis restarted empty): the jobs
 * the node knew of end with this error instead of vanishing.
 */
export class StorageLostError extends defineError(ErrorCodes.StorageLost) {}

/**
 * The `tls` option is unusable: a certificate, key or CA that is not PEM (or not readable),
 * a key that does not match its certificate, a key without a certificate, or a TLS
 * distributor without a certificate. Thrown when the distributor or node starts.
 */
export class TlsConfigError extends defineError(ErrorCodes.TlsConfig) {}
/**
 * The TLS handshake failed on trust: the peer's certificate is not signed by a trusted CA,
 * names another host, has expired, or a distributor that requires client certificates got
 * none. The peer is not retried faster than a refused one.
 */
export class TlsUntrustedError extends defineError(ErrorCodes.TlsUntrusted) {}
/** One side speaks TLS and the other does not: set `tls` on both, or on neither. */
export class TlsMismatchError extends defineError(ErrorCodes.TlsMismatch) {}

/**
 * Throw from a job, a callback or an errback to stop the job for good (periodic ones too).
 * JobReactor's `CancelJob`.
 */
export class CancelJob extends defineError(ErrorCodes.Cancel) {
  constructor(message = 'job cancelled', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Throw from a job to fail it at once, skipping the remaining retries. */
export class UnrecoverableJobError extends defineError(ErrorCodes.Unrecoverable) {}

/** `handle.result` rejects with this when the job failed; `args` are the final args. */
export class JobFailedError extends JobReactorError {
  readonly jobId: string;
  readonly args: Record<string, unknown>;
  /** The error the job failed with, as the node reported it. */
  readonly error: ErrorInfo;
  constructor(jobId: string, error: ErrorInfo, args: Record<string, unknown>) {
    super(`job ${jobId} failed: ${error.code}: ${error.message}`, { code: ErrorCodes.JobFailed });
    this.jobId = jobId;
    this.error = error;
    this.args = args;
  }
}

/** `handle.result` rejects with this when the application cancelled the job. */
export class JobCancelledError extends JobReactorError {
  readonly jobId: string;
  constructor(jobId: string) {
    super(`job ${jobId} was cancelled`, { code: ErrorCodes.JobCancelled });
    this.jobId = jobId;
  }
}

/**
 * Longest error message a node sends, in characters; the rest is cut with a note. A job
 * may throw anything: a message of megabytes would otherwise fail its feedback as too
 * large for a frame and hide the job's own error.
 */
export const MAX_ERROR_MESSAGE = 16 * 1024;
/** Longest error name or code sent, in characters. */
const MAX_ERROR_LABEL = 256;

/**
 * Turns anything thrown into an ErrorInfo (never throws itself): strings throughout, a
 * name or code that is not one made into one, and each cut to its bound.
 */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof JobReactorError) return bounded(err.toInfo());
  if (err instanceof Error) {
    try {
      const code = (err as { code?: unknown }).code;
      return bounded({
        name: printable(err.name) || 'Error',
        code: typeof code === 'string' && code !== '' ? code : ErrorCodes.JobThrew,
        message: printable(err.message),
      });
    } catch {
      // A getter that throws: the error says nothing readable.
      return { name: 'Error', code: ErrorCodes.JobThrew, message: '(an error whose fields throw)' };
    }
  }
  let message: string;
  try {
    message = typeof err === 'string' ? err : (JSON.stringify(err) ?? printable(err));
  } catch {
    message = printable(err);
  }
  return bounded({ name: 'JobThrewError', code: ErrorCodes.JobThrew, message });
}

/** `v` as text; a value whose conversion throws says so instead. */
function printable(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return String(v);
  } catch {
    return '(a thrown value that cannot be printed)';
  }
}

function bounded(info: ErrorInfo): ErrorInfo {
  const { name, code, message } = info;
  if (
    name.length <= MAX_ERROR_LABEL &&
    code.length <= MAX_ERROR_LABEL &&
    message.length <= MAX_ERROR_MESSAGE
  ) {
    return info;
  }
  return {
    ...info,
    name: cut(name, MAX_ERROR_LABEL),
    code: cut(code, MAX_ERROR_LABEL),
    message: cut(message, MAX_ERROR_MESSAGE),
  };
}

/** A job's error message as a log line shows it: the first 500 characters. */
export function logExcerpt(text: string): string {
  return cut(text, 500);
}

function cut(text: string, max: number): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max)}… (${text.length - max} more characters cut)`;
}

/** An Error rebuilt from an ErrorInfo received from a peer. */
export class RemoteError extends JobReactorError {
  readonly remoteName: string;
  constructor(info: ErrorInfo) {
    super(info.message, { code: info.code });
    this.remoteName = info.name;
  }
}

/** An error's message, or the thrown value as a string (for messages that quote a cause). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
