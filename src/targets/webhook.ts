import { Agent, type Dispatcher } from 'undici';
import { scrubberFor } from '../config/redact.js';
import type { WebhookTargetSpec } from '../config/types.js';
import { Deadlines, Expiring } from '../deadlines.js';
import { ack, deadLetter, type Outcome, retry } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import { events } from '../telemetry/events.js';
import type { RequestSpan, RequestTarget } from '../telemetry/tracing.js';
import type { Handler, TargetModule } from './types.js';
import { planRequest, unixSeconds } from './webhook-request.js';
import { normalizeWebhook, webhookExamples, webhookSchema } from './webhook-schema.js';
import { classifyStatus, parseRetryAfter, type StatusPolicy, statusPolicy } from './webhook-status.js';

export { classifyStatus, parseRetryAfter } from './webhook-status.js';

/** One keep-alive pool per origin, shared by every webhook route; redirects are never followed. */
let agent: Agent | undefined;

function pools(): Agent {
  agent ??= new Agent({ keepAliveTimeout: 30_000, connections: 256 });
  return agent;
}

/** How much of an error response body is kept for the dead-letter reason. */
const errorBodyLimit = 512;

export async function closeWebhookPools(): Promise<void> {
  const closing = agent;
  agent = undefined;
  // Runs after the drain deadline: a request still open belongs to a delivery whose channel is
  // already closed (the broker requeued it). close() would wait for it, up to the webhook timeout.
  await closing?.destroy();
}

/** What every call of one route shares, made once per route. */
interface RouteCalls {
  timeoutMs: number;
  deadlines: Deadlines;
  policy: StatusPolicy;
  /** Blanks the route's own secrets out of an error page that echoes them (see routeSecrets). */
  scrub: (text: string) => string;
  /** What a client span says of the route's requests (no credentials, no query). */
  target: RequestTarget;
}

/**
 * One request on undici's dispatcher API. `Agent.request()` would wrap every response in a
 * stream, a promise and an async resource and need an abort signal for the deadline; here the
 * handler reads the status, `Retry-After` and a capped error excerpt straight off the socket.
 * The deadline covers the whole exchange, including the wait for a pooled connection: when it
 * passes first, the outcome is final and a request not yet on the wire is never sent.
 */
class WebhookCall extends Expiring implements Dispatcher.DispatchHandler {
  readonly #route: string;
  readonly #calls: RouteCalls;
  readonly #resolve: (outcome: Outcome) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #settled = false;
  #status = 0;
  #retryAfter: string | string[] | undefined;
  /** Only kept for a non-2xx response, whose excerpt goes into the dead-letter reason. */
  #chunks: Buffer[] | undefined;
  #size = 0;
  readonly #started = performance.now();
  /** Its client span, while tracing is on. */
  readonly #span: RequestSpan | undefined;

  constructor(
    route: string,
    calls: RouteCalls,
    resolve: (outcome: Outcome) => void,
    span: RequestSpan | undefined,
  ) {
    super();
    this.#route = route;
    this.#span = span;
    this.#calls = calls;
    this.#resolve = resolve;
    calls.deadlines.add(this);
  }

