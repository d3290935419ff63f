// Every failure a client sees is an RFC 9457 problem document with a stable `code` and a
// message in Japanese and English, from the catalogue in @mykey/contracts/problem-kinds.ts (the
// console and the reader agent read it too).
import { problemKinds, type Messages, type ProblemCode } from '@mykey/contracts/problem-kinds.ts';

export { problemKinds, type Messages, type ProblemCode };

/** A failure meant for the client. `detail` is English and safe to show; `extra` adds members. */
export class Problem extends Error {
  readonly status: number;

  constructor(readonly code: ProblemCode, readonly detail?: string, readonly extra: Record<string, unknown> = {}) {
    super(detail ?? problemKinds[code].title);
    this.status = problemKinds[code].status;
  }
}

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  messages: Messages;
  requestId: string;
  instance: string;
  [extension: string]: unknown;
}

export function problemDocument(problem: Problem, requestId: string, instance: string): ProblemDocument {
  const kind = problemKinds[problem.code];
  return {
    ...problem.extra,
    type: `urn:mykey:problem:${problem.code}`,
    title: kind.title,
    status: kind.status,
    detail: problem.detail ?? kind.title,
    code: problem.code,
    messages: kind.messages,
    requestId,
    instance,
  };
}

/** What a positive id in a path looks like (the API's document shows it as the parameter's pattern). */
export const PATH_ID = /^[1-9][0-9]{0,15}$/;

/** A positive id in the path; anything else is as unknown as a missing one. */
export function idOf(value: string | undefined, notFound: ProblemCode): number {
  const id = Number(value);
  if (!PATH_ID.test(value ?? '') || !Number.isSafeInteger(id)) throw new Problem(notFound);
  return id;
}
