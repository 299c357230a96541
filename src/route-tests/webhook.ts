import type { WebhookTargetSpec } from '../config/types.js';
import { ack, deadLetter } from '../delivery/outcome.js';
import type { Handler } from '../targets/types.js';
import { planRequest, unixSeconds } from '../targets/webhook-request.js';

/** One request the webhook target would have sent. */
export interface RecordedRequest {
  url: string;
  method: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
}

/** undici's flat name/value list as an object with lower-case names. */
export function headerRecord(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) out[list[i]!.toLowerCase()] = list[i + 1]!;
  return out;
}

/**
 * Stands in for the webhook target: builds the request with the target's own builder (body mode,
 * signature and all), records it and answers as a 2xx would (ack). A delivery the target would
 * refuse to send (a CloudEvent without `type`) is dead-lettered, as the target does. Never opens
 * a connection.
 */
export function recordingWebhook(
  spec: WebhookTargetSpec,
  record: (request: RecordedRequest) => void,
): Handler {
  const buildRequest = planRequest(spec);
  return async function recordWebhookRequest(d) {
    const request = buildRequest(d, unixSeconds());
    if ('refused' in request) return deadLetter(request.refused);
    record({
      url: spec.url,
      method: spec.method,
      headers: headerRecord(request.headers),
      body: request.body,
    });
    return ack();
  };
}
