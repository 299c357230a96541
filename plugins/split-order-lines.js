// Fan out one order event into one message per line item, published to the `order.lines` exchange
// and routed by SKU: `order.line.<sku>`. It reads the same order event as reshape-order.js:
//   { "order": { "id": "o-1", "lines": [{ "sku": "KB-01", "qty": 1 }, …], … } }
// Each copy is published (and confirmed) before the original is acked; an order without lines is dropped.
export default function splitOrderLines(msg, ctx) {
  const order = msg.body?.order;
  if (!order?.id) throw new Error('body has no order.id');
  const lines = order.lines ?? [];
  if (!Array.isArray(lines)) throw new Error('order.lines is not an array');
  if (lines.length === 0) {
    ctx.log('info', `order ${order.id} has no lines: dropped`);
    return null;
  }
  return lines.map((line, index) => ({
    exchange: 'order.lines',
    routingKey: `order.line.${String(line.sku).toLowerCase()}`,
    body: { orderId: order.id, line: index + 1, of: lines.length, ...line },
    headers: { 'x-order-id': String(order.id) },
  }));
}
