import { STAFF_REASON_MAX } from '@mykey/contracts/limits.ts';
import { z } from 'zod';

/** Why staff did something, as they write it into the audit log: one line, as the column and the console allow. */
export const staffReason = z.string().trim().min(1).max(STAFF_REASON_MAX).regex(/^[^\p{Cc}]*$/u, { error: 'must be one line of text' });
