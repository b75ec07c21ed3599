import type { RedisClient as Redis } from '../store/client.ts';
import { z } from 'zod';
import { findSecret, secretRefusal } from '../automation/secrets.ts';
import { plainText } from '../wire.ts';
import type { Channel, NotificationKind } from './types.ts';
import type { NotifyKeys } from './keys.ts';

export const KINDS = [
  'capacity-alert',
  'rollback',
  'recovery',
  'automation-skip',
] as const satisfies readonly NotificationKind[];
export const CHANNELS = ['toast', 'email', 'webhook'] as const satisfies readonly Channel[];

export const MAX_WEBHOOK_URLS = 10;
export const MAX_EMAIL_RECIPIENTS = 20;

const unique = (xs: readonly string[]) => new Set(xs).size === xs.length;

const channelList = z
  .array(z.enum(CHANNELS, { message: `must be one of: ${CHANNELS.join(', ')}` }))
  .max(CHANNELS.length)
  .refine(unique, 'must not repeat a channel');

const webhookUrl = z
  .string()
  .max(2048)
  // Listed back and shown; URL() drops tabs and line breaks, and encodes spaces, without a word.
  .superRefine(plainText('url'))
  .superRefine((s, ctx) => {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
    } else if (url.username || url.password) {
      // fetch refuses such URLs, and credentials do not belong in a URL we list back.
      ctx.addIssue({ code: 'custom', message: 'must not contain credentials (user:password@)' });
    } else {
      // The URL is listed back (GET …/notifications/settings): a token in its path or query
      // would be shown to every holder of the installation's tokens. Receivers authenticate
      // deliveries by their signature (WEBHOOK_SECRET) instead.
      const found = findSecret(s) ?? findSecret(resolvedForm(url));
      if (found?.kind === 'webhook-url') {
        // Its path is the credential: stored, listed back and shown in delivery records, it
        // would give the channel to every holder of the installation's tokens.
        ctx.addIssue({
          code: 'custom',
          message:
            `${secretRefusal(found.kind)}; send deliveries to a receiver of yours that checks ` +
            'X-LumiLink-Signature and posts to the chat with the URL it keeps',
        });
      } else if (found) ctx.addIssue({ code: 'custom', message: secretRefusal(found.kind) });
    }
  });

/**
 * The URL as the receiving server takes it: the host as `URL` reads it (letter case, `%68`
 * escapes and full-width letters resolved), without the trailing dot of a fully qualified
 * name or the port, and the path and query with their `%` escapes decoded. `https://hooks.slack.com./…`,
 * `…slack.com:443/…`, `https://%68ooks.slack.com/…` and `…/%73ervices/…` reach the same chat
 * channel as the plain spelling, so the secret patterns are asked of this form too.
 */
function resolvedForm(url: URL): string {
  let host = url.hostname;
  while (host.endsWith('.')) host = host.slice(0, -1);
  return `${url.protocol}//${host}${decoded(url.pathname)}${decoded(url.search)}`;
}

/** `text` with its `%` escapes decoded; as written when one is malformed. */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** An email recipient's address; EMAIL_FROM's address follows the same rule (src/config.ts). */
export const emailAddress = z.email({ message: 'must be an email address' }).max(254);

/**
 * PUT body: a full replacement; an omitted field (or kind) returns to its default (`['toast']`
 * for every kind, no webhook URL, no email recipient).
 */
export const notificationSettingsBody = z.strictObject({
  channels: z
    .strictObject({
      'capacity-alert': channelList.optional(),
      rollback: channelList.optional(),
      recovery: channelList.optional(),
      'automation-skip': channelList.optional(),
    })
    .optional(),
  webhookUrls: z
    .array(webhookUrl)
    .max(MAX_WEBHOOK_URLS, `must hold at most ${MAX_WEBHOOK_URLS} URLs`)
    .refine(unique, 'must not repeat a URL')
    .optional(),
  emailTo: z
    .array(emailAddress)
    .max(MAX_EMAIL_RECIPIENTS, `must hold at most ${MAX_EMAIL_RECIPIENTS} addresses`)
    .refine(
      (xs) => unique(xs.map((x) => x.toLowerCase())),
      'must not repeat an address (letter case aside: mail servers take Ops@ and ops@ as one)',
    )
    .optional(),
});
export type NotificationSettingsInput = z.output<typeof notificationSettingsBody>;

/** Stored and served as is. */
export interface NotificationSettings {
  installationId: string;
  channels: Record<NotificationKind, Channel[]>;
  webhookUrls: string[];
  emailTo: string[];
  /** ISO 8601 UTC; null while the defaults apply. */
  updatedAt: string | null;
  /** The token's name (never the token). */
  updatedBy: string | null;
}

export function defaultSettings(installationId: string): NotificationSettings {
  return {
    installationId,
    channels: Object.fromEntries(KINDS.map((k) => [k, ['toast']])) as Record<
      NotificationKind,
      Channel[]
    >,
    webhookUrls: [],
    emailTo: [],
    updatedAt: null,
    updatedBy: null,
  };
}

/**
 * Per-installation notification settings in Redis (one JSON string per installation).
 *
 * @example
 * await settings.put('inst-a', { channels: { rollback: ['toast', 'webhook'] }, webhookUrls: ['https://example.com/hook'] }, 'operator-1', now);
 */
export class NotificationSettingsStore {
  constructor(
    readonly redis: Redis,
    readonly keys: NotifyKeys,
  ) {}

  async get(installationId: string): Promise<NotificationSettings> {
    const json = await this.redis.get(this.keys.settings(installationId));
    const defaults = defaultSettings(installationId);
    if (!json) return defaults;
    const stored = JSON.parse(json) as Partial<NotificationSettings>;
    return {
      ...defaults,
      ...stored,
      channels: { ...defaults.channels, ...stored.channels },
      installationId,
    };
  }

  async put(
    installationId: string,
    input: NotificationSettingsInput,
    updatedBy: string,
    at: number,
  ): Promise<NotificationSettings> {
    const defaults = defaultSettings(installationId);
    const settings: NotificationSettings = {
      installationId,
      channels: Object.fromEntries(
        KINDS.map((k) => [k, input.channels?.[k] ?? defaults.channels[k]]),
      ) as Record<NotificationKind, Channel[]>,
      webhookUrls: input.webhookUrls ?? [],
      emailTo: input.emailTo ?? [],
      updatedAt: new Date(at).toISOString(),
      updatedBy,
    };
    await this.redis.set(this.keys.settings(installationId), JSON.stringify(settings));
    return settings;
  }
}
