/**
 * Source of the code that runs inside each plugin isolate, before the plugin's module is evaluated.
 *
 * Run with `context.evalClosure(runnerSource, [hostLog])`, it strips the globals a plugin must not
 * have and returns `bind(plugin)`, which returns `{ run(msg, ctx), runMany(msgs, ctxs), collect(), wait() }`. `run` calls the plugin and
 * answers with an envelope (or `{ pending: true, id }` for a promise, which `wait(id)` then settles): `{ ok: true, value }` where `value` is fresh plain data, or
 * `{ ok: false, error }` where `error` is a string.
 *
 * What must hold: everything that runs plugin code (the call, awaiting it, reading its result,
 * describing its error) happens inside the call that `Reference.apply` times. isolated-vm copies
 * the returned value out *after* that deadline, so the value handed back is rebuilt here from own
 * data properties only (no getters, no proxies, no prototype setters): copying it cannot run plugin
 * code, and so cannot hang the isolate outside the timeout. The intrinsics used are captured before
 * the plugin loads; a plugin that tampers with its realm can only spoil its own results.
 */

/** Deeper results are refused (a cycle is found and named before this is reached). */
export const MAX_RESULT_DEPTH = 64;
/** Caps what one call can push into Warren's log. */
export const MAX_LOG_LINES_PER_CALL = 100;
export const MAX_LOG_TEXT_CHARS = 2_000;

