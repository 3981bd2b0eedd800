import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ErrorCodes,
  JobRegistry,
  startDistributor,
  startNode,
  type Distributor,
  type DistributorOptions,
  type ErrorInfo,
  type JobReactorError,
  type NodeOptions,
  type WorkerNode,
} from '../../src/index.ts';
import { spawnNode } from '../helpers/node-process.ts';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.ts';
import { waitUntil } from '../helpers/wait.ts';

// Distributor↔node links over real TLS (node:tls on loopback sockets), with certificates
// made by openssl for this file: the core scenarios, then every way a TLS link is refused.
// Each refusal must be reported, typed, on both sides, and never hang.

const JOBS = fileURLToPath(new URL('../fixtures/integration-jobs', import.meta.url));

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.remove());

const open: { close?: () => Promise<void>; stop?: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await (o.stop?.() ?? o.close?.());
});

/** The distributor's side of mutual TLS: its certificate, and the CA nodes' must chain to. */
const serverTls = () => ({
  cert: certs.pem.serverCert,
  key: certs.pem.serverKey,
  ca: certs.pem.ca,
});
const clientTls = () => ({
  cert: certs.pem.clientCert,
  key: certs.pem.clientKey,
  ca: certs.pem.ca,
});

async function distributor(options: DistributorOptions = {}): Promise<Distributor> {
  const d = await startDistributor({ port: 0, tls: serverTls(), ...options });
  open.push(d);
  return d;
}

async function node(d: Distributor, registry: JobRegistry, options: Partial<NodeOptions> = {}) {
  const n = await startNode({
    name: 'tls-node',
    distributors: [`127.0.0.1:${d.address.port}`],
    registry,
    concurrency: 4,
    tls: clientTls(),
    ...options,
  });
  open.push(n);
  return n;
}

/** The first rejection each side reports for one refused node. */
async function refusals(d: Distributor, n: WorkerNode) {
  const seen: { distributor?: JobReactorError; node?: ErrorInfo } = {};
  d.on('node:rejected', (_remote, error) => (seen.distributor ??= error));
  n.on('distributor:rejected', (_address, error) => (seen.node ??= error));
  await waitUntil(
    () => seen.distributor !== undefined && seen.node !== undefined,
    10_000,
    'both sides to report the refusal',
  );
  expect(d.nodes()).toHaveLength(0);
  return { distributor: seen.distributor!, node: seen.node! };
}

function echoRegistry(): JobRegistry {
  const reg = new JobRegistry();
  reg.define('echo', (args: { n: number }, ctx) => ({ doubled: args.n * 2, node: ctx.node }));
  return reg;
}

