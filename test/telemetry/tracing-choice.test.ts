import { describe, expect, it } from 'vitest';
import { tracingChoice } from '../../src/telemetry/tracing.js';

describe('which OTEL_ variables turn tracing on', () => {
  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: ' OTLP ' }, true],
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }, false],
    [{ OTEL_SERVICE_NAME: 'billing' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'TRUE' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'false' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp,none' }, false],
  ])('%j → %s', (env, on) => {
    expect(tracingChoice(env).on).toBe(on);
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_ENDPOINT is not a URL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x' }, 'OTEL_EXPORTER_OTLP_ENDPOINT is a ftp: URL'],
    [
      { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'collector:4318/v1/traces' },
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is a collector: URL',
    ],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ok:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'bad one' },
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is not a URL',
    ],
  ])('stays off with an endpoint the exporter cannot send to: %j', (env, said) => {
    const choice = tracingChoice({ ...env, OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer s3cret' });
    expect(choice).toEqual({ on: false, warning: expect.stringContaining(said) });
    expect(choice.on === false && choice.warning).toMatch(/tracing is off$/);
  });

  it('names no credentials of a wrong endpoint', () => {
    const choice = tracingChoice({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://user:pa55word@collector:4317' });
    expect(JSON.stringify(choice)).not.toContain('pa55word');
  });

  it('stays off and says why for an exporter Warren does not ship', () => {
    expect(
      tracingChoice({ OTEL_TRACES_EXPORTER: 'jaeger', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }),
    ).toEqual({
      on: false,
      warning:
        'OTEL_TRACES_EXPORTER=jaeger: Warren exports traces with otlp only (OTLP/HTTP); tracing is off',
    });
  });

  it.each([
    [{}, { on: true }],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, { on: true }],
    [
      { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: ' http/protobuf ', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      { on: true },
    ],
    [
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      {
        on: true,
        warning:
          'OTEL_EXPORTER_OTLP_PROTOCOL=http/json: Warren sends http/protobuf, which an OTLP/HTTP collector takes at the same endpoint',
      },
    ],
    [
      { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' },
      {
        on: false,
        warning:
          'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc: Warren exports traces over OTLP/HTTP as http/protobuf only; tracing is off',
      },
    ],
  ])('sends OTLP/HTTP protobuf, the specification default, whatever protocol is asked: %j', (env, choice) => {
    expect(tracingChoice({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', ...env })).toEqual(choice);
  });

  it('says nothing of the protocol while nothing asks for traces', () => {
    expect(tracingChoice({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toEqual({ on: false });
    expect(tracingChoice({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toEqual({ on: false });
  });
});
