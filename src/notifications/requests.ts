/**
 * A notification request as accepted (validated once), and what each of its deliveries sends:
 * the stable delivery id, the webhook body and the email.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { identifier } from '../wire.ts';
import type { EmailMessage } from './senders.ts';
import { DETAILS_MAX_BYTES } from './text.ts';
import type { Toast } from './toasts.ts';
import type { Channel, DeliveryRecord } from './types.ts';
import { webhookTarget } from './senders.ts';
import { CHANNELS, KINDS, type NotificationSettings } from './settings.ts';

const opaqueId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const iso = (ms: number) => new Date(ms).toISOString();

export const requestSchema = z.object({
  id: opaqueId,
  installationId: identifier,
  kind: z.enum(KINDS),
  workspaceId: identifier.nullish(),
  sessionId: identifier.nullish(),
  sourceId: opaqueId,
  toast: z.object({
    title: z.string().trim().min(1).max(1000),
    body: z.string().max(10_000),
    severity: z.enum(['info', 'warning', 'error']),
  }),
  details: z
    .record(z.string(), z.unknown())
    .refine(
      (d) => Buffer.byteLength(JSON.stringify(d) ?? '') <= DETAILS_MAX_BYTES,
      `must serialise to at most ${DETAILS_MAX_BYTES} bytes of JSON`,
    ),
});

export const NO_SECRET = 'WEBHOOK_SECRET is not configured: webhooks are not sent';
export const NO_SMTP = 'SMTP_URL is not configured: email is not sent';
export const NO_WEBHOOK_URLS = 'no webhook URL is configured for this installation';
export const NO_EMAIL_TO = 'no email recipient is configured for this installation';

/** Stable per installation, request, channel and address: the receiver's deduplication key. */
export function deliveryId(
  installationId: string,
  requestId: string,
  channel: Channel,
  address: string,
) {
  const h = createHash('sha256')
    .update(`${installationId}\n${requestId}\n${channel}\n${address}`)
    .digest('hex');
  return `dlv_${h.slice(0, 32)}`;
}

export type ParsedRequest = z.output<typeof requestSchema>;

/** The exact JSON body POSTed (and signed) on every attempt of one webhook delivery. */
export function webhookBody(id: string, req: ParsedRequest, toast: Toast) {
  return {
    deliveryId: id,
    notificationId: req.id,
    kind: req.kind,
    installationId: req.installationId,
    workspaceId: toast.workspaceId,
    sessionId: toast.sessionId,
    sourceId: req.sourceId,
    createdAt: toast.createdAt,
    toast: { title: toast.title, body: toast.body, severity: toast.severity },
    details: req.details,
  };
}

export function email(req: ParsedRequest, toast: Toast): EmailMessage {
  const lines = [
    toast.body,
    '',
    `Kind: ${req.kind}`,
    `Severity: ${toast.severity}`,
    `Installation: ${req.installationId}`,
    ...(toast.workspaceId ? [`Workspace: ${toast.workspaceId}`] : []),
    ...(toast.sessionId ? [`Session: ${toast.sessionId}`] : []),
    `Source: ${req.sourceId}`,
    `At: ${toast.createdAt}`,
    '',
    'Details:',
    JSON.stringify(req.details, null, 2),
  ];
  return { subject: `[LumiLink] ${toast.title}`, text: lines.join('\n') };
}

/** A delivery to create: its id, when its first attempt is due, its stored fields. */
export interface NewDelivery {
  id: string;
  /** When the first attempt is due; null: nothing to send (toast, skipped). */
  due: number | null;
  fields: Record<string, string>;
}

/** One delivery per channel and target configured for the request's kind. */
export function planDeliveries(
  req: ParsedRequest,
  toast: Toast,
  settings: NotificationSettings,
  now: number,
  can: { webhookSecret: boolean; email: boolean },
): NewDelivery[] {
  const createdAt = iso(now);
  const out: NewDelivery[] = [];
  const add = (
    channel: Channel,
    address: string,
    target: string,
    init: {
      status: DeliveryRecord['status'];
      lastError?: string;
      /** The exact payload every attempt sends, given the delivery id. */
      payload?: (id: string) => string;
    },
  ) => {
    const id = deliveryId(req.installationId, req.id, channel, address);
    const delivered = init.status === 'delivered';
    out.push({
      id,
      due: init.status === 'pending' ? now : null,
      fields: {
        notificationId: req.id,
        kind: req.kind,
        sourceId: req.sourceId,
        channel,
        target,
        address,
        payload: init.payload?.(id) ?? '',
        status: init.status,
        attempts: delivered ? '1' : '0',
        lastError: init.lastError ?? '',
        deliveredAt: delivered ? createdAt : '',
        createdAt,
        updatedAt: createdAt,
        deadLetteredAt: '',
      },
    });
  };
  for (const channel of CHANNELS.filter((c) => settings.channels[req.kind].includes(c))) {
    if (channel === 'toast') {
      add('toast', 'stream', 'stream', { status: 'delivered' });
    } else if (channel === 'webhook') {
      if (settings.webhookUrls.length === 0)
        add('webhook', '', '', { status: 'skipped', lastError: NO_WEBHOOK_URLS });
      for (const url of settings.webhookUrls) {
        add(
          'webhook',
          url,
          webhookTarget(url),
          can.webhookSecret
            ? { status: 'pending', payload: (id) => JSON.stringify(webhookBody(id, req, toast)) }
            : { status: 'skipped', lastError: NO_SECRET },
        );
      }
    } else {
      if (settings.emailTo.length === 0)
        add('email', '', '', { status: 'skipped', lastError: NO_EMAIL_TO });
      for (const to of settings.emailTo) {
        add(
          'email',
          to,
          to,
          can.email
            ? { status: 'pending', payload: () => JSON.stringify(email(req, toast)) }
            : { status: 'skipped', lastError: NO_SMTP },
        );
      }
    }
  }
  return out;
}
