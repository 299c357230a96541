import { describe, expect, it } from 'vitest';
import { compileFilter, topicMatches } from '../../src/delivery/filter.js';

const words = (s: string) => (s === '' ? [] : s.split('.'));

describe('topic matching', () => {
  it.each([
    ['order.*.eu', 'order.created.eu', true],
    ['order.*.eu', 'order.created.us', false],
    ['order.*.eu', 'order.eu', false],
    ['order.*.eu', 'order.a.b.eu', false],
    ['order.#', 'order', true],
    ['order.#', 'order.created.eu', true],
    ['order.#', 'orders.created', false],
    ['#.eu', 'eu', true],
    ['#.eu', 'order.created.eu', true],
    ['#.eu', 'order.created.us', false],
    ['order.#.eu', 'order.eu', true],
    ['order.#.eu', 'order.x.y.eu', true],
    ['order.#.eu', 'order.x.y.us', false],
    ['#', '', true],
    ['*', '', false],
    ['#.*', '', false],
    ['#', 'a.b.c', true],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['#.#', 'a.b', true],
    ['a.*.#', 'a', false],
    ['a.*.#', 'a.b', true],
    ['order.created', 'order.created', true],
    ['order.created', 'order.created.eu', false],
  ])('%s against %s → %s', (pattern, key, expected) => {
    expect(topicMatches(words(pattern), words(key))).toBe(expected);
  });
});

describe('when filters', () => {
  const d = (routingKey: string, headers: Record<string, unknown> = {}) => ({ routingKey, headers });

  it('passes a delivery that meets every condition', () => {
    const filter = compileFilter({
      routingKey: ['order.*.eu'],
      headers: { region: { oneOf: ['eu'] }, tenant: { exists: true } },
    });
    expect(filter(d('order.created.eu', { region: 'eu', tenant: 'acme' }))).toBeUndefined();
  });

  it('names the first condition that fails', () => {
    const filter = compileFilter({
      routingKey: ['order.*.eu', 'invoice.#'],
      headers: { region: { oneOf: ['eu', 'uk'] }, tenant: { exists: true }, test: { exists: false } },
    });
    expect(filter(d('order.created.us'))).toBe(
      'routing key "order.created.us" matches none of "order.*.eu", "invoice.#"',
    );
    expect(filter(d('invoice.paid', { region: 'us', tenant: 'a' }))).toBe(
      'header region is not "eu" or "uk"',
    );
    expect(filter(d('invoice.paid', { region: 'uk' }))).toBe('header tenant is absent');
    expect(filter(d('invoice.paid', { region: 'uk', tenant: 'a', test: 'yes' }))).toBe(
      'header test is present',
    );
    expect(filter(d('invoice.paid', { region: 'uk', tenant: 'a' }))).toBeUndefined();
  });

  it('compares header values as text, whatever their AMQP type', () => {
    const filter = compileFilter({ headers: { priority: { oneOf: [5] }, vip: { oneOf: [true] } } });
    expect(filter(d('k', { priority: '5', vip: 'true' }))).toBeUndefined();
    expect(filter(d('k', { priority: 5, vip: true }))).toBeUndefined();
    expect(filter(d('k', { priority: Buffer.from('5'), vip: true }))).toBeUndefined();
    expect(filter(d('k', { priority: 6, vip: true }))).toBe('header priority is not "5"');
    expect(filter(d('k', { priority: { nested: 5 }, vip: true }))).toBe('header priority is not "5"');
  });

  it('matches an empty routing key (a fanout publisher) as RabbitMQ does', () => {
    expect(compileFilter({ routingKey: ['#'], headers: {} })(d(''))).toBeUndefined();
    expect(compileFilter({ routingKey: ['*'], headers: {} })(d(''))).toBe(
      'routing key "" matches none of "*"',
    );
  });

  it('treats a null header as absent', () => {
    const filter = compileFilter({ headers: { tenant: { exists: true } } });
    expect(filter(d('k', { tenant: null }))).toBe('header tenant is absent');
  });
});
