import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Certificates made at test time with the `openssl` binary (P-256 keys, valid two days):
 * a CA, a distributor certificate for `localhost` and `127.0.0.1`, a node (client)
 * certificate, and a second, untrusted CA with its own server and client certificates.
 */
export interface TestCerts {
  dir: string;
  /** Paths of every PEM file, for the CLI flags. */
  paths: Record<CertName, string>;
  /** Contents of every PEM file, for the `tls` option. */
  pem: Record<CertName, Buffer>;
  remove(): void;
}

export type CertName =
  | 'ca'
  | 'serverCert'
  | 'serverKey'
  | 'clientCert'
  | 'clientKey'
  | 'rogueCa'
  | 'rogueServerCert'
  | 'rogueServerKey'
  | 'rogueClientCert'
  | 'rogueClientKey';

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
}

function makeLeaf(dir: string, ca: string, name: string, usage: 'serverAuth' | 'clientAuth'): void {
  const ext = `${name}.ext`;
  writeFileSync(
    join(dir, ext),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=digitalSignature',
      `extendedKeyUsage=${usage}`,
      ...(usage === 'serverAuth' ? ['subjectAltName=DNS:localhost,IP:127.0.0.1'] : []),
      '',
    ].join('\n'),
  );
  openssl(dir, [
    'req',
    ...NEW_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${usage === 'serverAuth' ? 'localhost' : name}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    ext,
  ]);
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'jr-tls-'));
  makeCa(dir, 'ca');
  makeLeaf(dir, 'ca', 'server', 'serverAuth');
  makeLeaf(dir, 'ca', 'client', 'clientAuth');
  makeCa(dir, 'rogue-ca');
  makeLeaf(dir, 'rogue-ca', 'rogue-server', 'serverAuth');
  makeLeaf(dir, 'rogue-ca', 'rogue-client', 'clientAuth');
  const files: Record<CertName, string> = {
    ca: 'ca.pem',
    serverCert: 'server.pem',
    serverKey: 'server.key',
    clientCert: 'client.pem',
    clientKey: 'client.key',
    rogueCa: 'rogue-ca.pem',
    rogueServerCert: 'rogue-server.pem',
    rogueServerKey: 'rogue-server.key',
    rogueClientCert: 'rogue-client.pem',
    rogueClientKey: 'rogue-client.key',
  };
  const paths = {} as Record<CertName, string>;
  const pem = {} as Record<CertName, Buffer>;
  for (const [name, file] of Object.entries(files) as [CertName, string][]) {
    paths[name] = join(dir, file);
    pem[name] = readFileSync(paths[name]);
  }
  return { dir, paths, pem, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
