import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';

/**
 * Plumbing shared by the S-360 and CRM sandboxes: JSON bodies and replies, a tiny router, fault injection and
 * listening on 127.0.0.1. Kept small on purpose: the sandboxes are simulators, not a framework.
 */

/** Bodies larger than this are refused with 413. */
export const defaultBodyLimitBytes = 5 * 1024 * 1024;

/** An error answered as `status` with `{error: message, ...extra}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Reads the raw body as UTF-8 text; more than `limitBytes` -> 413. */
export function readRawBody(req: IncomingMessage, limitBytes = defaultBodyLimitBytes): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limitBytes) {
        tooLarge = true;
        reject(new HttpError(413, `request body larger than ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/** Parses JSON text; malformed -> 400. An empty body reads as `{}`. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `malformed JSON: ${(err as Error).message}`);
  }
}

/** Reads and parses a JSON body (size-limited). */
export async function readJsonBody(req: IncomingMessage, limitBytes?: number): Promise<unknown> {
  return parseJson(await readRawBody(req, limitBytes));
}

/** Answers `status` with a JSON body. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** `['data', 'records', 3, 'fields']` -> `data.records[3].fields`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(body)' : out;
}

/** The first issues of a zod error as `path: message; ...`. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${formatPath(issue.path)}: ${issue.message}`)
    .join('; ');
}

/** Parses `value` with `schema`, or throws a 400 naming the fields. */
export function validateOr400<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new HttpError(400, `${what}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A request as a route handler sees it. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Capture groups of the route's pattern. */
  params: string[];
}

export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
  /** Matched against the whole path name. */
  path: RegExp;
  handle(context: RouteContext): Promise<void> | void;
}

/**
 * A request listener dispatching to `routes` (first match wins): unknown path -> 404, known path with another
 * method -> 405, an {@link HttpError} -> its status and JSON, anything else -> 500.
 */
export function createRouter(routes: readonly Route[]): RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox.local');
    let pathMatched = false;
    for (const route of routes) {
      const match = route.path.exec(url.pathname);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== req.method) continue;
      const params = match.slice(1).map((param) => decodeURIComponent(param ?? ''));
      Promise.resolve()
        .then(() => route.handle({ req, res, url, params }))
        .catch((err: unknown) => sendError(res, err));
      return;
    }
    if (pathMatched)
      sendJson(res, 405, { error: `method ${req.method ?? ''} not allowed on ${url.pathname}` });
    else sendJson(res, 404, { error: `no route for ${req.method ?? ''} ${url.pathname}` });
    // Drain an unread body so that keep-alive connections stay usable.
    req.resume();
  };
}

/** Answers an error thrown by a handler. */
export function sendError(res: ServerResponse, err: unknown): void {
  if (err instanceof HttpError) {
    sendJson(res, err.status, { error: err.message, ...err.extra }, err.headers);
  } else {
    sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) });
  }
}

/** Parses an optional non-negative integer query parameter. */
export function intParam(url: URL, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new HttpError(400, `${name}: expected a non-negative integer, got "${raw}"`);
  }
  return Math.min(value, max);
}

/** What `POST /__sandbox/faults` accepts. */
export interface FaultSpec {
  /** The status the next `count` calls answer. */
  status?: number;
  /** How many calls answer `status`; default 1 when a status is given. */
  count?: number;
  /** Delay added to every call until the faults are cleared. */
  latencyMs?: number;
  /** `Retry-After` sent with 429, 503 and 509; default 1. */
  retryAfterSeconds?: number;
}

/** Fault injection for a sandbox's API calls: a run of failing answers and/or added latency. */
export class FaultState {
  private status: number | undefined;
  private remaining = 0;
  private latencyMs = 0;
  private retryAfterSeconds = 1;

  /** Validates and installs a fault spec (replacing the previous one). */
  set(body: unknown): FaultSpec {
    if (!isRecord(body)) throw new HttpError(400, 'faults: expected a JSON object');
    const spec: FaultSpec = {};
    const int = (name: keyof FaultSpec, min: number, max: number): number | undefined => {
      const value = body[name];
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw new HttpError(400, `faults.${name}: expected an integer from ${min} to ${max}`);
      }
      return value;
    };
    const status = int('status', 100, 599);
    const count = int('count', 0, 1_000_000);
    const latencyMs = int('latencyMs', 0, 600_000);
    const retryAfterSeconds = int('retryAfterSeconds', 0, 86_400);
    if (status !== undefined) spec.status = status;
    if (count !== undefined) spec.count = count;
    if (latencyMs !== undefined) spec.latencyMs = latencyMs;
    if (retryAfterSeconds !== undefined) spec.retryAfterSeconds = retryAfterSeconds;
    this.status = status;
    this.remaining = status === undefined ? 0 : (count ?? 1);
    this.latencyMs = latencyMs ?? 0;
    this.retryAfterSeconds = retryAfterSeconds ?? 1;
    return spec;
  }

  clear(): void {
    this.status = undefined;
    this.remaining = 0;
    this.latencyMs = 0;
    this.retryAfterSeconds = 1;
  }

  /**
   * Applies the faults to one call: waits the latency, then throws the injected status while the run lasts.
   * The throw carries `Retry-After` for throttling statuses.
   */
  async apply(): Promise<void> {
    if (this.latencyMs > 0) await sleep(this.latencyMs);
    if (this.status === undefined || this.remaining <= 0) return;
    this.remaining -= 1;
    const status = this.status;
    const headers: Record<string, string> = [429, 503, 509].includes(status)
      ? { 'retry-after': String(this.retryAfterSeconds) }
      : {};
    throw new HttpError(status, `injected fault ${status}`, { injected: true }, headers);
  }
}

/** A timer that never keeps the process alive on its own. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A listening server and how to stop it. */
export interface ListeningServer {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (`port` 0 = the OS chooses); `close()` also ends open keep-alive connections. */
export function listenLocal(listener: RequestListener, port = 0): Promise<ListeningServer> {
  const server = createServer(listener);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const actualPort = (server.address() as AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        server,
        port: actualPort,
        url: `http://127.0.0.1:${actualPort}`,
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
