// The package as a user installs it: built with tsc, packed with `npm pack`, installed into
// a fresh CommonJS project (`npm init -y`) without the optional peer tsx.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'jr-pkg-'));
const app = join(work, 'app');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

beforeAll(() => {
  const pkg = join(work, 'pkg');
  mkdirSync(pkg);
  for (const f of ['package.json', 'LICENSE', 'README.md']) cpSync(join(ROOT, f), join(pkg, f));
  // What package.json `files` ships besides the build (bin, the dashboard, …).
  const shipped = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] }
  ).files;
  for (const f of shipped.filter((f) => f !== 'dist')) {
    cpSync(join(ROOT, f), join(pkg, f), { recursive: true });
  }
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      join(pkg, 'dist'),
    ],
    { stdio: 'pipe' },
  );
  const tarball = npm(['pack', '--silent', '--pack-destination', work], pkg)
    .trim()
    .split('\n')
    .pop()!;
  mkdirSync(app);
  npm(['init', '-y'], app);
  npm(['install', join(work, tarball), '--no-audit', '--no-fund', '--prefer-offline'], app);
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

const installed = () => join(app, 'node_modules', 'job-reactor');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe('package - as installed from npm pack', () => {
  it('package - ships a LICENSE, no source maps pointing at sources it does not ship, and no tsx', () => {
    const all = files(installed());
    expect(all.some((f) => f.endsWith('/LICENSE'))).toBe(true);
    expect(all.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(all.some((f) => f.includes('/src/'))).toBe(false);
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('tsx');
  });

  it('package - works from require() in a CommonJS project and from import', () => {
    writeFileSync(
      join(app, 'a.cjs'),
      "const jr = require('job-reactor'); console.log(typeof jr.startDistributor, jr.PROTOCOL_VERSION);",
    );
    writeFileSync(
      join(app, 'b.mjs'),
      "import { startNode, PROTOCOL_VERSION } from 'job-reactor'; console.log(typeof startNode, PROTOCOL_VERSION);",
    );
    for (const file of ['a.cjs', 'b.mjs']) {
      const r = spawnSync(process.execPath, [file], { cwd: app, encoding: 'utf8' });
      expect(r.stdout.trim(), r.stderr).toBe(`function ${PROTOCOL_VERSION}`);
    }
  });

  it('package - a TypeScript job directory without tsx: exit 1 with a message naming the package to install', () => {
    mkdirSync(join(app, 'tsjobs'));
    writeFileSync(join(app, 'tsjobs', 'mail.ts'), 'export const n: number = 1;\n');
    const r = spawnSync(
      join(app, 'node_modules', '.bin', 'jobreactor'),
      ['node', '--name', 'pkg-test', '--distributor', '127.0.0.1:1', '--jobs', 'tsjobs'],
      { cwd: app, encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/mail\.ts.*npm install tsx/);
  });

  it('package - ships the dashboard: served from the installed files (no network)', () => {
    writeFileSync(
      join(app, 'dash.mjs'),
      [
        "import { startDistributor } from 'job-reactor';",
        'const d = await startDistributor({ http: {} });',
        'const base = `http://127.0.0.1:${d.httpAddress.port}`;',
        "const paths = ['/', '/app.js', '/style.css', '/vendor/htm-preact.js', '/vendor/uplot.js', '/vendor/uplot.css', '/api/counts'];",
        'const out = [];',
        'for (const p of paths) out.push((await fetch(base + p)).status);',
        'console.log(out.join(" "));',
        'await d.close();',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, ['dash.mjs'], { cwd: app, encoding: 'utf8' });
    expect(r.stdout.trim(), r.stderr).toBe('200 200 200 200 200 200 200');
  });

  it('package - a CLI node with --metrics but without prom-client (an optional peer): exit 1 naming it', () => {
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('prom-client');
    mkdirSync(join(app, 'jsjobs'));
    writeFileSync(
      join(app, 'jsjobs', 'noop.mjs'),
      "import { job } from 'job-reactor';\njob('noop', () => undefined);\n",
    );
    const r = spawnSync(
      join(app, 'node_modules', '.bin', 'jobreactor'),
      [
        'node',
        '--name',
        'pkg-m',
        '--distributor',
        '127.0.0.1:1',
        '--jobs',
        'jsjobs',
        '--metrics',
        '0',
      ],
      { cwd: app, encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr + r.stdout).toMatch(/JR_ERR_INVALID_ARGUMENT|npm install prom-client/);
    expect(r.stderr + r.stdout).toContain('npm install prom-client');
  });

  it('package - without @opentelemetry/api (an optional peer): runs with tracing off; tracing: true fails at start naming it', () => {
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('@opentelemetry');
    writeFileSync(
      join(app, 'tracing.mjs'),
      [
        "import { startDistributor, startNode } from 'job-reactor';",
        'const d = await startDistributor();',
        'await d.close();',
        'const out = [];',
        'for (const start of [() => startDistributor({ tracing: true }), () => startNode({ name: "t", distributors: [], tracing: true })]) {',
        '  try { await start(); out.push("started"); } catch (err) { out.push(`${err.code}: ${err.message}`); }',
        '}',
        'console.log(out.join("\\n"));',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, ['tracing.mjs'], { cwd: app, encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^JR_ERR_INVALID_ARGUMENT: /);
      expect(line).toContain('npm install @opentelemetry/api');
    }
  });
});
