import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  NotFoundError,
  PermanentError,
  ThrottledError,
  TransientError,
} from '../../../src/adapters/http/errors';
import { createHttpClient, parseRetryAfterMs, toAdapterError } from '../../../src/adapters/http/http-client';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A local server whose answer each test sets. */
let handler: Handler;
let server: Server;
let baseUrl: string;
let requests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests += 1;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => (requests = 0));

function answer(status: number, body: unknown = '', headers: Record<string, string> = {}): void {
  handler = (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

/** Calls the server and returns what the error function made of the failure. */
async function failure(options: { webhook?: boolean; timeoutMs?: number } = {}): Promise<unknown> {
  const http = createHttpClient({
    system: 'Test',
    prefixUrl: baseUrl,
    timeoutMs: options.timeoutMs ?? 2_000,
  });
  try {
    await http.post('rpc/doThing', { json: { a: 1 } });
  } catch (err) {
    return toAdapterError(err, { system: 'Test', throttleOn5xxWithRetryAfter: options.webhook });
  }
  throw new Error('expected the call to fail');
}

describe('createHttpClient', () => {
  it('sends and reads JSON', async () => {
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: JSON.parse(body) as unknown, accept: req.headers.accept }));
      });
    };
    const http = createHttpClient({ system: 'Test', prefixUrl: baseUrl, timeoutMs: 2_000 });
    await expect(http.post('echo', { json: { contactNumber: '007' } }).json()).resolves.toEqual({
      echo: { contactNumber: '007' },
      accept: 'application/json',
    });
  });

  it('does not retry by itself', async () => {
    answer(503);
    await failure();
    expect(requests).toBe(1);
  });
});

describe('toAdapterError', () => {
  it('turns 509 into throttling with the Retry-After delay, naming system, operation and status', async () => {
    answer(509, { message: 'Bandwidth Limit Exceeded' }, { 'retry-after': '7' });
    const err = await failure();
    expect(err).toBeInstanceOf(ThrottledError);
    expect((err as ThrottledError).retryAfterMs).toBe(7_000);
    expect((err as ThrottledError).message).toMatch(/^Test POST \/rpc\/doThing: throttled \(HTTP 509/);
    expect((err as ThrottledError).details.status).toBe(509);
  });

  it('turns 429 with an HTTP date into throttling until that date', async () => {
    answer(429, '', { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    const err = (await failure()) as ThrottledError;
    expect(err).toBeInstanceOf(ThrottledError);
    expect(err.retryAfterMs).toBeGreaterThan(28_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('waits 60 s when a throttling answer has no Retry-After', async () => {
    answer(429);
    expect(((await failure()) as ThrottledError).retryAfterMs).toBe(60_000);
  });

  it('treats 503 with Retry-After as throttling for webhooks only', async () => {
    answer(503, '', { 'retry-after': '3' });
    const webhook = (await failure({ webhook: true })) as ThrottledError;
    expect(webhook).toBeInstanceOf(ThrottledError);
    expect(webhook.retryAfterMs).toBe(3_000);
    expect(await failure()).toBeInstanceOf(TransientError);
    answer(502);
    expect(await failure({ webhook: true })).toBeInstanceOf(TransientError);
  });

  it('turns 500 into a transient error', async () => {
    answer(500, { message: 'database unavailable' });
    const err = (await failure()) as TransientError;
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toBe('Test POST /rpc/doThing: HTTP 500 Internal Server Error: database unavailable');
  });

  it('turns 404 into NotFoundError', async () => {
    answer(404, 'no such method');
    const err = (await failure()) as NotFoundError;
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(/HTTP 404 Not Found: no such method/);
  });

  it('turns other 4xx into a permanent error with the reason the body gives', async () => {
    answer(400, { error: { message: 'records[0].contactNumber is required' } });
    const err = (await failure()) as PermanentError;
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.message).toBe(
      'Test POST /rpc/doThing: HTTP 400 Bad Request: records[0].contactNumber is required',
    );
    answer(401, { message: 'bad token' });
    expect(((await failure()) as PermanentError).code).toBe('UNAUTHORIZED');
  });

  it('turns a 2xx that is not JSON into INVALID_RESPONSE', async () => {
    answer(200, '<html>proxy login</html>');
    const err = (await failure()) as PermanentError;
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.code).toBe('INVALID_RESPONSE');
  });

  it('turns a timeout into a transient error', async () => {
    handler = () => undefined; // never answers
    const err = (await failure({ timeoutMs: 100 })) as TransientError;
    expect(err).toBeInstanceOf(TransientError);
    expect(err.message).toMatch(/^Test POST \/rpc\/doThing: timed out/);
  });

  it('turns a refused connection and a reset into transient errors', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const http = createHttpClient({ system: 'Test', timeoutMs: 2_000 });
    const refused = await http
      .get(`http://127.0.0.1:${port}/x`)
      .catch((err: unknown) => toAdapterError(err, { system: 'Test' }));
    expect(refused).toBeInstanceOf(TransientError);
    expect((refused as TransientError).message).toMatch(/ECONNREFUSED/);

    handler = (req) => req.socket.destroy();
    expect(await failure()).toBeInstanceOf(TransientError);
  });

  it('returns errors that are not HTTP errors as they are', () => {
    const bug = new TypeError('bug');
    expect(toAdapterError(bug, { system: 'Test' })).toBe(bug);
  });
});

describe('parseRetryAfterMs', () => {
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    const now = Date.parse('2024-05-01T10:00:00Z');
    expect(parseRetryAfterMs('120', now)).toBe(120_000);
    expect(parseRetryAfterMs('Wed, 01 May 2024 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfterMs('Wed, 01 May 2024 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
  });
});
