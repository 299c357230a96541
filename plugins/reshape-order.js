// Reshape an order event into the flat form the CRM expects.
// It sets no headers: a raw webhook request carries the body and Warren's contract headers, never
// the message's AMQP headers (those reach a republish target, or the envelope body's `headers`).
// Input body:  { "order": { "id": "o-1", "customer": { "id": "c-9", "email": "…" }, "total": { "amount": 1250, "currency": "EUR" } } }
// Output body: { "orderId": "o-1", "customerId": "c-9", "amount": 12.5, "currency": "EUR", "source": "<routing key>" }
export default function reshapeOrder(msg) {
  const order = msg.body?.order;
  if (!order?.id) throw new Error('body has no order.id');
  return {
    body: {
      orderId: order.id,
      customerId: order.customer?.id ?? null,
      amount: (order.total?.amount ?? 0) / 100,
      currency: order.total?.currency ?? 'EUR',
      source: msg.routingKey,
    },
  };
}
