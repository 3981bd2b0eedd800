import { context, SpanKind, trace, type Span, type SpanOptions } from '@opentelemetry/api';
import type { Feedback, JobSpec } from '../model/job.ts';
import {
  ATTR,
  hasContext,
  messageAttributes,
  MESSAGING_SYSTEM,
  Otel,
  recordFailure,
  recordThrown,
} from './otel.ts';
import type { ResolvedTracing } from './tracing-options.ts';

/** One enqueue's (or enqueueMany's) send span, as the distributor's #prepare sees it. */
export interface EnqueueTrace {
  /** A job of this call is built: its id on the span, and the span's context into `spec.trace`. */
  message(spec: JobSpec): void;
}

/**
 * A distributor's spans:
 *
 * - `send <job name>` (PRODUCER, `messaging.operation.type` send): one per `enqueue`, a
 *   child of the application's active context; its context is the job's creation context,
 *   carried to the node in `spec.trace`. It covers the call (checks, encoding, the
 *   dispatch or the waiting queue) and ends when enqueue returns. `enqueueMany` makes one
 *   for the call (`messaging.batch.message_count`), whose context every job carries.
 * - `settle <job name>` (INTERNAL, operation type settle): a feedback arrived from a node
 *   and the application's onSuccess / onError runs inside it; a child of the send span
 *   (through the job's carrier), error status for an error feedback. INTERNAL rather than
 *   the conventions' CLIENT for settle: nothing is called, the settlement is received.
 *
 * With no SDK registered (the API's no-op tracer) the send span has no valid context:
 * nothing is injected, so the job carries no trace and its feedback makes no span.
 */
export class DistributorTracing {
  readonly #otel: Otel;
  readonly #distributorId: string;
  /** The send span's options, the same for every enqueue: nothing built per call. */
  readonly #sendOptions: SpanOptions;

  constructor(resolved: ResolvedTracing, distributorId: string) {
    this.#otel = new Otel(resolved);
    this.#distributorId = distributorId;
    this.#sendOptions = {
      kind: SpanKind.PRODUCER,
      attributes: {
        [ATTR.system]: MESSAGING_SYSTEM,
        [ATTR.operationName]: 'send',
        [ATTR.operationType]: 'send',
        [ATTR.distributor]: distributorId,
      },
    };
  }

  /**
   * Runs one enqueue call (`count` jobs, 1 for `enqueue`) inside its send span. `run` gets
   * no trace when the span is a no-op (no SDK): then nothing more is done per job.
   */
  send<T>(count: number, run: (trace: EnqueueTrace | undefined) => T): T {
    const span = this.#otel.tracer.startSpan('send', this.#sendOptions);
    if (!span.isRecording() && !hasContext(span)) return run(undefined);
    if (count !== 1) span.setAttribute(ATTR.batchCount, count);
    const send = new SendSpan(span, this.#otel, count === 1);
    try {
      const out = run(send);
      send.end();
      return out;
    } catch (err) {
      recordThrown(span, err);
      send.end();
      throw err;
    }
  }

  /** Runs the application's feedbacks of `fb` (`deliver`) inside a settle span. */
  settle(spec: JobSpec, fb: Feedback, deliver: () => void): void {
    // No carrier: the send span was not recorded (no SDK), so neither is this.
    if (spec.trace === undefined) return deliver();
    const parent = this.#otel.extract(spec.trace);
    const attributes = messageAttributes('settle', spec);
    attributes[ATTR.distributor] = this.#distributorId;
    attributes[ATTR.node] = fb.node;
    attributes[ATTR.attempt] = fb.attempt;
    attributes[ATTR.outcome] = fb.outcome;
    attributes[ATTR.final] = fb.final;
    if (fb.runs !== undefined) attributes[ATTR.run] = fb.runs;
    const span = this.#otel.tracer.startSpan(
      `settle ${spec.name}`,
      { kind: SpanKind.INTERNAL, attributes },
      parent,
    );
    if (fb.error !== undefined && fb.outcome === 'error') recordFailure(span, fb.error);
    try {
      context.with(trace.setSpan(parent, span), deliver);
    } finally {
      span.end();
    }
  }
}

/** The send span of one call, and what it learnt of the call's jobs. */
class SendSpan implements EnqueueTrace {
  readonly #span: Span;
  readonly #otel: Otel;
  readonly #single: boolean;
  /** The jobs' name; null once two differ (a batch of several names). */
  #name: string | null | undefined;
  /** The carrier every job of the call takes (made at the first job). */
  #carrier: Record<string, string> | null | undefined;

  constructor(span: Span, otel: Otel, single: boolean) {
    this.#span = span;
    this.#otel = otel;
    this.#single = single;
  }

  message(spec: JobSpec): void {
    if (this.#name === undefined) this.#name = spec.name;
    else if (this.#name !== spec.name) this.#name = null;
    if (this.#single) this.#span.setAttribute(ATTR.messageId, spec.id);
    // Made once per call, at its first job (a sampled-out span's context travels too).
    this.#carrier ??= this.#otel.inject(trace.setSpan(context.active(), this.#span)) ?? null;
    if (this.#carrier !== null) spec.trace = this.#carrier;
  }

  end(): void {
    const name = this.#name;
    if (typeof name === 'string') {
      this.#span.updateName(`send ${name}`);
      this.#span.setAttribute(ATTR.destination, name);
    }
    this.#span.end();
  }
}
