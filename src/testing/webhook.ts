import type { WebhookTargetSpec } from '../config/types.js';
import { ack } from '../delivery/outcome.js';
import type { Delivery } from '../delivery/types.js';
import type { Handler } from '../targets/types.js';
import { webhookHeaders } from '../targets/webhook.js';

/** One request the webhook target would have sent. */
export interface RecordedRequest {
  url: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
}

/** The webhook target's own request planning, names lower-cased. */
export function requestHeaders(spec: WebhookTargetSpec, d: Delivery): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(webhookHeaders(spec, d))) out[name.toLowerCase()] = value;
  return out;
}

/**
 * Stands in for the webhook target: records the request it would send and answers as a 2xx would
 * (ack). Never opens a connection.
 */
export function recordingWebhook(
  spec: WebhookTargetSpec,
  record: (request: RecordedRequest) => void,
): Handler {
  return async (d) => {
    record({ url: spec.url, method: spec.method, headers: requestHeaders(spec, d), body: d.content });
    return ack();
  };
}
