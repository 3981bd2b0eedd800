/**
 * The parts of tracing both sides share: the tracer, the carrier's inject and extract, the
 * attribute names (OpenTelemetry's messaging semantic conventions, as strings: no
 * dependency on @opentelemetry/semantic-conventions for a dozen names), and how a failure
 * is recorded. This module (and the two that use it) imports `@opentelemetry/api`
 * statically: it is loaded only by load-tracing.ts, at start, with tracing on.
 */
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { ErrorInfo } from '../errors.ts';
import { cleanTraceCarrier, type TraceCarrier } from '../protocol/trace-carrier.ts';
import type { ResolvedTracing } from './tracing-options.ts';

/** The instrumentation scope of every span. */
export const TRACER_NAME = 'job-reactor';

/** `messaging.system`. */
export const MESSAGING_SYSTEM = 'jobreactor';

/** Attribute names: the messaging conventions', then ours in their `messaging.jobreactor.*` namespace. */
export const ATTR = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  errorType: 'error.type',
  /** The attempt number (1 for the first, per cycle of a recurring job). */
  attempt: 'messaging.jobreactor.attempt',
  /** 1 for the first dispatch, more after the job was sent again (a lost node). */
  delivery: 'messaging.jobreactor.delivery',
  /** The node that ran the attempt (or sent the feedback). */
  node: 'messaging.jobreactor.node',
  /** The distributor's id. */
  distributor: 'messaging.jobreactor.distributor',
  /** `success`, `error` or `cancelled`. */
  outcome: 'messaging.jobreactor.outcome',
  /** A recurring job's run number (1 for the first run). */
  run: 'messaging.jobreactor.run',
  /** False for a recurring job's run that will run again. */
  final: 'messaging.jobreactor.final',
  /** True for a job run on the node's worker threads (`defer: true`). */
  deferred: 'messaging.jobreactor.deferred',
} as const;

/** The conventions' attributes of a span about one job (a message): process or settle. */
export function messageAttributes(
  operation: 'process' | 'settle',
  job: { readonly name: string; readonly id: string },
): Attributes {
  return {
    [ATTR.system]: MESSAGING_SYSTEM,
    [ATTR.operationName]: operation,
    [ATTR.operationType]: operation,
    [ATTR.destination]: job.name,
    [ATTR.messageId]: job.id,
  };
}

/** The tracer and the propagator one distributor or node uses. */
export class Otel {
  readonly tracer: Tracer;
  readonly #propagator: TextMapPropagator | undefined;

  constructor(resolved: ResolvedTracing) {
    // The global provider is a proxy: an SDK registered after this start is used too.
    this.tracer = (
      (resolved.tracerProvider as TracerProvider | undefined) ?? trace.getTracerProvider()
    ).getTracer(TRACER_NAME);
    this.#propagator = resolved.propagator as TextMapPropagator | undefined;
  }

  /** The carrier of `ctx` (what a job takes over the wire), within its bounds; undefined: none. */
  inject(ctx: Context): TraceCarrier | undefined {
    const carrier: TraceCarrier = {};
    try {
      if (this.#propagator !== undefined) {
        this.#propagator.inject(ctx, carrier, defaultTextMapSetter);
      } else propagation.inject(ctx, carrier);
    } catch {
      return undefined; // a propagator's bug must not fail an enqueue
    }
    return cleanTraceCarrier(carrier);
  }

  /** The context a job's carrier holds, on an empty one (never the ambient context). */
  extract(carrier: TraceCarrier | undefined): Context {
    if (carrier === undefined) return ROOT_CONTEXT;
    try {
      return this.#propagator !== undefined
        ? this.#propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)
        : propagation.extract(ROOT_CONTEXT, carrier);
    } catch {
      return ROOT_CONTEXT; // whatever a hostile peer wrote: no parent, the job still runs
    }
  }
}

/**
 * Whether `span` has a context worth carrying on: false for the no-op tracer's spans (no
 * SDK registered), whose context is the invalid one (checked by identity first).
 */
export function hasContext(span: Span): boolean {
  const sc = span.spanContext();
  return sc !== INVALID_SPAN_CONTEXT && isSpanContextValid(sc);
}

/** A failed operation: error status, `error.type` (the library's code) and the exception. */
export function recordFailure(span: Span, error: ErrorInfo): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  span.setAttribute(ATTR.errorType, error.code);
  span.recordException({ name: error.name, message: error.message, code: error.code });
}

/** A throw out of an operation the span covers (e.g. an enqueue's InvalidArgumentError). */
export function recordThrown(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
  span.setAttribute(ATTR.errorType, typeof code === 'string' ? code : e.name);
  span.recordException(e);
}