describe('tls - the core scenarios over mutual TLS', () => {
  it('enqueue → run → feedback, with the shared secret checked inside TLS', async () => {
    const d = await distributor({ secret: 's3cret' });
    await node(d, echoRegistry(), { secret: 's3cret' });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node to connect');
    let feedback: unknown;
    const h = d.enqueue('echo', { n: 21 }, {}, (args) => (feedback = args));
    await expect(h.result).resolves.toMatchObject({ doubled: 42, node: 'tls-node' });
    expect(feedback).toMatchObject({ doubled: 42 });
  });

  it('a wrong secret is still refused inside TLS (JR_ERR_AUTH_FAILED)', async () => {
    const d = await distributor({ secret: 'right' });
    const n = await node(d, echoRegistry(), { secret: 'wrong' });
    const seen = await refusals(d, n);
    expect(seen.distributor.code).toBe(ErrorCodes.AuthFailed);
    expect(seen.node.code).toBe(ErrorCodes.AuthFailed);
  });

  it('retries: a job that fails twice succeeds on its third attempt', async () => {
    const reg = new JobRegistry();
    reg.define('flaky', (_args, ctx) => {
      if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
      return { attempt: ctx.attempt };
    });
    const d = await distributor();
    await node(d, reg, { retryMultiplier: 0 });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node to connect');
    await expect(d.enqueue('flaky', {}).result).resolves.toMatchObject({ attempt: 3 });
  });

  it('the node redials over TLS when its distributor restarts on the same port', async () => {
    const reg = echoRegistry();
    const first = await startDistributor({ port: 0, id: 'dist-tls', tls: serverTls() });
    const port = first.address.port;
    const n = await node(first, reg);
    await waitUntil(() => first.nodes().length === 1, 5000, 'the node to connect');
    await expect(first.enqueue('echo', { n: 1 }).result).resolves.toMatchObject({ doubled: 2 });
    await first.close();
    const second = await distributor({ port, id: 'dist-tls' });
    await waitUntil(() => second.nodes().length === 1, 10_000, 'the node to reconnect');
    await expect(second.enqueue('echo', { n: 2 }).result).resolves.toMatchObject({ doubled: 4 });
    expect(n.name).toBe('tls-node');
  });

  it('a restarted node (same name) takes jobs again over TLS', async () => {
    const reg = echoRegistry();
    const d = await distributor();
    const n1 = await startNode({
      name: 'again',
      distributors: [`127.0.0.1:${d.address.port}`],
      registry: reg,
      tls: clientTls(),
    });
    await waitUntil(() => d.nodes().length === 1, 5000, 'the node to connect');
    await n1.stop();
    await waitUntil(() => d.nodes().length === 0, 5000, 'the node to leave');
    const h = d.enqueue('echo', { n: 5 }); // waits for a node
    await node(d, reg, { name: 'again' });
    await expect(h.result).resolves.toMatchObject({ doubled: 10, node: 'again' });
  });

  it('a CLI node started with --tls-cert/--tls-key/--tls-ca runs jobs; JR_TLS_* variables work too', async () => {
    const d = await distributor();
    const addr = `127.0.0.1:${d.address.port}`;
    const byFlags = spawnNode({
      name: 'cli-flags',
      distributors: [addr],
      jobs: JOBS,
      extra: [
        '--tls-cert',
        certs.paths.clientCert,
        '--tls-key',
        certs.paths.clientKey,
        '--tls-ca',
        certs.paths.ca,
      ],
    });
    const byEnv = spawnNode({
      name: 'cli-env',
      distributors: [addr],
      jobs: JOBS,
      env: {
        JR_TLS_CERT: certs.paths.clientCert,
        JR_TLS_KEY: certs.paths.clientKey,
        JR_TLS_CA: certs.paths.ca,
        JR_TLS_SERVERNAME: 'localhost',
      },
    });
    try {
      await waitUntil(() => d.nodes().length === 2, 20_000, 'both CLI nodes to connect');
      for (const name of ['cli-flags', 'cli-env']) {
        await expect(
          d.enqueue('it.echo', {}, { node: name, strictNode: true }).result,
        ).resolves.toMatchObject({ node: name });
      }
    } finally {
      byFlags.kill('SIGTERM');
      byEnv.kill('SIGTERM');
      await Promise.all([byFlags.exited, byEnv.exited]);
    }
  });

  it('a CLI node whose --tls-cert cannot be read exits 1 with JR_ERR_TLS_CONFIG', async () => {
    const p = spawnNode({
      name: 'cli-bad',
      distributors: ['127.0.0.1:1'],
      jobs: JOBS,
      extra: ['--tls-cert', '/nonexistent/cert.pem', '--tls-key', certs.paths.clientKey],
    });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toContain(ErrorCodes.TlsConfig);
    expect(p.stderr()).toContain('/nonexistent/cert.pem');
  });
});

