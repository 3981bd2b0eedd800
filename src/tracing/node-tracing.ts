import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
} from '@opentelemetry/api';
import type { JobRecord } from '../model/job.ts';
import type { AttemptOutcome } from '../node/running/job-runner.ts';
import { ATTR, hasContext, messageAttributes, Otel, recordFailure, recordThrown } from './otel.ts';
import type { ResolvedTracing } from './tracing-options.ts';

/**
 * A node's spans: `process <job name>` (CONSUMER, `messaging.operation.type` process), one
 * per attempt (each retry, each run of a period or cron job). Its parent is the job's
 * creation context (the distributor's send span, carried in the job and kept in a
 * durable storage, so an attempt after a restart is still in the trace), and it links to
 * that context too, as the conventions recommend; a job without a usable carrier gets a
 * root span. The job's steps run inside it: their own spans (an HTTP call) nest under
 * it. A `defer: true` job's span is on the main thread, around the worker thread's run.
 * Error status and the exception for a failed attempt.
 */
export class NodeTracing {
  readonly #otel: Otel;
  readonly #node: string;

  constructor(resolved: ResolvedTracing, node: string) {
    this.#otel = new Otel(resolved);
    this.#node = node;
  }

  /** Runs one attempt of `record` (already marked started) inside its span. */
  attempt(record: JobRecord, run: () => Promise<AttemptOutcome>): Promise<AttemptOutcome> {
    const name = `process ${record.name}`;
    let span: Span;
    let base: Context = ROOT_CONTEXT;
    if (record.trace === undefined) {
      // An untraced job (its distributor has no SDK, or tracing off): a no-op tracer here
      // costs no attributes object; a real one gets them just after the start.
      span = this.#otel.tracer.startSpan(name, CONSUMER, ROOT_CONTEXT);
      if (!span.isRecording()) {
        if (!hasContext(span)) return run();
      } else span.setAttributes(this.#attributes(record));
    } else {
      const parent = this.#otel.extract(record.trace);
      const creation = trace.getSpanContext(parent);
      const linked = creation !== undefined && isSpanContextValid(creation);
      if (linked) base = parent;
      span = this.#otel.tracer.startSpan(
        name,
        {
          kind: SpanKind.CONSUMER,
          attributes: this.#attributes(record),
          ...(linked ? { links: [{ context: creation }] } : {}),
        },
        base,
      );
    }
    return context.with(trace.setSpan(base, span), run).then(
      (outcome) => {
        ended(span, outcome);
        return outcome;
      },
      (err: unknown) => {
        recordThrown(span, err);
        span.end();
        throw err;
      },
    );
  }

  #attributes(record: JobRecord): Attributes {
    const attributes = messageAttributes('process', record);
    attributes[ATTR.node] = this.#node;
    attributes[ATTR.attempt] = record.attempt;
    attributes[ATTR.delivery] = record.delivery;
    if (record.period !== undefined || record.cron !== undefined) {
      attributes[ATTR.run] = record.runs + 1;
    }
    if (record.defer === true) attributes[ATTR.deferred] = true;
    return attributes;
  }
}

const CONSUMER: SpanOptions = { kind: SpanKind.CONSUMER };

function ended(span: Span, outcome: AttemptOutcome): void {
  span.setAttribute(ATTR.outcome, outcome.kind);
  if (outcome.kind === 'error') recordFailure(span, outcome.error);
  span.end();
}
