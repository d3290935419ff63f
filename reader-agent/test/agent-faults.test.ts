// The reader agent when something around the card goes wrong, through the real stack:
// agent (child process) → pcsclite → private pcscd → vpcd → simulated card, enrolled with the
// real backend. Each fault ends with a message the clerk or resident can act on, and the agent
// stays up and recovers.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileFixture } from '@mykey/backend/test/helpers/env.ts';
import { signInStaff } from '@mykey/backend/test/helpers/identity.ts';
import { READER_NAME, type PcscStack } from './helpers/pcsc-stack.ts';
import { waitForCard, waitUntil, type RunningAgent } from './helpers/agent.ts';
import { counterPc, trustingBackend } from './helpers/counter.ts';
import type { ApduRecord } from '../src/simulator/apdu-log.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIN = '7391';
const SELECT_JPKI = '00A4040C0AD392F000260100000001';
// Under a loaded machine pcscd, the agent's 1 s reconnect and the simulator's 250 ms vpcd
// retry can each take a while; this only bounds how long a broken build hangs.
const RECOVERY_MS = 30_000;

const backend = fileFixture(test, async (cleanup) => {
  const server = await trustingBackend(cleanup);
  return { ...server, staff: await signInStaff(server.base, 'demo-city') };
});

async function setup(t: { teardown: (fn: () => unknown) => void }, simulatorArgs: string[] = []) {
  return counterPc((fn) => t.teardown(fn), await backend(), PIN, simulatorArgs);
}

function login(agent: RunningAgent) {
  return agent.call('POST', '/v1/card-sessions', { pin: PIN, purpose: 'login' });
}

function apdus(stack: PcscStack): ApduRecord[] {
  return stack.apduLog().filter((r): r is ApduRecord => r.type === 'apdu');
}

/** The agent process is still running and still answers. */
async function assertAgentUp(t: ExecutionContext, agent: RunningAgent): Promise<void> {
  t.is(agent.child.exitCode, null, agent.output());
  t.is((await agent.call('GET', '/v1/status')).status, 200);
}

test('pcscd restarted: the agent says the service is gone, then reconnects by itself', async (t) => {
  const { stack, agent, deviceId } = await setup(t);
  const before = await login(agent);
  t.is(before.status, 200, JSON.stringify(before.body));

  await stack.stopPcscd();
  await waitUntil(async () => !(await agent.call('GET', '/v1/status')).body.available, 'the agent to notice pcscd is gone', RECOVERY_MS);
  t.deepEqual((await agent.call('GET', '/v1/status')).body, { available: false, readers: [], enrolled: true, deviceId, backendUrl: (await backend()).base, journal: { waiting: 0 } });
  const down = await login(agent);
  t.is(down.status, 503);
  t.like(down.body, {
    code: 'pcsc_unavailable',
    messages: { ja: 'カードリーダーのサービス（pcscd）に接続できません。自動で再接続します。', en: 'Cannot reach the card reader service (pcscd). Reconnecting automatically.' },
  });

  // Same agent process throughout: it must find the new pcscd, its reader and the card.
  await stack.restartPcscd();
  await waitForCard(agent, READER_NAME, RECOVERY_MS);
  const after = await login(agent);
  t.is(after.status, 200, JSON.stringify(after.body));
  t.is(after.body.mykeyId, before.body.mykeyId, 'the same card, logged in again');
  t.regex(agent.output(), /pcscd unavailable; retrying/);
});

test('the reader vanishing in the middle of a login: a reader/service message, not a card error; the agent stays up', async (t) => {
  // vpcd's reader exists only while pcscd runs, so stopping pcscd is the closest this stack
  // gets to pulling the reader's USB cable. The card answers three APDUs and then none until it
  // loses the reader: pcscd stops while the certificate's read is certainly under way.
  const { stack, agent } = await setup(t, ['--stall-after', '3']);
  let ended: unknown;
  const reading = login(agent).then((answer) => (ended = answer));
  await waitUntil(async () => {
    if (ended) throw new Error(`the read ended before pcscd stopped: ${JSON.stringify(ended)}\n${agent.output()}`);
    return apdus(stack).length >= 3;
  }, 'the read to be under way');
  await stack.stopPcscd();
  const { status, body } = await reading;
  // After the certificate, a login asks the PIN tries (VERIFY without data); this one never got there.
  t.false(apdus(stack).some((r) => r.command === '00200080'), 'pcscd stopped before the certificate was read');
  t.true(['pcsc_unavailable', 'reader_gone'].includes(body.code), `${JSON.stringify(body)}\n${agent.output()}`);
  const expected = {
    pcsc_unavailable: { status: 503, ja: 'カードリーダーのサービス（pcscd）に接続できません。自動で再接続します。' },
    reader_gone: { status: 409, ja: '処理中にカードリーダーが外されました。接続を確認して、もう一度お試しください。' },
  }[body.code as 'pcsc_unavailable' | 'reader_gone'];
  t.is(status, expected?.status);
  t.is(body.messages.ja, expected?.ja);
  t.truthy(body.messages.en);
  await assertAgentUp(t, agent);

  await stack.restartPcscd();
  await waitForCard(agent, READER_NAME, RECOVERY_MS);
  t.is((await login(agent)).status, 200);
});

/**
 * Another PC/SC program, `command` with `args`, that holds the card until its stdin closes.
 * Resolves once it says "held".
 */