describe('tls - refusals, typed and reported on both sides', () => {
  it('bad material fails at start with TlsConfigError naming the piece', async () => {
    const { pem } = certs;
    const cases: [Promise<unknown>, RegExp][] = [
      [startDistributor({ tls: { cert: 'not a pem', key: pem.serverKey } }), /tls\.cert/],
      [startDistributor({ tls: { cert: pem.serverCert, key: pem.clientKey } }), /tls\.key/],
      [startDistributor({ tls: { cert: pem.serverCert } }), /go together/],
      [startDistributor({ tls: { ca: pem.ca } }), /needs tls\.cert/],
      [startNode({ name: 'x', distributors: ['127.0.0.1:1'], tls: { ca: 'garbage' } }), /tls\.ca/],
      [
        startNode({
          name: 'x',
          distributors: ['127.0.0.1:1'],
          tls: { cert: pem.clientCert, key: Buffer.from('-----BEGIN PRIVATE KEY-----\nAAAA\n') },
        }),
        /tls\.key/,
      ],
    ];
    for (const [started, message] of cases) {
      await expect(started).rejects.toMatchObject({ code: ErrorCodes.TlsConfig, message });
    }
  });

  it('a distributor whose certificate the node does not trust: JR_ERR_TLS_UNTRUSTED on the node', async () => {
    const d = await distributor({
      tls: { cert: certs.pem.rogueServerCert, key: certs.pem.rogueServerKey },
    });
    const n = await node(d, echoRegistry());
    const seen = await refusals(d, n);
    expect(seen.node.code).toBe(ErrorCodes.TlsUntrusted);
    expect(seen.node.message).toMatch(/not trusted/);
    // The distributor only sees the node hang up right after TLS.
    expect(seen.distributor.code).toBe(ErrorCodes.Connection);
  });

  it('a certificate for another name (servername) is refused: JR_ERR_TLS_UNTRUSTED', async () => {
    const d = await distributor();
    const n = await node(d, echoRegistry(), { tls: { ...clientTls(), servername: 'other.test' } });
    const seen = await refusals(d, n);
    expect(seen.node.code).toBe(ErrorCodes.TlsUntrusted);
    expect(seen.node.message).toMatch(/ALTNAME/);
  });

  it('mutual TLS: a node without a certificate, or with an untrusted one, is refused on both sides', async () => {
    const d = await distributor();
    const bare = await node(d, echoRegistry(), { name: 'bare', tls: { ca: certs.pem.ca } });
    const seen = await refusals(d, bare);
    expect(seen.distributor.code).toBe(ErrorCodes.TlsUntrusted);
    expect(seen.distributor.message).toMatch(/no client certificate/);
    expect(seen.node.code).toBe(ErrorCodes.TlsUntrusted);
    await bare.stop();

    const rogue = await node(d, echoRegistry(), {
      name: 'rogue',
      tls: { cert: certs.pem.rogueClientCert, key: certs.pem.rogueClientKey, ca: certs.pem.ca },
    });
    const again = await refusals(d, rogue);
    expect(again.distributor.code).toBe(ErrorCodes.TlsUntrusted);
    expect(again.distributor.message).toMatch(/not trusted/);
    expect(again.node.code).toBe(ErrorCodes.TlsUntrusted);
  });

  it('a plain node on a TLS port, and a TLS node on a plain port: JR_ERR_TLS_MISMATCH on both sides', async () => {
    const tlsD = await distributor();
    const plain = await startNode({
      name: 'plain',
      distributors: [`127.0.0.1:${tlsD.address.port}`],
      registry: echoRegistry(),
    });
    open.push(plain);
    const one = await refusals(tlsD, plain);
    expect(one.distributor.code).toBe(ErrorCodes.TlsMismatch);
    expect(one.node.code).toBe(ErrorCodes.TlsMismatch);
    expect(one.node.message).toMatch(/requires it/);

    const plainD = await startDistributor({ port: 0 });
    open.push(plainD);
    const tlsNode = await node(plainD, echoRegistry(), { name: 'secure' });
    const two = await refusals(plainD, tlsNode);
    expect(two.distributor.code).toBe(ErrorCodes.TlsMismatch);
    expect(two.node.code).toBe(ErrorCodes.TlsMismatch);
  });

  it('a silent peer, and one that stalls mid TLS handshake, are closed at the deadline', async () => {
    const d = await distributor({ handshakeTimeoutMs: 300 });
    const rejected: string[] = [];
    d.on('node:rejected', (_remote, error) => rejected.push(error.code));
    const closed = (write?: Buffer) =>
      new Promise<void>((resolve) => {
        const s = net.connect(d.address.port, '127.0.0.1', () => write && s.write(write));
        s.on('error', () => {});
        s.on('close', () => resolve());
      });
    // A TLS record header announcing a ClientHello that never comes.
    await Promise.all([closed(), closed(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))]);
    await waitUntil(() => rejected.length === 2, 5000, 'both to be reported');
    expect(rejected).toEqual([ErrorCodes.HandshakeTimeout, ErrorCodes.HandshakeTimeout]);
  });

  it('a TLS 1.1 client is refused (TLS 1.2 at least)', async () => {
    const d = await distributor();
    const rejected: string[] = [];
    d.on('node:rejected', (_remote, error) => rejected.push(error.code));
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect({
        port: d.address.port,
        host: '127.0.0.1',
        ca: certs.pem.ca,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
      });
      s.on('secureConnect', () => resolve('connected'));
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(outcome).not.toBe('connected');
    await waitUntil(() => rejected.length === 1, 5000, 'the refusal to be reported');
  });

  it('beyond loopback, TLS without client certificates still needs a secret (or allowInsecure)', async () => {
    const { pem } = certs;
    const bare = { cert: pem.serverCert, key: pem.serverKey };
    await expect(startDistributor({ host: '0.0.0.0', port: 0, tls: bare })).rejects.toMatchObject({
      code: ErrorCodes.InvalidArgument,
    });
    for (const options of [
      { tls: serverTls() },
      { tls: bare, secret: 'x' },
      { tls: bare, allowInsecure: true },
    ]) {
      const d = await startDistributor({ host: '0.0.0.0', port: 0, ...options });
      await d.close();
    }
  });
});
