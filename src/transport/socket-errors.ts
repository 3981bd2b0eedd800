import {
  ConnectionError,
  HandshakeTimeoutError,
  TlsMismatchError,
  TlsUntrustedError,
  type JobReactorError,
} from '../errors.ts';

// Socket and TLS failures as typed errors: one place that knows OpenSSL's and Node's codes.

/**
 * First byte of every TLS record: change-cipher-spec, alert, handshake, application data.
 * A job-reactor frame starts with its version (1), so a plain side tells TLS at once.
 */
export function looksLikeTls(firstByte: number | undefined): boolean {
  return firstByte !== undefined && firstByte >= 0x14 && firstByte <= 0x17;
}

/** The other side spoke TLS to this plain one. */
export function tlsOnPlainLink(remote: string): TlsMismatchError {
  return new TlsMismatchError(
    `${remote} speaks TLS and this side does not: set the tls option on both sides, or on neither`,
  );
}

/** A plain peer on a listener that requires TLS. */
export function plainOnTlsLink(remote: string): TlsMismatchError {
  return new TlsMismatchError(
    `${remote} connected without TLS and this distributor requires it: set the tls option on the node too`,
  );
}

// A certificate was checked and failed (X509_V_ERR_* names as Node reports them).
const UNTRUSTED =
  /CERT|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY|SELF_SIGNED|ERR_TLS_CERT_ALTNAME_INVALID|ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE|ALERT_ACCESS_DENIED|ALERT_DECRYPT_ERROR/;
// Bytes that are not TLS where TLS was expected.
const NOT_TLS =
  /ERR_SSL_WRONG_VERSION_NUMBER|ERR_SSL_PACKET_LENGTH_TOO_LONG|ERR_SSL_HTTP_REQUEST|ERR_SSL_RECORD_LAYER_FAILURE/;

/**
 * A socket's `error` as a JobReactorError: TlsUntrustedError for a certificate the peer or
 * we refused, TlsMismatchError for a peer that does not speak TLS, HandshakeTimeoutError
 * for a TLS handshake past its deadline, ConnectionError for the rest (refused, reset).
 */
export function socketError(err: Error, remote: string, tls: boolean): JobReactorError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (tls && code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
    return new HandshakeTimeoutError(`TLS handshake with ${remote} took too long`, {
      cause: err,
    });
  }
  if (tls && code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') {
    return new TlsUntrustedError(
      `${remote} requires a client certificate: set tls.cert and tls.key on this node`,
      { cause: err },
    );
  }
  if (tls && /ALERT_UNKNOWN_CA|ALERT_BAD_CERTIFICATE|ALERT_ACCESS_DENIED/.test(code)) {
    return new TlsUntrustedError(`${remote} does not trust this side's certificate (${code})`, {
      cause: err,
    });
  }
  if (tls && UNTRUSTED.test(code)) {
    return new TlsUntrustedError(
      `the certificate of ${remote} is not trusted: ${code} (check tls.ca and tls.servername)`,
      { cause: err },
    );
  }
  if (tls && NOT_TLS.test(code)) {
    return new TlsMismatchError(
      `${remote} does not speak TLS (${code}): set the tls option on both sides, or on neither`,
      { cause: err },
    );
  }
  return new ConnectionError(`connection with ${remote} failed: ${code || err.message}`, {
    cause: err,
  });
}
