// Preloaded into every Node process of a test run by `npm run stress -- --loop-delay`
// (NODE_OPTIONS=--import): in ava's worker processes, one per test file, it records how long
// the event loop was held up at most. ava runs a file's tests concurrently in one process, so a
// test that holds the CPU for seconds stalls the others of its file, and their timeouts fire.
// Plain JavaScript: it loads before tsx. Records go to MYKEY_LOOP_DELAY_FILE as JSON lines.
import { appendFileSync } from 'node:fs';
import { sep } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.MYKEY_LOOP_DELAY_FILE;
if (out && process.argv[1]?.includes(`${sep}ava${sep}lib${sep}worker${sep}`)) {
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  let file = '';
  // ava tells its worker which test file to run in its first message.
  const onMessage = (message) => {
    if (!message?.ava?.options?.file) return;
    file = message.ava.options.file;
    process.off('message', onMessage);
  };
  process.on('message', onMessage);
  // Written whenever the worst stall grows (a worker may be ended without an exit event).
  let written = 0;
  setInterval(() => {
    const maxMs = Math.round(delay.max / 1e6);
    if (!file || maxMs <= written) return;
    written = maxMs;
    appendFileSync(out, `${JSON.stringify({ file, maxMs })}\n`);
  }, 500).unref();
}