  expire(): void {
    if (this.#settled) return;
    const timeoutMs = this.#calls.timeoutMs;
    this.#finish('timeout', retry(`timeout after ${timeoutMs}ms`));
    this.#controller?.abort(new Error(`webhook deadline of ${timeoutMs}ms passed`));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#settled) controller.abort(new Error(`webhook deadline of ${this.#calls.timeoutMs}ms passed`));
    else this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (status < 200) return; // 1xx informational: the real response follows
    this.#status = status;
    if (status >= 300) {
      this.#retryAfter = headers['retry-after'];
      this.#chunks = [];
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#chunks === undefined || this.#settled) return;
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    // Enough for the reason: stop reading a large error page (the connection is dropped).
    if (this.#size >= errorBodyLimit) {
      this.#finishError();
      controller.abort(new Error('read enough of the error response'));
    }
  }

  onResponseEnd(): void {
    if (this.#settled) return;
    if (this.#chunks === undefined) this.#finish(statusClass(this.#status), ack());
    else this.#finishError();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#settled) return;
    const e = err as NodeJS.ErrnoException;
    // undici refused to build the request (a header value, an argument): nothing was sent, and
    // only the message can change that. Dead-lettered without a status, so the circuit does not
    // count it — it says nothing about the receiver.
    if (isRequestRefusal(e))
      this.#finish(undefined, deadLetter(`request refused before sending: ${e.message}`));
    else this.#finish('error', retry(`connection error: ${e.code ?? e.message}`));
  }

  #finishError(): void {
    const status = this.#status;
    const outcome = classifyStatus(status, parseRetryAfter(this.#retryAfter), this.#calls.policy);
    const text = excerpt(this.#chunks!, this.#calls.scrub);
    if (outcome.kind === 'retry' || outcome.kind === 'dead-letter') {
      outcome.reason = text ? `HTTP ${status}: ${text}` : `HTTP ${status}`;
    }
    this.#finish(statusClass(status), outcome);
  }

  /** `responseClass` undefined: no request was sent, so there is no response to count. */
  #finish(responseClass: string | undefined, outcome: Outcome): void {
    this.#settled = true;
    this.#calls.deadlines.remove(this);
    if (responseClass !== undefined)
      events.webhookResponse(this.#route, responseClass, (performance.now() - this.#started) / 1000);
    if (this.#span !== undefined) endRequestSpan(this.#span, this.#status, responseClass, outcome);
    this.#resolve(outcome);
  }
}

/** `secrets`: the configuration's interpolated values, blanked from what a span shows of the URL. */
function createWebhook(spec: WebhookTargetSpec, secrets: readonly string[]): Handler {
  const url = new URL(spec.url);
  const origin = url.origin;
  const path = `${url.pathname}${url.search}`;
  const buildRequest = planRequest(spec);
  const calls: RouteCalls = {
    timeoutMs: spec.timeoutMs,
    deadlines: new Deadlines(spec.timeoutMs),
    policy: statusPolicy(spec),
    scrub: scrubberFor(routeSecrets(spec, url)),
    target: requestTarget(spec.method, url, scrubberFor(secrets)),
  };
  return function deliverToWebhook(d: Delivery): Promise<Outcome> {
    const span = d.span === undefined ? undefined : d.span.request(calls.target);
    // Traced, the receiver gets the client span's context, so its own spans are children of it.
    const request = buildRequest(d, unixSeconds(), span?.traceparent);
    // Nothing to send (a CloudEvent without `type`): no retry would change that.
    if ('refused' in request) {
      span?.endRequest(0, 'refused', request.refused);
      return Promise.resolve(deadLetter(request.refused));
    }
    return new Promise<Outcome>((resolve) => {
      const call = new WebhookCall(d.route, calls, resolve, span);
      const options: Dispatcher.DispatchOptions = {
        origin,
        path,
        method: spec.method,
        headers: request.headers,
        body: request.body,
      };
      try {
        pools().dispatch(options, call);
      } catch (err) {
        // A destroyed pool (shutdown) reports through onResponseError; anything else lands here.
        call.onResponseError(undefined, err as Error);
      }
    });
  };
}

/**
 * The request's method, origin and path: credentials and the query may hold secrets, and so may a
 * part of the path or host written as `${env:…}` (a chat webhook's token is a path segment).
 */
function requestTarget(method: string, url: URL, blank: (text: string) => string): RequestTarget {
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { method, url: blank(`${url.origin}${url.pathname}`), host: blank(url.hostname), port };
}

/**
 * A request that did not succeed (timeout, connection error, a status Warren does not ack) is an
 * error span; its `error.type` is the status, `timeout`, `error` (connection) or `refused`.
 */
function endRequestSpan(
  span: RequestSpan,
  status: number,
  responseClass: string | undefined,
  o: Outcome,
): void {
  if (o.kind === 'ack') span.endRequest(status);
  else span.endRequest(status, status > 0 ? String(status) : (responseClass ?? 'refused'), o.reason);
}

/**
 * Errors undici raises while building a request, before anything is on the wire (it reports them
 * through the handler, at once or when a queued request reaches a connection). Connection errors
 * (ECONNREFUSED, UND_ERR_SOCKET, timeouts) and a destroyed pool (UND_ERR_DESTROYED, at shutdown)
 * are not among them: those stay retries.
 */
const refusalCodes = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'ERR_INVALID_CHAR',
  'ERR_INVALID_ARG_TYPE',
]);

function isRequestRefusal(e: NodeJS.ErrnoException): boolean {
  return e.code !== undefined && refusalCodes.has(e.code);
}

const statusClasses = ['1xx', '2xx', '3xx', '4xx', '5xx'];

function statusClass(status: number): string {
  return statusClasses[Math.floor(status / 100) - 1] ?? 'other';
}

/**
 * What a receiver might echo back in an error page that must not reach the log, the DLQ or the
 * API: the route's header values (its tokens), signing keys, and the URL's credentials and query
 * values. Longest first, so a secret that contains another is blanked whole.
 */
function routeSecrets(spec: WebhookTargetSpec, url: URL): string[] {
  const values = [
    // `Bearer <token>`: a page may echo the token alone.
    ...Object.values(spec.headers).flatMap((value) => [value, ...value.split(/\s+/)]),
    ...(spec.sign?.secrets.flatMap((key) => [key, key.slice('whsec_'.length)]) ?? []),
    decodeURIComponent(url.username),
    decodeURIComponent(url.password),
    ...url.searchParams.values(),
    // As sent on the wire: a `+` or `%25` stays as written, which the form-decoded value above is not.
    ...url.search
      .slice(1)
      .split('&')
      .map((pair) => pair.slice(pair.indexOf('=') + 1)),
  ];
  // Short values ("json", "1") would blank ordinary words of the page, and are no secrets.
  return [...new Set(values.filter((v) => v.length >= 6))].sort((a, b) => b.length - a.length);
}

function excerpt(chunks: Buffer[], scrub: (text: string) => string): string {
  // Blanked before the cut, so a secret that straddles it cannot leave a readable prefix.
  const text = scrub(Buffer.concat(chunks).subarray(0, errorBodyLimit).toString('utf8'));
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

export const webhookTarget: TargetModule<'webhook', typeof webhookSchema> = {
  kind: 'webhook',
  description: 'POST (or PUT/PATCH) the message to an HTTP endpoint.',
  schema: webhookSchema,
  examples: webhookExamples,
  normalize: normalizeWebhook,
  create: (spec, deps) => createWebhook(spec, deps.secrets?.() ?? []),
};
