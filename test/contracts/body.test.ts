import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CheckedMessage,
  type ContractCheck,
  compileContract,
  maxReasonChars,
} from '../../src/contracts/body.js';
import { SchemaSet } from '../../src/contracts/compile.js';
import { readSchemaDirectory } from '../../src/contracts/files.js';
import { repoRoot } from '../config/route-dir.js';

const message = (body: string | Buffer, extra: Partial<CheckedMessage> = {}): CheckedMessage => ({
  content: Buffer.isBuffer(body) ? body : Buffer.from(body),
  properties: {},
  headers: {},
  ...extra,
});

describe('a route contract against a body', () => {
  let set: SchemaSet;
  let order: ContractCheck;
  let valid: unknown;

  beforeAll(async () => {
    const dir = await readSchemaDirectory(join(repoRoot, 'schemas'));
    const compiled = SchemaSet.compile(dir.files);
    expect(compiled.problems).toEqual([]);
    set = compiled.set;
    order = compileContract({ name: 'order.v1.json', setHash: 'h' }, set);
    valid = (
      JSON.parse(await readFile(join(repoRoot, 'schemas/order.v1.examples.json'), 'utf8')) as unknown[]
    )[0];
  });

  it('passes a valid body and names pointer, message and schema for an invalid one', () => {
    expect(order(message(JSON.stringify(valid)))).toBe(undefined);
    const broken = structuredClone(valid) as { order: { total: { currency: string } } };
    broken.order.total.currency = 'euros';

    expect(order(message(JSON.stringify(broken)))).toEqual({
      reason: expect.stringMatching(/^schema: \/order\/total\/currency must /),
      schema: 'order.v1.json',
    });
  });

  it('says why a body is not JSON: syntax, empty, not UTF-8, gzip by bytes or by content-encoding', () => {
    const reason = (m: CheckedMessage) => order(m)?.reason;

    expect(reason(message('{"order": '))).toMatch(
      /^schema: body is not JSON \(Unexpected end of JSON input\)$/,
    );
    expect(reason(message(''))).toBe('schema: body is not JSON (it is empty)');
    expect(reason(message(Buffer.from([0x7b, 0xff, 0x7d])))).toBe(
      'schema: body is not JSON (it is not UTF-8 text)',
    );
    expect(reason(message(gzipSync(JSON.stringify(valid))))).toMatch(
      /it is gzip data: Warren does not decompress/,
    );
    expect(reason(message(JSON.stringify(valid), { properties: { contentEncoding: 'deflate' } }))).toMatch(
      /content-encoding "deflate"/,
    );
    // Encodings that still mean plain text are read as it.
    expect(order(message(JSON.stringify(valid), { properties: { contentEncoding: 'UTF-8' } }))).toBe(
      undefined,
    );
  });

  it('chooses by header or type; a value like __proto__ or constructor finds no schema', () => {
    const byHeader = compileContract(
      {
        choose: { by: { header: 'v' }, map: { '1': 'order.v1.json' }, otherwise: 'deadLetter' },
        setHash: 'h',
      },
      set,
    );
    const body = JSON.stringify(valid);

    expect(byHeader(message(body, { headers: { v: 1 } }))).toBe(undefined);
    expect(byHeader(message(body, { headers: { v: Buffer.from('1') } }))).toBe(undefined);
    for (const v of ['__proto__', 'constructor', 'toString']) {
      expect(byHeader(message(body, { headers: { v } }))?.reason).toBe(
        `schema: no schema for this message: header v "${v}" is not in the map ("1")`,
      );
    }
    expect(byHeader(message(body, { headers: { v: { nested: 1 } } }))?.reason).toBe(
      'schema: no schema for this message: header v is not a string or number',
    );
    const byType = compileContract(
      { choose: { by: { property: 'type' }, map: { o: 'order.v1.json' }, otherwise: 'pass' }, setHash: 'h' },
      set,
    );
    expect(byType(message('not json', { properties: { type: 'other' } }))).toBe(undefined);
    expect(byType(message('not json', { properties: { type: 'o' } }))?.schema).toBe('order.v1.json');
  });

  it('reads a header named like an Object member only when the message has it', () => {
    const byHeader = compileContract(
      {
        choose: { by: { header: 'constructor' }, map: { '1': 'order.v1.json' }, otherwise: 'deadLetter' },
        setHash: 'h',
      },
      set,
    );
    expect(byHeader(message(JSON.stringify(valid)))?.reason).toBe(
      'schema: no schema for this message: header constructor is absent',
    );
    expect(byHeader(message(JSON.stringify(valid), { headers: { constructor: '1' } }))).toBe(undefined);
  });

  it('never crashes on a random JSON body, and its reason stays within the cap (fixed seed)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.boolean(), (value, asOrder) => {
        const body = asOrder ? { order: value } : value;
        const verdict = order(message(JSON.stringify(body) ?? 'null'));
        if (verdict) expect(verdict.reason.length).toBeLessThanOrEqual(maxReasonChars);
      }),
      { seed: 1313, numRuns: 2_000 },
    );
  });

  it('keeps the reason short when the body is all key: a 100 kB property name, a 100 kB bad string', () => {
    const key = 'k'.repeat(100_000);
    const strict = compileContract({ name: 'strict.json', setHash: 'h' }, strictSet());

    const reason = strict(message(JSON.stringify({ [key]: 1 })))!.reason;
    expect(reason.length).toBeLessThanOrEqual(maxReasonChars);
    expect(order(message(`{"order": "${'x'.repeat(100_000)}`))!.reason.length).toBeLessThanOrEqual(
      maxReasonChars,
    );
  });
});

