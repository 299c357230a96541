import type { DeadLetterView } from './view.js';

export interface PeekReport {
  route: string;
  queue: string;
  source: string;
  total: number;
  limit: number;
  messages: DeadLetterView[];
}

export interface RedriveReport {
  route: string;
  from: string;
  to: string;
  requested: number;
  moved: number;
}

/** One line of at most `width` characters: newlines and tabs shown as spaces, an ellipsis when cut. */
function cell(value: string | number | undefined, width = 48): string {
  if (value === undefined || value === '') return '-';
  const text = String(value).replace(/\s+/g, ' ');
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `warren dlq ls` as text: a heading with the counts, then one row per message, oldest first. */
export function formatPeek(report: PeekReport): string {
  const shown = report.messages.length;
  const heading =
    `${report.queue} (dead-letter queue of route ${report.route}, source ${report.source}): ` +
    `${report.total} message${report.total === 1 ? '' : 's'}` +
    (shown < report.total ? `, showing the first ${shown}` : '');
  if (shown === 0) return `${heading}\n`;
  const header = [
    '#',
    'MESSAGE-ID',
    'FAILED-AT',
    'ATTEMPTS',
    'STATUS',
    'ERROR',
    'EXCHANGE',
    'ROUTING-KEY',
    'CONTENT-TYPE',
    'SIZE',
    'BODY',
  ];
  const rows = report.messages.map((m) => [
    String(m.position),
    cell(m.messageId, 40),
    cell(m.failedAt),
    cell(m.attempts),
    cell(m.status),
    // A broken contract names its schema: `schema: /order/id must be string [order.v1.json]`.
    cell(m.schema === undefined ? m.error : `${m.error ?? ''} [${m.schema}]`),
    cell(m.exchange === '' ? '(default)' : m.exchange, 32),
    cell(m.routingKey, 32),
    cell(m.contentType, 32),
    String(m.size),
    m.bodyEncoding === 'base64' ? cell(`base64:${m.body}`, 40) : cell(m.body, 40),
  ]);
  return `${heading}\n\n${formatTable(header, rows)}\n`;
}

/** `warren dlq redrive` as text. */
export function formatRedrive(report: RedriveReport): string {
  return (
    `moved ${report.moved} of ${report.requested} message${report.requested === 1 ? '' : 's'} ` +
    `from ${report.from} to ${report.to} (route ${report.route})\n`
  );
}
