import { parseArgs } from 'node:util';

export type QueueType = 'quorum' | 'classic';
export type Side = 'warren' | 'floor';

export interface BenchOptions {
  amqpUrl: string;
  messages: number;
  prefetch: number;
  rounds: number;
  /** Publisher-confirm window used while filling a queue. */
  window: number;
  queueType: QueueType;
  /** Both sides by default; one side only is handy under a profiler. */
  sides: Side[];
  target: number;
  /** `--contracts`: only the message-contract figure (bench/contracts.ts). */
  contractsOnly: boolean;
}

const usage = `usage: npm run bench -- [--messages N] [--prefetch P] [--rounds R] [--window W]
                       [--queue-type quorum|classic] [--only warren|floor] [--contracts]
env: BENCH_MESSAGES, BENCH_PREFETCH, BENCH_ROUNDS, AMQP_URL`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name} must be a positive integer, got ${value}\n${usage}`);
  return n;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: 'string' },
      prefetch: { type: 'string' },
      rounds: { type: 'string' },
      window: { type: 'string' },
      'queue-type': { type: 'string' },
      only: { type: 'string' },
      contracts: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const queueType = values['queue-type'] ?? 'quorum';
  if (queueType !== 'quorum' && queueType !== 'classic') throw new Error(`bad --queue-type\n${usage}`);
  const only = values.only;
  if (only !== undefined && only !== 'warren' && only !== 'floor') throw new Error(`bad --only\n${usage}`);
  return {
    amqpUrl: env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    messages: positive('messages', values.messages ?? env.BENCH_MESSAGES, 30_000),
    prefetch: positive('prefetch', values.prefetch ?? env.BENCH_PREFETCH, 100),
    rounds: positive('rounds', values.rounds ?? env.BENCH_ROUNDS, 3),
    window: positive('window', values.window, 5_000),
    queueType,
    sides: only ? [only] : ['warren', 'floor'],
    target: 0.9,
    contractsOnly: values.contracts ?? false,
  };
}
