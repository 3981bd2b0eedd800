import tls from 'node:tls';
import { TlsConfigError } from '../errors.ts';

/** PEM text or bytes, or several of them (a chain, a CA bundle): what node:tls takes. */
export type PemInput = string | Buffer | ReadonlyArray<string | Buffer>;

/**
 * TLS on the distributor↔node links (the `tls` option of `startDistributor` and
 * `startNode`). Only TLS 1.2 and later are spoken. The shared-secret handshake still runs
 * inside TLS when a `secret` is set.
 *
 * - Distributor: `cert` and `key` are required. With `ca`, every node must present a
 *   certificate signed by one of those CAs (mutual TLS); without it, nodes are not asked
 *   for one.
 * - Node: `ca` verifies the distributor's certificate (default: Node's bundled root CAs),
 *   against `servername`. `cert` and `key` present this node's certificate, for a
 *   distributor that requires one.
 */
export interface TlsOptions {
  /** This side's certificate (PEM), or its chain, leaf first. Needs `key`. */
  cert?: PemInput;
  /** The private key of `cert` (PEM, unencrypted). Needs `cert`. */
  key?: PemInput;
  /**
   * CA certificates (PEM) that sign the peer's certificate. Given, they replace Node's
   * bundled root CAs. @default Node's root CAs on a node; no client certificates on a distributor
   */
  ca?: PemInput;
  /**
   * Node only: the name the distributor's certificate must carry (also sent as SNI).
   * @default the host dialled (a name, or an IP address checked against the IP SANs)
   */
  servername?: string;
}

/** What node:tls takes (its arrays are mutable): a copy of the caller's. */
type LoadedPem = string | Buffer | (string | Buffer)[];

function copy(pem: PemInput): LoadedPem {
  return typeof pem === 'string' || Buffer.isBuffer(pem) ? pem : [...pem];
}

/** A distributor's TLS, checked once (tls.Server takes the material, not a context). */
export interface ServerTls {
  material: { cert: LoadedPem; key: LoadedPem; ca?: LoadedPem };
  /** True when `ca` was given: nodes must present a certificate it signed. */
  requireClientCert: boolean;
}

/** A node's TLS, checked and loaded once (shared by every link). */
export interface ClientTls {
  context: tls.SecureContext;
  servername: string | undefined;
}

/** Older versions have known weaknesses (S9 in the reliability plan). */
export const TLS_MIN_VERSION = 'TLSv1.2';

/** Checks and loads a distributor's `tls`; bad material throws TlsConfigError. */
export function resolveServerTls(options: TlsOptions | undefined): ServerTls | undefined {
  if (options === undefined) return undefined;
  checkShape(options);
  const { cert, key, ca } = options;
  if (cert === undefined || key === undefined) {
    throw new TlsConfigError('a TLS distributor needs tls.cert and tls.key (its certificate)');
  }
  if (options.servername !== undefined) {
    throw new TlsConfigError('tls.servername is a node option (the name a node checks)');
  }
  load(options);
  return {
    material: { cert: copy(cert), key: copy(key), ...(ca !== undefined ? { ca: copy(ca) } : {}) },
    requireClientCert: ca !== undefined,
  };
}

/** Checks and loads a node's `tls`; bad material throws TlsConfigError. */
export function resolveClientTls(options: TlsOptions | undefined): ClientTls | undefined {
  if (options === undefined) return undefined;
  checkShape(options);
  const { servername } = options;
  if (servername !== undefined && (typeof servername !== 'string' || servername === '')) {
    throw new TlsConfigError('tls.servername must be a non-empty string');
  }
  return { context: load(options), servername };
}

function checkShape(options: TlsOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TlsConfigError('tls must be an object { cert, key, ca, servername }');
  }
  for (const field of ['cert', 'key', 'ca'] as const) {
    const v = options[field];
    if (v !== undefined && !isPem(v)) {
      throw new TlsConfigError(
        `tls.${field} must be PEM text or a Buffer (or an array of them), not ${typeof v}`,
      );
    }
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TlsConfigError('tls.cert and tls.key go together: give both or neither');
  }
}

function isPem(v: unknown): boolean {
  const one = (x: unknown) => typeof x === 'string' || Buffer.isBuffer(x);
  return one(v) || (Array.isArray(v) && v.length > 0 && v.every(one));
}

/**
 * Each piece is loaded alone first, so the error names the one that is bad (OpenSSL's
 * message says only "no start line"); then together, which checks that the key fits.
 */
function load(options: TlsOptions): tls.SecureContext {
  const pieces = { cert: options.cert, key: options.key, ca: options.ca };
  for (const field of ['cert', 'key', 'ca'] as const) {
    const value = pieces[field];
    if (value === undefined) continue;
    if (!containsPem(value)) {
      throw new TlsConfigError(`tls.${field} is not PEM (no "-----BEGIN" line)`);
    }
    context({ [field]: value }, `tls.${field} cannot be loaded`);
  }
  return context(pieces, 'tls.key does not belong to tls.cert');
}

// OpenSSL skips what is not PEM in a CA list without complaint; a CA that is all garbage
// would then trust nothing and fail later, at every handshake, less clearly.
function containsPem(value: PemInput): boolean {
  const all = Array.isArray(value) ? value : [value];
  return all.every((v) => v.toString().includes('-----BEGIN'));
}

function context(
  pieces: { cert?: PemInput | undefined; key?: PemInput | undefined; ca?: PemInput | undefined },
  what: string,
): tls.SecureContext {
  const defined = Object.fromEntries(
    Object.entries(pieces).filter(([, v]) => v !== undefined),
  ) as tls.SecureContextOptions;
  try {
    return tls.createSecureContext({ ...defined, minVersion: TLS_MIN_VERSION });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TlsConfigError(`${what}: ${code ?? (err as Error).message}`, { cause: err });
  }
}
