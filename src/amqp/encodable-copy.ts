import type { Options } from 'amqplib';
import { isWarrenError } from '../errors.js';
import { describeDropped, encodableHeaders, encodableProperties } from './encode.js';
import type { Publisher } from './publisher.js';

/** Lists what a copy had to leave out: header names (or `property …`) and why. */
export const droppedHeadersHeader = 'x-warren-dropped-headers';

/** How a copy left: as built, with the headers amqplib could encode, or with Warren's alone. */
export type CopyForm = 'as-is' | 'sanitized' | 'minimal';

/** Warren's annotations in a minimal copy are cut to this many characters each. */
const minimalValueChars = 1_000;

/**
 * Publishes a copy that must leave whatever its headers hold — a dead letter, a redrive — so a
 * message amqplib cannot encode again never loops. First as built; when amqplib cannot encode
 * it (`WARREN_E_UNENCODABLE`), with the headers it can encode (what was left out, and why, in
 * `x-warren-dropped-headers`); if even that fails, a minimal copy: the body, the properties and
 * the headers named by `annotations` (Warren's own, each cut short). `build` makes fresh
 * properties for each try (a publish takes its properties over). Any other failure rejects.
 */
export async function publishEncodable(
  publisher: Publisher,
  exchange: string,
  routingKey: string,
  content: Buffer,
  build: () => Options.Publish,
  annotations: ReadonlySet<string>,
): Promise<CopyForm> {
  try {
    await publisher.publish(exchange, routingKey, content, build(), { mandatory: true });
    return 'as-is';
  } catch (err) {
    if (!isWarrenError(err, 'WARREN_E_UNENCODABLE')) throw err;
  }
  const built = build();
  const props = encodableProperties(built);
  const kept = encodableHeaders(built.headers ?? {}, (name) => annotations.has(name));
  const dropped = [...kept.dropped, ...props.dropped];
  try {
    const properties = props.properties;
    properties.headers = {
      ...kept.headers,
      [droppedHeadersHeader]: describeDropped(dropped) || 'headers over the connection frame size',
    };
    await publisher.publish(exchange, routingKey, content, properties, { mandatory: true });
    return 'sanitized';
  } catch (err) {
    if (!isWarrenError(err, 'WARREN_E_UNENCODABLE')) throw err;
  }
  const minimal = encodableProperties(build());
  const source = minimal.properties.headers ?? {};
  const headers: Record<string, unknown> = {};
  for (const name of annotations) {
    const value = source[name];
    if (value === undefined) continue;
    headers[name] = typeof value === 'string' ? value.slice(0, minimalValueChars) : value;
  }
  headers[droppedHeadersHeader] = 'every header but Warren’s annotations (they could not be encoded)';
  minimal.properties.headers = headers;
  await publisher.publish(exchange, routingKey, content, minimal.properties, { mandatory: true });
  return 'minimal';
}
