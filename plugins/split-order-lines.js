// Fan out one order into one message per line item, published to the `order.lines` exchange and
// routed by SKU: `order.line.<sku>`.
// Each copy is published (and confirmed) before the original is acked; an order without lines is dropped.
export default function splitOrderLines(msg, ctx) {
  const lines = msg.body?.lines;
  if (!Array.isArray(lines)) throw new Error('body has no lines array');
  if (lines.length === 0) {
    ctx.log('info', `order ${msg.body.id} has no lines: dropped`);
    return null;
  }
  return lines.map((line, index) => ({
    exchange: 'order.lines',
    routingKey: `order.line.${String(line.sku).toLowerCase()}`,
    body: { orderId: msg.body.id, line: index + 1, of: lines.length, ...line },
    headers: { 'x-order-id': String(msg.body.id) },
  }));
}
