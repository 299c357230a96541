/**
 * Values taken from a message (a routing key, an exchange, a CloudEvents attribute) are any UTF-8
 * AMQP allows; an HTTP header value is not. undici refuses to build a request with CR, LF, NUL or a
 * character beyond Latin-1, so such a value must be made valid before it is sent — or the message
 * is blamed for what only the message can fix.
 */

/** What passes as it is: visible ASCII except `"` and `%` (the CloudEvents HTTP binding's rule).
 * A char-code loop, not a regex: the JIT inlines it, and a regex call costs more than a short key. */
function needsEncoding(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x25) return true;
  }
  return false;
}

const hex = Array.from({ length: 256 }, (_, byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`);

/**
 * Space, `"`, `%` and everything outside visible ASCII become `%XY` (upper-case hex) of their
 * UTF-8 bytes (CloudEvents HTTP binding §3.1.3.2); `decodeURIComponent` gives the original back.
 * One pass over the characters for an ordinary value, which is returned as it is.
 */
export function percentEncode(text: string): string {
  if (!needsEncoding(text)) return text;
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    // Visible ASCII other than `"` and `%` (0x22, 0x25) stays readable.
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x25 ? String.fromCharCode(byte) : hex[byte];
  }
  return out;
}

/**
 * `percentEncode` remembering its last value: a route sees the same exchange (and its own name)
 * on nearly every message, and comparing equal strings is cheaper than testing one.
 */
export function lastValueEncoder(): (text: string) => string {
  let lastText = '';
  let lastValue = '';
  return function encodeRepeated(text) {
    if (text !== lastText) {
      lastValue = percentEncode(text);
      lastText = text;
    }
    return lastValue;
  };
}

/** A value HTTP carries as it is: visible ASCII, spaces and tabs inside, none at either end. */
const fieldValue = /^(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?$/;

/** True when `text` can be sent unchanged as a header value (no encoding, no Latin-1 bytes). */
export function isFieldValue(text: string): boolean {
  return fieldValue.test(text);
}

/** A `webhook-id`: visible ASCII, no space, at most 255 characters (it is an AMQP message-id). */
export function isWebhookId(id: string): boolean {
  if (id.length === 0 || id.length > 255) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
