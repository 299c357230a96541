/**
 * Warren's benchmark: drain N persistent 512-byte messages through Warren's webhook route and,
 * in the same run, through a minimal hand-written amqplib + undici consumer (the floor), in
 * alternating rounds; print both rates, the ratio and whether Warren reaches 0.9 × the floor.
 * Exit status is non-zero only when the harness itself fails, never for a missed target.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { BenchBroker, messageBody } from './broker.js';
import { measureContracts, printContracts } from './contracts.js';
import { measureFailover, printFailover } from './failover.js';
import { measureLargeBodies, printLargeBodies } from './large-bodies.js';
import { measureLoader, printLoader } from './loader.js';
import { type BenchOptions, parseOptions, type Side } from './options.js';
import { measurePluginRoute, printPlugin } from './plugin.js';
import { Receiver } from './receiver.js';
import { measureReload, printReload } from './reload.js';
import { jsonLine, printTable, type Round, summarize } from './report.js';
import { measureSandbox, printSandbox } from './sandbox.js';
import { type BenchContext, drainWithFloor, drainWithWarren, warrenQueueArgs } from './sides.js';
import { measureTracing, printTracing } from './tracing.js';

/** Round 1 runs Warren first, round 2 the floor first, and so on: neither side always runs cold. */
function orderOf(round: number, sides: Side[]): Side[] {
  return round % 2 === 1 ? sides : [...sides].reverse();
}

function describe(options: BenchOptions): string {
  return (
    `warren bench: ${options.messages.toLocaleString('en-US')} × 512 B persistent messages, ` +
    `prefetch ${options.prefetch}, ${options.queueType} queues, ${options.rounds} rounds, ` +
    `Node ${process.version}, ${availableParallelism()} CPUs`
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const runId = randomBytes(3).toString('hex');
  if (options.contractsOnly) return contractsFigure(options, runId);
  console.log(describe(options));
  const broker = await BenchBroker.connect(options.amqpUrl);
  // Ctrl-C mid-run: still delete what this run declared.
  process.once('SIGINT', () => {
    console.error('interrupted: deleting the bench queues');
    void broker.cleanup().finally(() => process.exit(130));
  });
  const receiver = await Receiver.start();
  const ctx: BenchContext = { options, broker, receiver, body: messageBody() };
  const rounds: Round[] = [];
  let failure: unknown;
  try {
    // The floor's queues get the very arguments Warren declares for its own source queue.
    const floorArgs = await warrenQueueArgs(ctx, `bench.${runId}.floor`);
    for (let i = 1; i <= options.rounds; i++) {
      const round: Round = { round: i, order: orderOf(i, options.sides), results: {} };
      rounds.push(round);
      for (const side of round.order) {
        const queue = `bench.${runId}.${side}.r${i}`;
        const result =
          side === 'warren'
            ? await drainWithWarren(ctx, queue)
            : await drainWithFloor(ctx, queue, { ...floorArgs, 'x-dead-letter-routing-key': `${queue}.dlq` });
        round.results[side] = result;
        console.log(
          `  round ${i} ${side.padEnd(6)} ${Math.round(result.rate).toLocaleString('en-US').padStart(7)} msg/s ` +
            `(${result.seconds.toFixed(3)} s, ${result.cpuMicrosPerMessage.toFixed(1)} µs CPU/msg, startup ${Math.round(result.startupMs)} ms, ` +
            `fill ${Math.round(result.fillRate).toLocaleString('en-US')} msg/s)` +
            (result.leftover ? ` — ${result.leftover} messages left in ${queue}!` : ''),
        );
      }
    }
  } catch (err) {
    failure = err;
  } finally {
    const undeleted = await broker.cleanup().catch((err: unknown) => [`(cleanup failed: ${String(err)})`]);
    if (undeleted.length) console.error(`could not delete: ${undeleted.join(', ')}`);
    await receiver.close();
  }
  if (failure) {
    console.error(`bench failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : failure}`);
    process.exit(1);
  }
  const summary = summarize(rounds, options);
  printTable(rounds, summary, options);
  console.log(
    jsonLine(rounds, summary, options, { node: process.version, cpus: availableParallelism(), runId }),
  );
  if (options.sides.length < 2) return; // profiling one side: the webhook drain only

  // The plugin route (issue 4) and the reload figure (issue 3), each against its own baseline.
  const pluginMessages = Math.min(options.messages, 20_000);
  const plugin = await measurePluginRoute(options.amqpUrl, pluginMessages, options.prefetch, 5);
  printPlugin(plugin, pluginMessages);
  const reload = await measureReload(options.amqpUrl);
  printReload(reload);
  console.log(JSON.stringify({ bench: 'warren-plugin-route', messages: pluginMessages, ...plugin }));
  await contractsFigure(options, runId); // issue 13: the webhook route with a realistic schema
  // The isolate's cost per call, against the same transform called in the host.
  const sandbox = await measureSandbox();
  printSandbox(sandbox);
  console.log(JSON.stringify({ bench: 'warren-sandbox-calls', ...sandbox }));
  console.log(JSON.stringify({ bench: 'warren-reload', figures: reload }));
  const large = await measureLargeBodies(options.amqpUrl); // issue 9 §7: peak RSS, budget on and off
  printLargeBodies(large);
  console.log(JSON.stringify({ bench: 'warren-large-bodies', ...large }));
  // Loading large route files (issue 9 §4): linear time, and /healthz free during a reload.
  const loader = await measureLoader(options.amqpUrl);
  printLoader(loader);
  console.log(JSON.stringify({ bench: 'warren-loader', figures: loader }));
  // Failover on a cluster of its own (issue 11): skipped, saying why, where none can be started.
  const failover = await measureFailover();
  printFailover(failover);
  console.log(JSON.stringify({ bench: 'warren-failover', ...failover }));
  // Tracing on and off (issue 12 §3), each beside the floor in the same round.
  const tracing = await measureTracing(options);
  printTracing(tracing);
  console.log(JSON.stringify({ bench: 'warren-tracing', ...tracing }));
}

async function contractsFigure(options: BenchOptions, runId: string): Promise<void> {
  const figures = await measureContracts(options, runId);
  printContracts(figures, options.target);
  console.log(JSON.stringify({ bench: 'warren-contracts', ...figures }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    process.exit(1);
  },
);