export const runnerSource = `'use strict';
const hostLog = $0;
const { isArray } = Array;
const { keys, hasOwn, defineProperty, getOwnPropertyDescriptor, getPrototypeOf } = Object;
const { apply } = Reflect;
const isView = ArrayBuffer.isView;
const typedArrayTag = getOwnPropertyDescriptor(getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
const stringSlice = String.prototype.slice;
const getTime = Date.prototype.getTime;
const promiseThen = Promise.prototype.then;
const promiseResolve = Promise.resolve;
const [NativePromise, NativeDate, NativeError, NativeString, U8] = [Promise, Date, Error, String, Uint8Array];
const parseJson = JSON.parse;
const stringifyJson = JSON.stringify;

// A JSON body may arrive as text (bodyJson) and be parsed here: copying a string into the
// isolate is much cheaper than copying the object graph the host would have parsed.
function withBody(msg) {
  const text = msg.bodyJson;
  if (typeof text !== 'string') return msg;
  delete msg.bodyJson;
  try {
    msg.body = parseJson(text);
  } catch {
    msg.body = text;
  }
  return msg;
}

// FinalizationRegistry callbacks run as isolate tasks outside any timeout: one that loops wedges the
// isolate for good. The rest are not part of the plugin contract (console would silently do nothing).
for (const name of ['FinalizationRegistry', 'WeakRef', 'SharedArrayBuffer', 'Atomics', 'WebAssembly', 'console']) {
  delete globalThis[name];
}

class Fault {
  constructor(reason, back) { this.reason = reason; this.path = ''; this.back = back; }
}

function define(target, key, value) {
  defineProperty(target, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
}

function ownValue(source, key) {
  const descriptor = getOwnPropertyDescriptor(source, key);
  if (descriptor === undefined) return undefined;
  if (!hasOwn(descriptor, 'value')) throw new Fault('getters are not allowed in results');
  return descriptor.value;
}

// The objects on the path from the result to the value being copied, by depth: a cycle is named
// as such, not reported as a path of 64 steps that hides the reason. A null-prototype object, not
// an array: assigning an index of an array reaches a setter a plugin planted on Array.prototype.
const ancestors = { __proto__: null };
let deepest = -1;

function forgetAncestors() {
  for (let i = 0; i <= deepest; i++) ancestors[i] = undefined;
  deepest = -1;
}

function plain(value, depth) {
  const type = typeof value;
  if (value === null || (type !== 'object' && type !== 'function')) {
    if (type === 'symbol' || type === 'bigint') throw new Fault('a ' + type + ' cannot leave the sandbox');
    return value;
  }
  if (type === 'function') throw new Fault('a function cannot leave the sandbox');
  if (depth > ${MAX_RESULT_DEPTH}) throw new Fault('nested deeper than ${MAX_RESULT_DEPTH} levels (is it cyclic?)');
  if (isView(value)) {
    if (apply(typedArrayTag, value, []) !== 'Uint8Array') throw new Fault('binary data must be a Uint8Array');
    return new U8(value);
  }
  if (value instanceof NativeDate) return new NativeDate(apply(getTime, value, []));
  for (let i = 0; i < depth; i++) {
    if (ancestors[i] === value) throw new Fault('a cyclic reference', depth - i);
  }
  ancestors[depth] = value;
  if (depth > deepest) deepest = depth;
  if (isArray(value)) {
    const out = [];
    const length = value.length;
    for (let i = 0; i < length; i++) define(out, i, child(value, i, '[' + i + ']', depth));
    return out;
  }
  // No prototype, so plain assignment cannot reach a setter a plugin put on Object.prototype
  // (and is much cheaper than a defineProperty per key).
  const out = { __proto__: null };
  const names = keys(value);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    out[name] = child(value, name, '.' + name, depth);
  }
  return out;
}

function child(source, key, step, depth) {
  try {
    return plain(ownValue(source, key), depth + 1);
  } catch (e) {
    if (e instanceof Fault) e.path = step + e.path;
    throw e;
  }
}

// The reason first: a long path must never push it past the cut the host makes.
function faultText(fault) {
  const path = 'result' + fault.path;
  const where = path.length > 120 ? apply(stringSlice, path, [0, 60]) + '…' + apply(stringSlice, path, [path.length - 59]) : path;
  if (fault.back === undefined) return where + ': ' + fault.reason;
  return fault.reason + ' at ' + where + ' (it refers back ' + fault.back + ' level' + (fault.back === 1 ? '' : 's') + ' up)';
}

function describe(error) {
  try {
    if (error instanceof Fault) return faultText(error);
    if (error instanceof NativeError) {
      const name = NativeString(error.name);
      const message = NativeString(error.message);
      return name === 'Error' ? message : name + ': ' + message;
    }
    return NativeString(error);
  } catch {
    return 'the plugin threw a value that cannot be described';
  }
}

// With jsonBodies, an object body leaves as JSON text (bodyJson): the host would serialise it
// anyway, and a string crosses the boundary far more cheaply than an object graph.
function textBodies(value) {
  if (value === null || typeof value !== 'object') return value;
  const list = isArray(value) ? value : [value];
  for (let i = 0; i < list.length; i++) {
    const out = list[i];
    if (out === null || typeof out !== 'object' || isArray(out) || isView(out)) continue;
    const body = out.body;
    if (body === undefined || typeof body === 'string' || isView(body)) continue;
    delete out.body;
    define(out, 'bodyJson', stringifyJson(body));
  }
  return value;
}

function succeed(value, jsonBodies) {
  try {
    const copy = plain(value, 0);
    forgetAncestors();
    return { __proto__: null, ok: true, value: jsonBodies ? textBodies(copy) : copy };
  } catch (e) {
    forgetAncestors();
    return fail(e);
  }
}

function fail(error) {
  return { __proto__: null, ok: false, error: describe(error) };
}

function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
}

function settle(result, jsonBodies) {
  // A native promise of our own, resolved with a null-prototype envelope, so nothing the plugin
  // installed (species, a prototype 'then') takes part in resolving what isolated-vm awaits.
  return new NativePromise((resolve) => {
    try {
      apply(promiseThen, apply(promiseResolve, NativePromise, [result]), [
        (value) => resolve(succeed(value, jsonBodies)),
        (error) => resolve(fail(error)),
      ]);
    } catch (e) {
      resolve(fail(e));
    }
  });
}

function contextFor(data) {
  const route = NativeString(data.route);
  let lines = 0;
  function log(level, text) {
    lines += 1;
    if (lines > ${MAX_LOG_LINES_PER_CALL}) {
      if (lines === ${MAX_LOG_LINES_PER_CALL} + 1) hostLog(route, 'warn', 'log limit of ${MAX_LOG_LINES_PER_CALL} lines per call reached; further lines dropped');
      return;
    }
    hostLog(route, NativeString(level), apply(stringSlice, NativeString(text), [0, ${MAX_LOG_TEXT_CHARS}]));
  }
  return { route, attempt: data.attempt, now: data.now, log };
}

// run() is called synchronously (applySync): a plain result comes back at once; a promise is kept
// here under a number and run() answers { pending: true, id }, and the host then awaits wait(id)
// asynchronously. Kept by number, so no later run can take the place of one not yet collected.
const pending = { __proto__: null };
let lastId = 0;
// The envelopes of the batch runMany() is working through; collect() hands back what a batch cut
// short by its time limit had finished.
let batch = null;
return function bind(plugin) {
  function runOne(msg, data) {
    try {
      const result = plugin(withBody(msg), contextFor(data));
      if (!isThenable(result)) return succeed(result, data.jsonBodies === true);
      lastId += 1;
      pending[lastId] = settle(result, data.jsonBodies === true);
      return { __proto__: null, pending: true, id: lastId };
    } catch (e) {
      return fail(e);
    }
  }
  return {
    __proto__: null,
    run: runOne,
    // Several messages in one call, one envelope each, in order. It stops after the first promise
    // (left for wait()), so the envelopes may be fewer than the messages.
    runMany(msgs, datas) {
      const out = [];
      batch = out;
      const length = msgs.length;
      for (let i = 0; i < length; i++) {
        const envelope = runOne(msgs[i], datas[i]);
        define(out, i, envelope);
        if (envelope.pending === true) break;
      }
      batch = null;
      return out;
    },
    collect() {
      const done = batch === null ? [] : batch;
      batch = null;
      return done;
    },
    wait(id) {
      const settling = pending[id];
      delete pending[id];
      return settling;
    },
  };
};
`;
