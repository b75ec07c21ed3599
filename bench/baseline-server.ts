/**
 * The baseline the service is measured against: the least a heartbeat endpoint can do on this
 * stack. Express 5 with express.json(), one zod parse of a heartbeat-shaped body and one Redis
 * SET per request; no auth, no engine, no statechart. Run as its own process (like the service)
 * so it never shares an event loop with the load generator.
 *
 * Env: PORT, REDIS_URL, KEY_PREFIX (read through the service's own config loader).
 */
import express from 'express';
import { z } from 'zod';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/logger.ts';
import { connectRedis } from '../src/main.ts';

const config = loadConfig();
// The service's own Redis client factory, so both sides use the same client options
// (auto-pipelining in particular, which matters a lot for one SET per request).
const redis = await connectRedis(config, silentLogger);

const heartbeat = z.strictObject({
  timestamp: z.iso.datetime(),
  succeeded: z.number().int().min(0),
  failed: z.number().int().min(0),
  latencyMs: z.array(z.number().min(0)).max(1000).default([]),
});

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: config.bodyLimitBytes }));

app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});

app.post('/v1/connections/:connectionId/heartbeats', async (req, res) => {
  const parsed = heartbeat.safeParse(req.body);
  if (!parsed.success) {
    res.status(400).json({ error: { message: parsed.error.message } });
    return;
  }
  const { connectionId } = req.params;
  await redis.set(`${config.keyPrefix}:baseline:${connectionId}`, JSON.stringify(parsed.data));
  res.json({ connectionId, ok: true });
});

const server = app.listen(config.port, config.host);
server.keepAliveTimeout = 65_000;

const shutdown = () => {
  server.closeAllConnections();
  server.close(() => {
    redis.disconnect();
    process.exit(0);
  });
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
