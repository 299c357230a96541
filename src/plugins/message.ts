import { headerJson, type JsonRule } from '../amqp/headers.js';
import type { Delivery } from '../delivery/types.js';
import type { PluginMessage, PluginOutput } from '../sandbox/types.js';

const jsonType = /^application\/([\w.+-]+\+)?json\b/i;

/** The plain copy a plugin sees: `body` parsed when the message is JSON. */
export function toPluginMessage(d: Delivery): PluginMessage {
  const contentType = d.properties.contentType as string | undefined;
  const text = d.content.toString('utf8');
  // A JSON body crosses as text and is parsed inside the isolate (see runner.ts `withBody`).
  const json = contentType === undefined || jsonType.test(contentType);
  const msg: PluginMessage = {
    body: json ? undefined : text,
    headers: plain(d.headers),
    properties: plain(d.properties, 'headers'),
    exchange: d.exchange,
    routingKey: d.routingKey,
    redelivered: d.redelivered,
  };
  if (json) msg.bodyJson = text;
  if (contentType) msg.contentType = contentType;
  return msg;
}

/**
 * A plugin gets byte arrays as UTF-8 text, and timestamps and decimals in amqplib's typed form,
 * which amqplib also encodes: handed back in the output's headers, they leave as the same types.
 */
const pluginJson: JsonRule = { bytes: 'text', timestamps: 'typed', decimals: 'typed' };

/** AMQP values as plain data. Most are primitives, copied as they are (NaN included). */
function plain(value: object, skip?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (key === skip) continue;
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out[key] = v === null || typeof v !== 'object' ? v : headerJson(v, pluginJson);
  }
  return out;
}

/** A plugin's output body as bytes: strings as they are, anything else as JSON. */
export function outputContent(output: PluginOutput, d: Delivery): { content: Buffer; contentType?: string } {
  if (output.bodyJson !== undefined)
    return { content: Buffer.from(output.bodyJson), contentType: 'application/json' };
  if (output.body === undefined) {
    return {
      content: d.content,
      ...(d.properties.contentType ? { contentType: d.properties.contentType } : {}),
    };
  }
  if (typeof output.body === 'string') {
    return { content: Buffer.from(output.body), contentType: d.properties.contentType ?? 'text/plain' };
  }
  return { content: Buffer.from(JSON.stringify(output.body)), contentType: 'application/json' };
}

/** The delivery a target sees after a transform: the plugin's output in place of the original. */
export function applyOutput(d: Delivery, output: PluginOutput, index: number | undefined): Delivery {
  const { content, contentType } = outputContent(output, d);
  const headers = output.headers ? { ...d.headers, ...output.headers } : d.headers;
  return {
    ...d,
    content,
    properties: { ...d.properties, headers, ...(contentType ? { contentType } : {}) },
    headers,
    exchange: output.exchange ?? d.exchange,
    routingKey: output.routingKey ?? d.routingKey,
    // Each fan-out copy has its own stable idempotency key.
    id: index === undefined ? d.id : `${d.id}.${index}`,
  };
}
