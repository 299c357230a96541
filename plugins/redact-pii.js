// Redact personal data before a message leaves for a third party: e-mail, phone, name and address
// fields at any depth are replaced; card numbers keep their last four digits.
const SECRET_KEYS = new Set([
  'email',
  'phone',
  'name',
  'firstName',
  'lastName',
  'address',
  'street',
  'birthDate',
]);

function redact(value) {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [key, item] of Object.entries(value)) {
    if (SECRET_KEYS.has(key)) out[key] = '[redacted]';
    else if (key === 'cardNumber' && typeof item === 'string') out[key] = `****${item.slice(-4)}`;
    else out[key] = redact(item);
  }
  return out;
}

export default function redactPii(msg) {
  if (typeof msg.body !== 'object' || msg.body === null) return { body: msg.body };
  return { body: redact(msg.body) };
}
