import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Link,
  type Span,
} from '@opentelemetry/api';
import type { JobRecord } from '../model/job.ts';
import type { AttemptOutcome } from '../node/running/job-runner.ts';
import { ATTR, MESSAGING_SYSTEM, Otel, recordFailure, recordThrown } from './otel.ts';
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
    const parent = this.#otel.extract(record.trace);
    const creation = record.trace === undefined ? undefined : trace.getSpanContext(parent);
    const links: Link[] | undefined =
      creation !== undefined && isSpanContextValid(creation) ? [{ context: creation }] : undefined;
    const attributes: Attributes = {
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.operationName]: 'process',
      [ATTR.operationType]: 'process',
      [ATTR.destination]: record.name,
      [ATTR.messageId]: record.id,
      [ATTR.node]: this.#node,
      [ATTR.attempt]: record.attempt,
      [ATTR.delivery]: record.delivery,
    };
    if (record.period !== undefined || record.cron !== undefined) {
      attributes[ATTR.run] = record.runs + 1;
    }
    if (record.defer === true) attributes[ATTR.deferred] = true;
    const base = links === undefined ? ROOT_CONTEXT : parent;
    const span = this.#otel.tracer.startSpan(
      `process ${record.name}`,
      { kind: SpanKind.CONSUMER, attributes, ...(links ? { links } : {}) },
      base,
    );
    // No SDK and no trace to continue: nothing to run the job in.
    if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return run();
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
}

function ended(span: Span, outcome: AttemptOutcome): void {
  span.setAttribute(ATTR.outcome, outcome.kind);
  if (outcome.kind === 'error') recordFailure(span, outcome.error);
  span.end();
}
