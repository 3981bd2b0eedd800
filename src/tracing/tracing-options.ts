import { InvalidArgumentError } from '../errors.ts';
import { assertKnownOptions, type OptionKeys } from '../model/known-options.ts';

/**
 * What job-reactor needs of an OpenTelemetry `TracerProvider`. Structural, like
 * MetricsRegistry: the public types never name `@opentelemetry/api`, which the library
 * loads only when tracing is on.
 */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): unknown;
}

/** What job-reactor needs of an OpenTelemetry `TextMapPropagator` (structural). */
export interface TextMapPropagatorLike {
  inject(context: unknown, carrier: unknown, setter?: unknown): void;
  extract(context: unknown, carrier: unknown, getter?: unknown): unknown;
}

export interface TracingOptions {
  /**
   * Where the tracer comes from. @default the global provider (`trace.getTracerProvider()`,
   * set by your SDK's `register()` or `NodeSDK.start()`, before or after this start)
   */
  tracerProvider?: TracerProviderLike;
  /**
   * How the trace context is written into each job and read from it on the node.
   * @default the global propagator (`propagation`; W3C trace context with the usual SDK setups)
   */
  propagator?: TextMapPropagatorLike;
}

/**
 * The `tracing` option of a distributor and a node: `true` (the global provider and
 * propagator), an object to choose them, or `false` / absent (off).
 */
export type TracingOption = boolean | TracingOptions;

/** Tracing as resolved from the option, once: undefined when off. */
export interface ResolvedTracing {
  tracerProvider: TracerProviderLike | undefined;
  propagator: TextMapPropagatorLike | undefined;
}

const TRACING_OPTION_KEYS = {
  tracerProvider: true,
  propagator: true,
} as const satisfies OptionKeys<TracingOptions>;

/** The `tracing` option, checked: undefined when off. Bad input throws InvalidArgumentError. */
export function resolveTracing(option: TracingOption | undefined): ResolvedTracing | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return { tracerProvider: undefined, propagator: undefined };
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw new InvalidArgumentError(
      `tracing must be true, false or { tracerProvider?, propagator? } (got ${describe(option)})`,
    );
  }
  assertKnownOptions(option, TRACING_OPTION_KEYS, 'tracing');
  const { tracerProvider, propagator } = option;
  if (tracerProvider !== undefined && typeof tracerProvider.getTracer !== 'function') {
    throw new InvalidArgumentError(
      'tracing.tracerProvider must be an OpenTelemetry TracerProvider (with getTracer())',
    );
  }
  if (
    propagator !== undefined &&
    (typeof propagator.inject !== 'function' || typeof propagator.extract !== 'function')
  ) {
    throw new InvalidArgumentError(
      'tracing.propagator must be an OpenTelemetry TextMapPropagator (with inject() and extract())',
    );
  }
  return { tracerProvider, propagator };
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
