/**
 * relay-client's error catalogue: every reason `listen` stops on its own, with a stable code, the
 * exit code the CLI ends with, and a message that says what to do. Transient trouble (the relay
 * restarting, the network dropping) is not here: the client reconnects and only reports it.
 */

/** One entry of {@link CLIENT_ERRORS}. */
export interface ClientErrorSpec {
  /** Process exit code of `relay-client` for this error: 2 for what the user must fix in the command, else 1. */
  readonly exitCode: 1 | 2;
  /** What went wrong and what to do. */
  readonly message: string;
}

/** Every client error by stable code. */
export const CLIENT_ERRORS = {
  RELAY_E_CLIENT_CONFIG_INVALID: {
    exitCode: 2,
    message: 'A setting is missing or invalid; fix the option named here. See `relay-client listen --help`.',
  },
  RELAY_E_CLIENT_TOKEN_REJECTED: {
    exitCode: 2,
    message:
      'The relay refused the token (unknown, expired or revoked). Create a new one on the relay host with `relay-server token create --name <you>` and pass it with --token or RELAY_TOKEN.',
  },
  RELAY_E_CLIENT_PROTOCOL_VERSION: {
    exitCode: 1,
    message:
      'This relay-client and the relay-server speak different protocol versions. Upgrade relay-client to the release that matches the relay-server.',
  },
  RELAY_E_CLIENT_PROTOCOL_ERROR: {
    exitCode: 1,
    message:
      'The relay closed the connection because of a protocol error, or answered with something that is not the myop-relay protocol. Check that --relay is the relay-server\'s URL and that client and server are the same release.',
  },
  RELAY_E_CLIENT_RELAY_REFUSED: {
    exitCode: 1,
    message: 'The relay URL refused the WebSocket upgrade. Check that --relay is the relay-server\'s public URL (the client connects to <relay>/ws).',
  },
  RELAY_E_CLIENT_TLS: {
    exitCode: 1,
    message:
      'The TLS connection to the relay failed (certificate or handshake). Check the relay\'s certificate; for a private CA, start relay-client with NODE_EXTRA_CA_CERTS=<ca.pem>.',
  },
  RELAY_E_CLIENT_UNREACHABLE: {
    exitCode: 1,
    message:
      'The relay cannot be reached (the detail says why). Check --relay (or RELAY_URL) and that relay-server is running; `relay-client status` checks the relay and the token.',
  },
  RELAY_E_CLIENT_SUBSCRIBE_REFUSED: {
    exitCode: 1,
    message:
      'The relay refused a subscription (the reason follows). Fix --channel, --since or the token\'s channels; past the relay\'s limits on subscriptions or consumers, listen to fewer channels at once or reuse a --consumer.',
  },
} as const satisfies Record<string, ClientErrorSpec>;

/** A stable client error code, such as `RELAY_E_CLIENT_TOKEN_REJECTED`. */
export type ClientErrorCode = keyof typeof CLIENT_ERRORS;

/** Why `listen` stopped on its own, or refused to start. */
export class ClientError extends Error {
  /** Stable code from {@link CLIENT_ERRORS}. */
  readonly code: ClientErrorCode;
  /** The specific cause, shown after the catalogue message. */
  readonly detail: string | undefined;

  /**
   * @param code - catalogue code.
   * @param detail - the specific cause; for config errors the message names the flag.
   */
  constructor(code: ClientErrorCode, detail?: string) {
    const spec: ClientErrorSpec = CLIENT_ERRORS[code];
    super(detail === undefined ? spec.message : code === 'RELAY_E_CLIENT_CONFIG_INVALID' ? detail : `${spec.message} (${detail})`);
    this.name = 'ClientError';
    this.code = code;
    this.detail = detail;
  }

  /** Exit code the CLI ends with. */
  get exitCode(): 1 | 2 {
    return CLIENT_ERRORS[this.code].exitCode;
  }
}
