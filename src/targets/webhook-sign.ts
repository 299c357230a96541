import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** Signs one request: the `webhook-signature` header value. */
export type Signer = (id: string, timestamp: string, body: Buffer) => string;

const prefix = 'whsec_';

/**
 * Standard Webhooks symmetric signing: for each key, `v1,` + base64 HMAC-SHA256 of
 * `<webhook-id>.<webhook-timestamp>.<body>`, space-separated, so a receiver holding either the old
 * or the new key verifies during a rotation. The key is the base64 after `whsec_`, decoded here
 * once per route, not once per message.
 */
export function createSigner(secrets: readonly string[]): Signer {
  const keys: KeyObject[] = secrets.map((secret) =>
    createSecretKey(Buffer.from(secret.startsWith(prefix) ? secret.slice(prefix.length) : secret, 'base64')),
  );
  return function signRequest(id, timestamp, body) {
    let header = '';
    for (const key of keys) {
      // The body goes in as the bytes sent: no copy, no re-encoding.
      const mac = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
      header = header === '' ? `v1,${mac}` : `${header} v1,${mac}`;
    }
    return header;
  };
}