/** A schema that refuses every unknown key (so the key itself appears in the reason). */
function strictSet(): SchemaSet {
  return SchemaSet.compile([
    { name: 'strict.json', text: '{ "type": "object", "additionalProperties": false }' },
  ]).set;
}

describe('hostile bodies', () => {
  let order: ContractCheck;
  let recursive: ContractCheck;

  beforeAll(async () => {
    const dir = await readSchemaDirectory(join(repoRoot, 'schemas'));
    order = compileContract({ name: 'order.v1.json', setHash: 'h' }, SchemaSet.compile(dir.files).set);
    // A tree of arrays all the way down: the checker follows every level of the body.
    const tree =
      '{ "$defs": { "t": { "type": "array", "items": { "$ref": "#/$defs/t" } } }, "$ref": "#/$defs/t" }';
    recursive = compileContract(
      { name: 't.json', setHash: 'h' },
      SchemaSet.compile([{ name: 't.json', text: tree }]).set,
    );
  });

  it('checks an 8 MB body', () => {
    const lines = Array.from({ length: 80_000 }, (_, i) => ({ sku: `S-${i}`.padEnd(90, 'x'), qty: 1 }));
    const body = JSON.stringify({ order: { id: 'o', lines } });
    expect(body.length).toBeGreaterThan(8_000_000);

    const verdict = order(message(body));
    expect(verdict?.reason).toMatch(/^schema: \/order must have required property/);
    expect(verdict!.reason.length).toBeLessThanOrEqual(maxReasonChars);
  });

  it('makes a 100,000-deep body invalid, not a crash: the parser copes, the recursive check runs out', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

    expect(order(message(deep))?.reason).toBe('schema: (root) must be object');
    expect(recursive(message(deep))).toEqual({
      reason: 'schema: body nests too deeply to check',
      schema: 't.json',
    });
    expect(recursive(message('[[[]],[]]'))).toBe(undefined);
  });

  it('reads a __proto__ key as data: no prototype changed, the schema decides', () => {
    const body = JSON.stringify(valid()).replace('{"order"', '{"__proto__":{"polluted":true},"order"');
    const strict = compileContract({ name: 'strict.json', setHash: 'h' }, strictSet());

    expect(order(message(body))).toBe(undefined);
    expect(strict(message('{"__proto__": {"x": 1}}'))?.reason).toBe(
      'schema: (root) must NOT have additional properties: "__proto__"',
    );
    expect(({} as { polluted?: unknown }).polluted).toBe(undefined);
  });
});

function valid(): unknown {
  return {
    order: {
      id: 'o-1',
      status: 'created',
      createdAt: '2026-11-30T10:00:00Z',
      customer: { id: 'c-1' },
      total: { amount: 1, currency: 'EUR' },
      lines: [{ sku: 'AB-1', qty: 1 }],
    },
  };
}
