// Building the page's DOM. Everything that came from Warren (route names, reasons, header values,
// file names) is operator- or message-controlled: it becomes text nodes and attribute values,
// never markup. Nothing in the page assigns innerHTML.

const svgNs = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'className') el.setAttribute('class', value);
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h('td', { className: 'num' }, 'text', otherNode). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, the same way. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(svgNs, tag), attrs, children);
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
}

/** A number per second, short: 0, 0.25, 12.3, 1.2k. */
export function perSecond(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (value === 0) return '0';
  if (value >= 1000) return `${(value / 1000).toFixed(1)}k`;
  if (value >= 9.95) return value.toFixed(0);
  return value < 0.1 ? value.toFixed(2) : value.toFixed(1);
}

/** Seconds as ms or s. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

/** A wall-clock time of an ISO date or epoch milliseconds. */
export function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}