async function holdCard(t: ExecutionContext, stack: PcscStack, command: string, args: string[]): Promise<{ release(): Promise<void> }> {
  const child: ChildProcess = spawn(command, args, { cwd: REPO_ROOT, env: stack.env, stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout!.on('data', (chunk) => { output += chunk; });
  child.stderr!.on('data', (chunk) => { output += chunk; });
  await waitUntil(async () => {
    if (child.exitCode !== null) throw new Error(`the holder exited: ${output}`);
    return output.includes('held');
  }, `the other client to hold the card: ${output}`, RECOVERY_MS);
  return {
    async release() {
      const exited = once(child, 'exit');
      child.stdin!.end();
      const [code] = await exited;
      if (code !== 0) throw new Error(`the holder failed to let go: ${output}`);
    },
  };
}

/** A second process with its own pcsclite takes the card in exclusive mode. */
function holdCardExclusively(t: ExecutionContext, stack: PcscStack) {
  const script = `
    const pcsc = require('pcsclite')();
    const fail = (error) => { process.stderr.write(String(error && error.message || error) + '\\n'); process.exit(1); };
    pcsc.on('error', fail);
    let connecting = false;
    pcsc.on('reader', (reader) => {
      if (reader.name !== ${JSON.stringify(READER_NAME)}) return;
      reader.on('error', fail);
      reader.on('status', (status) => {
        if (connecting || !(status.state & reader.SCARD_STATE_PRESENT)) return;
        connecting = true;
        reader.connect({ share_mode: reader.SCARD_SHARE_EXCLUSIVE }, (error) => {
          if (error) fail(error);
          process.stdout.write('held\\n');
          process.stdin.resume();
          process.stdin.on('end', () => reader.disconnect(reader.SCARD_LEAVE_CARD, () => { pcsc.close(); process.exit(0); }));
        });
      });
    });`;
  return holdCard(t, stack, process.execPath, ['-e', script]);
}

/**
 * A C program on libpcsclite connects to the card shared and opens a PC/SC transaction, as a
 * middleware does around its commands (the pcsclite addon has no transactions): pcscd then
 * holds back every other connection, without limit, until the transaction ends.
 */
function holdCardInTransaction(t: ExecutionContext, stack: PcscStack) {
  const source = `#include <stdio.h>
#include <winscard.h>
int main(int argc, char **argv) {
  SCARDCONTEXT context; SCARDHANDLE card; DWORD protocol;
  if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &context) != SCARD_S_SUCCESS) return 2;
  if (SCardConnect(context, argv[1], SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &protocol) != SCARD_S_SUCCESS) return 3;
  if (SCardBeginTransaction(card) != SCARD_S_SUCCESS) return 4;
  puts("held");
  fflush(stdout);
  while (getchar() != EOF) {}
  SCardEndTransaction(card, SCARD_LEAVE_CARD);
  SCardDisconnect(card, SCARD_LEAVE_CARD);
  return SCardReleaseContext(context) == SCARD_S_SUCCESS ? 0 : 5;
}
`;
  const dir = mkdtempSync(join(tmpdir(), 'pcsc-transaction-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hold.c'), source);
  execFileSync('gcc', ['-o', join(dir, 'hold'), join(dir, 'hold.c'), '-I/usr/include/PCSC', '-lpcsclite']);
  return holdCard(t, stack, join(dir, 'hold'), [READER_NAME]);
}

test('a reader held by another program: reader busy, and fine again once it lets go', async (t) => {
  const { stack, agent } = await setup(t);
  const holder = await holdCardExclusively(t, stack);
  const apdusBefore = apdus(stack).length;

  const busy = await login(agent);
  t.is(busy.status, 409);
  t.like(busy.body, {
    code: 'reader_busy',
    messages: { ja: 'カードリーダーを別のアプリが使用中です。しばらくしてからもう一度お試しください。', en: 'Another application is using the card reader. Please try again in a moment.' },
  });
  t.is(apdus(stack).length, apdusBefore, 'nothing reached the card while another program held it');

  await holder.release();
  const free = await login(agent);
  t.is(free.status, 200, JSON.stringify(free.body));
  t.is(await stack.pinTriesLeft(), 3);
});

test('a reader another program holds in a PC/SC transaction: reader busy after the agent\'s wait, not an endless one, and at once while it lasts; fine again once it lets go', async (t) => {
  const { stack, agent } = await setup(t);
  const holder = await holdCardInTransaction(t, stack);
  const apdusBefore = apdus(stack).length;

  const busy = await login(agent);
  t.like(busy, { status: 409, body: { code: 'reader_busy', messages: { ja: 'カードリーダーを別のアプリが使用中です。しばらくしてからもう一度お試しください。' } } });
  t.like(await login(agent), { status: 409, body: { code: 'reader_busy' } }, 'while pcscd still holds the first connection back');
  t.is(apdus(stack).length, apdusBefore, 'nothing reached the card while another program held it');

  await holder.release();
  await waitUntil(async () => (await login(agent)).status === 200, 'a login once the other program let go', RECOVERY_MS);
  t.is(await stack.pinTriesLeft(), 3);
  await assertAgentUp(t, agent);
});

test('a card that is not a My Number card: a clear message, and only the JPKI SELECT was tried', async (t) => {
  const { stack, agent } = await setup(t, ['--card', 'other']);
  const status = await agent.call('GET', '/v1/status');
  t.deepEqual(status.body.readers.find((r: { name: string }) => r.name === READER_NAME), { name: READER_NAME, cardPresent: true, atr: '3B8F8001804F0CA0000003061100' + '3B0000000042' });

  // The PIN must never be presented to a card that is not a My Number card.
  const refused = await login(agent);
  t.is(refused.status, 422);
  t.like(refused.body, { code: 'not_my_number_card', messages: { ja: 'マイナンバーカードではないか、利用者証明用電子証明書が入っていないカードです。' } });
  t.deepEqual(apdus(stack).map((r) => [r.command, r.sw]), [[SELECT_JPKI, '6A82']]);
  await assertAgentUp(t, agent);
});
