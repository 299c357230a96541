import type { RawTable } from '../helpers/raw-amqp.js';

/**
 * The four header forms amqplib 0.10 decodes but cannot encode again as it decoded them, each next
 * to an ordinary header (`x-keep`) that every copy must keep.
 */
export interface HostileForm {
  name: string;
  /** The header that carries the form (as amqplib decodes its name). */
  header: string;
  headers: RawTable;
  /** True when Warren can send the value exactly as it arrived (a typed value): the copy keeps it. */
  lossless: boolean;
}

const keep: RawTable[number] = ['x-keep', { t: 'S', v: 'yes' }];

export const hostileForms: HostileForm[] = [
  {
    name: 'headers over 64 KiB',
    header: 'x-big',
    headers: [keep, ['x-big', { t: 'S', v: 'b'.repeat(100_000) }]],
    lossless: false,
  },
  {
    name: 'a double below -2^71',
    header: 'x-neg',
    headers: [keep, ['x-neg', { t: 'd', v: -1e300 }]],
    lossless: true,
  },
  {
    name: 'a nested table with a key `!`',
    header: 'x-meta',
    headers: [
      keep,
      [
        'x-meta',
        {
          t: 'F',
          v: [
            ['!', { t: 'S', v: 'bang' }],
            ['b', { t: 'I', v: 1 }],
          ],
        },
      ],
    ],
    lossless: true,
  },
  {
    name: 'a field name of invalid UTF-8 that grows past 255 bytes',
    header: '\uFFFD'.repeat(200),
    headers: [keep, [Buffer.alloc(200, 0xff), { t: 'S', v: 'k' }]],
    lossless: false,
  },
];

/** What amqplib decodes the lossless forms' header into. */
export const decodedValue: Record<string, unknown> = {
  'x-neg': -1e300,
  'x-meta': { '!': 'bang', b: 1 },
};
