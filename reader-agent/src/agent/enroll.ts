// `npm run reader-agent -- enroll CODE --backend URL`: makes this PC's agent a device of the
// shop or municipality whose staff issued CODE. The token it receives goes to a file and is
// never printed.
import { parseArgs } from 'node:util';
import { BackendClient, BackendError, insecureBackendProblem, normalizeBackendUrl } from './backend-client.ts';
import { defaultEnrollmentFile, readEnrollment, writeEnrollment } from './enrollment.ts';

export const ENROLL_HELP = `Usage: npm run reader-agent -- enroll CODE --backend URL [--name NAME]

Enrolls this PC's reader agent as a card-reader device of the shop or municipality whose staff
issued CODE in the console (端末（カードリーダー） / Card readers). A code works once, for 10 minutes.

Options:
  --backend URL   the MyKey server, as the console shows it, e.g. https://mykey.example.jp
                  (https://; plain http:// only for this PC, 127.0.0.1, localhost or ::1,
                  or with NODE_ENV=development)
  --name NAME     the device's name (default: the name given when the code was issued)
  --file FILE     where to keep the enrollment, created with mode 600
                  (default ~/.config/mykey/reader-agent-enrollment.json)
  -h, --help      this text

Exit status: 0 enrolled, 1 the server refused or could not be reached, 2 wrong usage.`;

function usage(message: string): number {
  process.stderr.write(`${message}\n\n${ENROLL_HELP}\n`);
  return 2;
}

export async function enrollCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { backend: { type: 'string' }, name: { type: 'string' }, file: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${ENROLL_HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) return usage('Give exactly one enrollment code, e.g. enroll K7QM-3XPA-9D');
  if (!values.backend) return usage('--backend is required');
  let backendUrl: string;
  try {
    backendUrl = normalizeBackendUrl(values.backend);
  } catch (error) {
    return usage((error as Error).message);
  }
  const insecure = insecureBackendProblem(backendUrl);
  if (insecure) return usage(`${insecure.ja}\n${insecure.en}`);
  const file = values.file ?? defaultEnrollmentFile();

  try {
    const enrollment = await new BackendClient(backendUrl).enroll(positionals[0]!, values.name);
    const previous = readEnrollment(file);
    // Kept before anything else can fail: the code is spent, and the token is shown nowhere else.
    writeEnrollment(file, { backendUrl, deviceId: enrollment.deviceId, token: enrollment.token });
    // Through the same path every later call takes, so a proxy that drops Authorization shows now.
    await new BackendClient(backendUrl, enrollment.token).self();
    const { organization } = enrollment;
    process.stdout.write([
      'この PC のリーダーエージェントを端末として登録しました。',
      'Enrolled this PC\'s reader agent as a device.',
      `  端末 / device:        ${enrollment.deviceId}「${enrollment.name}」`,
      `  組織 / organization:  ${organization.name.ja} (${organization.name.en})`,
      `  サーバー / server:    ${backendUrl}`,
      `  保存先 / saved in:    ${file} (mode 600)`,
      ...(previous.enrolled ? [`以前の登録（端末 ${previous.enrollment.deviceId}）を置き換えました。 / Replaced the earlier enrollment (device ${previous.enrollment.deviceId}).`] : []),
      'リーダーエージェントを起動（再起動）すると、この登録が使われます。',
      'Start (or restart) the reader agent to use it.',
      '',
    ].join('\n'));
    return 0;
  } catch (error) {
    if (!(error instanceof BackendError)) throw error;
    process.stderr.write([
      `登録できませんでした: ${error.messages.ja}`,
      `Enrollment failed: ${error.messages.en}`,
      `  (${error.code}${error.requestId ? `, request ${error.requestId}` : ''})`,
      '',
    ].join('\n'));
    return 1;
  }
}
