import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request refused with an HTTP status and a human reason; the server turns it into a JSON reply. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Default limit of a request body. */
export const defaultBodyLimitBytes = 5 * 1024 * 1024;

/** Reads a request body as UTF-8 text; over `limitBytes`: {@link HttpError} 413. */
export async function readTextBody(
  req: IncomingMessage,
  limitBytes = defaultBodyLimitBytes,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > limitBytes) {
      throw new HttpError(413, `request body larger than ${limitBytes} bytes`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses JSON text; malformed: {@link HttpError} 400 with the parser's reason. An empty body reads as `{}`. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `malformed JSON body: ${(err as Error).message}`);
  }
}

/** Reads and parses a JSON request body (see {@link readTextBody} and {@link parseJson}). */
export async function readJsonBody(
  req: IncomingMessage,
  limitBytes = defaultBodyLimitBytes,
): Promise<unknown> {
  return parseJson(await readTextBody(req, limitBytes));
}

/** Sends `body` as JSON with `status`. Does nothing when the response is already finished. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** True when `value` is a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Resolves after `ms`, or at once when `signal` aborts (so that closing a server never waits for a delay). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What `POST /__sandbox/faults` sets. */
export interface FaultSettings {
  /** HTTP status the next `count` calls answer instead of being performed. */
  status?: number;
  /** How many calls answer `status`; default 1 when `status` is set. */
  count?: number;
  /** Delay added to every call until the faults are reset. */
  latencyMs?: number;
  /** `Retry-After` of an injected 429/503/509; default 1. */
  retryAfterSeconds?: number;
}

/** An injected failure: the status to answer and its headers. */
export interface InjectedFault {
  status: number;
  headers: Record<string, string>;
}

const throttleStatuses = new Set([429, 503, 509]);

/**
 * Fault injection shared by both sandboxes: the next `count` calls fail with `status`, every call is delayed by
 * `latencyMs`. Tests and demos set it through the control endpoint `POST /__sandbox/faults`.
 */
export class FaultInjector {
  private settings: Required<Omit<FaultSettings, 'status'>> & { status?: number } = {
    count: 0,
    latencyMs: 0,
    retryAfterSeconds: 1,
  };

  /** Validates and applies the body of `POST /__sandbox/faults`; invalid: {@link HttpError} 400. */
  configure(body: unknown): FaultSettings {
    if (!isJsonObject(body)) throw new HttpError(400, 'expected a JSON object {status?, count?, latencyMs?}');
    const status = optionalInteger(body, 'status', 100, 599);
    const count = optionalInteger(body, 'count', 0, Number.MAX_SAFE_INTEGER);
    const latencyMs = optionalInteger(body, 'latencyMs', 0, 600_000);
    const retryAfterSeconds = optionalInteger(body, 'retryAfterSeconds', 0, 86_400);
    this.settings = {
      ...(status !== undefined ? { status } : {}),
      count: status === undefined ? 0 : (count ?? 1),
      latencyMs: latencyMs ?? 0,
      retryAfterSeconds: retryAfterSeconds ?? 1,
    };
    return this.current();
  }

  /** Back to no fault and no latency. */
  reset(): void {
    this.settings = { count: 0, latencyMs: 0, retryAfterSeconds: 1 };
  }

  /** The settings in force, with the calls left to fail. */
  current(): FaultSettings {
    return { ...this.settings };
  }

  /** Waits the configured latency (cut short by `signal`). */
  delay(signal?: AbortSignal): Promise<void> {
    return sleep(this.settings.latencyMs, signal);
  }

  /** Consumes one injected failure, if any is left. */
  take(): InjectedFault | undefined {
    const { status, count, retryAfterSeconds } = this.settings;
    if (status === undefined || count <= 0) return undefined;
    this.settings.count = count - 1;
    const headers: Record<string, string> = throttleStatuses.has(status)
      ? { 'retry-after': String(retryAfterSeconds) }
      : {};
    return { status, headers };
  }
}

function optionalInteger(
  body: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HttpError(400, `${key}: expected an integer from ${min} to ${max}`);
  }
  return value;
}

/** Handles one request; throwing {@link HttpError} answers its status, anything else 500. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** A started sandbox server. */
export interface StartedServer {
  server: Server;
  url: string;
  port: number;
  /** Aborted when the server closes: long waits inside handlers listen to it. */
  closing: AbortSignal;
  close(): Promise<void>;
}

/**
 * Starts a node:http server on 127.0.0.1 (`port` 0: the OS chooses). Errors thrown by `handler` become JSON replies
 * `{error}`. `close()` stops accepting, aborts pending delays and closes every open connection.
 */
export function startHttpServer(port: number, handler: RequestHandler): Promise<StartedServer> {
  const closingController = new AbortController();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    handler(req, res, url).catch((err: unknown) => {
      if (err instanceof HttpError) {
        sendJson(res, err.status, { error: err.message }, err.headers);
      } else {
        sendJson(res, 500, { error: `internal error: ${err instanceof Error ? err.message : String(err)}` });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const actualPort = (server.address() as AddressInfo).port;
      let closed: Promise<void> | undefined;
      resolve({
        server,
        port: actualPort,
        url: `http://127.0.0.1:${actualPort}`,
        closing: closingController.signal,
        close: () => {
          closed ??= new Promise<void>((resolveClose, rejectClose) => {
            closingController.abort();
            server.close((err) => (err ? rejectClose(err) : resolveClose()));
            server.closeAllConnections();
          });
          return closed;
        },
      });
    });
  });
}

/** Matches `/prefix/{segment}` and returns the decoded segment, or undefined. */
export function pathParameter(pathname: string, prefix: string): string | undefined {
  if (!pathname.startsWith(prefix)) return undefined;
  const rest = pathname.slice(prefix.length);
  if (rest === '' || rest.includes('/')) return undefined;
  try {
    return decodeURIComponent(rest);
  } catch {
    return undefined;
  }
}

/** Reads an optional non-negative integer query parameter; invalid: {@link HttpError} 400. */
export function queryInteger(
  url: URL,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new HttpError(400, `${name}: expected an integer from 0 to ${max}`);
  }
  return value;
}
