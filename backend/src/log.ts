import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/** Structured JSON logs on stdout, one object a line. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string): Logger {
  return pino({
    name,
    level: config.LOG_LEVEL,
    // Never let a secret reach a log line, whatever object someone passes in.
    redact: { paths: ['password', '*.password', 'pin', '*.pin', 'headers.cookie', 'headers.authorization'], censor: '[redacted]' },
  });
}
