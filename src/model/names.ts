import { InvalidArgumentError } from '../errors.ts';

// Names end up in Redis keys and log lines, so they are kept to a safe alphabet
// (no `:`, `*`, `{`, spaces): node `a` and node `ba` can never share a key pattern.
const NODE_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const JOB_NAME = /^[A-Za-z0-9_.-]{1,200}$/;

export function assertNodeName(name: unknown, what = 'node name'): asserts name is string {
  if (typeof name !== 'string' || !NODE_NAME.test(name)) {
    throw new InvalidArgumentError(
      `${what} must be 1-128 characters of A-Z a-z 0-9 _ . - (got ${JSON.stringify(name)})`,
    );
  }
}

/** The last job name that passed: most calls repeat it (one name per enqueueMany batch). */
let lastJobName = '';

export function assertJobName(name: unknown): asserts name is string {
  if (name === lastJobName && name !== '') return;
  if (typeof name !== 'string' || !JOB_NAME.test(name)) {
    throw new InvalidArgumentError(
      `job name must be 1-200 characters of A-Z a-z 0-9 _ . - (got ${JSON.stringify(name)})`,
    );
  }
  lastJobName = name;
}

export function isValidNodeName(name: string): boolean {
  return NODE_NAME.test(name);
}
