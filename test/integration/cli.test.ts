import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/jobreactor.js', import.meta.url));
const run = promisify(execFile);
const env = { ...process.env, JR_FROM_SOURCE: '1' };

describe('cli - jobreactor', () => {
  it('node --help lists every flag with its JR_* variable', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'node', '--help'], { env });
    const flags: [string, string][] = [
      ['--name', 'JR_NAME'],
      ['--distributor', 'JR_DISTRIBUTORS'],
      ['--storage', 'JR_STORAGE'],
      ['--redis-prefix', 'JR_REDIS_PREFIX'],
      ['--jobs', 'JR_JOBS'],
      ['--concurrency', 'JR_CONCURRENCY'],
      ['--threads', 'JR_THREADS'],
      ['--secret-file', 'JR_SECRET_FILE'],
      ['--max-attempt', 'JR_MAX_ATTEMPT'],
      ['--retry-multiplier', 'JR_RETRY_MULTIPLIER'],
      ['--lease-ttl', 'JR_LEASE_TTL'],
      ['--max-deliveries', 'JR_MAX_DELIVERIES'],
      ['--stop-timeout', 'JR_STOP_TIMEOUT'],
      ['--block-warn-ms', 'JR_BLOCK_WARN_MS'],
      ['--max-pending-feedbacks', 'JR_MAX_PENDING_FEEDBACKS'],
      ['--prefetch', 'JR_PREFETCH'],
      ['--prefetch-bytes', 'JR_PREFETCH_BYTES'],
      ['--log-level', 'JR_LOG_LEVEL'],
    ];
    const text = stdout.replace(/\s+/g, ' ');
    for (const [flag, variable] of flags) {
      expect(text).toContain(flag);
      expect(text).toContain(variable);
    }
  });

  it('a missing required flag or a bad value exits 1 with a message', async () => {
    const missing = await run(process.execPath, [BIN, 'node', '--name', 'x'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(missing).toMatchObject({ code: 1 });
    expect((missing as { stderr: string }).stderr).toContain('--distributor');
    const bad = await run(
      process.execPath,
      [BIN, 'node', '--name', 'x', '--distributor', '127.0.0.1:1', '--concurrency', 'zero'],
      { env },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toContain('whole number');
  });
});
