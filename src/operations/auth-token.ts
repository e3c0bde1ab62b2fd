import { z } from 'zod';
import { FreightError } from '../domain/errors.js';
import { defineOperation } from './operation.js';

export const createAccessToken = defineOperation({
  id: 'create_access_token',
  method: 'POST',
  path: '/api/v1/auth/token',
  summary: 'Exchange an API key for a JWT',
  description:
    "Exchanges an API key (in the body, or as the Bearer credential) for a short-lived JWT carrying the key's tenant and role. Use the token as `Authorization: Bearer <token>` until expires_at. Revoking the key invalidates its tokens at once.",
  tags: ['auth'],
  // No credential is required to reach it: the API key may come in the body. Without one in the
  // body the handler uses the Bearer key, and refuses a token or nothing with 401.
  role: null,
  tenantScoped: false,
  toolset: null,
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  body: z
    .object({
      api_key: z
        .string()
        .min(1)
        .max(512)
        .optional()
        .describe('The API key; or send it as the Bearer credential.'),
    })
    .strict(),
  output: z.object({
    access_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_at: z.string(),
    expires_in: z.number().int().describe('Seconds until it expires.'),
    tenant_id: z.string(),
    role: z.string(),
  }),
  successStatus: 200,
  errors: ['UNAUTHENTICATED', 'VALIDATION_FAILED', 'RATE_LIMITED', 'INTERNAL'],
  audited: true,
  async handler(ctx, { body }) {
    const caller = body.api_key
      ? await ctx.services.keys.authenticate(body.api_key)
      : ctx.caller?.via === 'api-key'
        ? ctx.caller
        : null;
    if (!caller)
      throw new FreightError(
        'UNAUTHENTICATED',
        'a valid API key is required to get a token (a token cannot be exchanged for another)',
      );
    const { token, expiresAt } = await ctx.services.tokens.issue({
      keyId: caller.keyId,
      tenantId: caller.tenantId,
      role: caller.role,
    });
    return {
      access_token: token,
      token_type: 'Bearer' as const,
      expires_at: expiresAt,
      expires_in: Math.round((Date.parse(expiresAt) - Date.now()) / 1000),
      tenant_id: caller.tenantId,
      role: caller.role,
    };
  },
});

export const whoami = defineOperation({
  id: 'whoami',
  method: 'GET',
  path: '/api/v1/auth/whoami',
  summary: 'Who the credential is',
  description:
    'Returns the key id, tenant and role of the credential sent. Clients (the MCP stdio server) use it to list only the tools the credential may call.',
  tags: ['auth'],
  role: 'viewer',
  tenantScoped: false,
  toolset: null,
  annotations: {
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  output: z.object({
    key_id: z.string(),
    tenant_id: z.string(),
    role: z.string(),
    via: z.enum(['api-key', 'jwt']),
  }),
  successStatus: 200,
  errors: ['UNAUTHENTICATED', 'RATE_LIMITED', 'INTERNAL'],
  audited: false,
  async handler(ctx) {
    const caller = ctx.caller!;
    return { key_id: caller.keyId, tenant_id: caller.tenantId, role: caller.role, via: caller.via };
  },
});
