/**
 * Parsers of the configuration values that are more than a number: token lists, the API tokens'
 * JSON and the CORS origins. Used by src/config.ts (the only reader of process.env).
 */
import { z } from 'zod';

export const tokenList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().min(16, 'tokens must be at least 16 characters')));

/** `https://console.example.com`: scheme, host and port only, as browsers send `Origin`. */
const origin = z.string().refine((s) => {
  try {
    const url = new URL(s);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === s;
  } catch {
    return false;
  }
}, 'each origin must be scheme://host[:port] with no path or trailing slash, e.g. https://console.example.com');

export const originList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
  )
  .pipe(z.array(origin));

export const apiTokens = z
  .string()
  .transform((s, ctx) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'must be JSON: [{"token":"...","installations":["inst-a"]}]',
      });
      return z.NEVER;
    }
  })
  .pipe(
    z.array(
      z.strictObject({
        token: z.string().min(16, 'tokens must be at least 16 characters'),
        installations: z.array(z.string().min(1)).min(1),
        /** Who the token stands for in audit records (never the token itself). */
        name: z.string().min(1).max(64).optional(),
      }),
    ),
  );
