// Preloaded with `--require` (NODE_OPTIONS) by tests that ask which packages a process loaded: at
// exit it writes the files of every CommonJS module it loaded (imported from ESM too; the
// OpenTelemetry packages are CommonJS) to WARREN_TEST_MODULES_FILE, one a line.
const { writeFileSync } = require('node:fs');

process.on('exit', () => {
  writeFileSync(process.env.WARREN_TEST_MODULES_FILE, Object.keys(require.cache).join('\n'));
});
