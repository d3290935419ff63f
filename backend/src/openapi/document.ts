// The API's OpenAPI 3.1 document, built from the app itself: every route of every router the
// app mounts, each with the description it carries (http/described.ts) and the roles its
// requireRole names. zod-openapi turns the routes' own zod schemas into JSON Schema (docs/api.md).
import type Koa from 'koa';
import type Router from '@koa/router';
import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject, type ZodOpenApiResponsesObject } from 'zod-openapi';
import { problemKinds, type ProblemCode } from '@mykey/contracts/problem-kinds.ts';
import type { StaffRole } from '@mykey/contracts/staff.ts';
import { descriptionIn, type Caller, type RouteDescription } from '../http/described.ts';
import { IDEMPOTENCY_KEY } from '../http/idempotency.ts';
import { rolesIn } from '../staff/middleware.ts';
import { PARTNER_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '@mykey/contracts/partner-signature.ts';

export interface AppRoute { method: string; path: string; description?: RouteDescription; roles?: StaffRole[] }

type RouterMiddleware = Koa.Middleware & { router?: Router };

/** Every route of every router mounted on `app`, with its description and roles (HEAD, which Koa adds to GET, left out). */
export function appRoutes(app: Koa): AppRoute[] {
  const routes: AppRoute[] = [];
  for (const middleware of app.middleware as RouterMiddleware[]) {
    for (const layer of middleware.router?.stack ?? []) {
      const description = descriptionIn(layer.stack);
      const roles = rolesIn(layer.stack);
      for (const method of layer.methods) {
        if (method !== 'HEAD') routes.push({ method, path: String(layer.path), description, roles });
      }
    }
  }
  return routes;
}

/** "/grant-uploads/:uploadId" as OpenAPI writes it: "/grant-uploads/{uploadId}". */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const problemCodes = Object.keys(problemKinds) as [ProblemCode, ...ProblemCode[]];

const problemDocument = z.looseObject({
  type: z.string().meta({ example: 'urn:mykey:problem:not_found' }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.enum(problemCodes),
  messages: z.object({ ja: z.string(), en: z.string() }),
  requestId: z.string(),
  instance: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional().meta({ description: 'request_invalid: the fields that did not match.' }),
}).meta({
  id: 'Problem',
  description: 'An RFC 9457 problem document. `code` is stable; `messages` holds the text to show, in Japanese and in English (packages/contracts/src/problem-kinds.ts).',
});

const SIGNED = 'Signed as docs/partner-api.md says: v1=<hex HMAC-SHA256(API secret, timestamp "\\n" METHOD "\\n" path "\\n" hex SHA-256(body))>; a batch upload adds its declared length as a fifth line.';

const signatureSchemes = (prefix: string, who: string) => ({
  [`${prefix}Id`]: { type: 'apiKey', in: 'header', name: PARTNER_HEADER, description: who },
  [`${prefix}Timestamp`]: { type: 'apiKey', in: 'header', name: TIMESTAMP_HEADER, description: 'Unix seconds; refused more than 300 s from the server\'s clock.' },
  [`${prefix}Signature`]: { type: 'apiKey', in: 'header', name: SIGNATURE_HEADER, description: SIGNED },
} as const);

const securitySchemes = {
  staffSession: {
    type: 'apiKey', in: 'cookie', name: 'mykey_staff',
    description: 'The staff session cookie set by POST /api/v1/staff/sessions; over HTTPS it is named __Host-mykey_staff (docs/security/staff.md).',
  },
  residentSession: {
    type: 'apiKey', in: 'cookie', name: 'mykey_resident',
    description: 'The resident\'s own page, set by POST /api/v1/resident/sessions after the card signed at a town\'s device; over HTTPS it is named __Host-mykey_resident (docs/resident.md).',
  },
  deviceToken: { type: 'http', scheme: 'bearer', description: 'An enrolled reader agent\'s token, from POST /api/v1/devices.' },
  ...signatureSchemes('partner', 'The partner\'s id (its slug).'),
  ...signatureSchemes('service', 'service-<id>: a town service\'s own system, signing with the service\'s API key (docs/services-integration.md).'),
} as const;

const security: Record<Caller, Record<string, string[]>[]> = {
  anyone: [],
  staff: [{ staffSession: [] }],
  resident: [{ residentSession: [] }],
  device: [{ deviceToken: [] }],
  partner: [{ partnerId: [], partnerTimestamp: [], partnerSignature: [] }],
  service: [{ serviceId: [], serviceTimestamp: [], serviceSignature: [] }],
};

const SIGNATURE_PROBLEMS: ProblemCode[] = ['partner_signature_required', 'partner_timestamp_out_of_range', 'partner_signature_invalid', 'partner_suspended'];
const callerProblems: Record<Caller, ProblemCode[]> = {
  anyone: [],
  staff: ['staff_session_required'],
  resident: ['resident_session_closed'],
  device: ['device_unknown'],
  partner: SIGNATURE_PROBLEMS,
  service: SIGNATURE_PROBLEMS,
};

/** Every problem a route may answer: its own, then those of its caller, roles, body and key, then the server's. */
export function problemsOf({ description, roles }: AppRoute & { description: RouteDescription }): ProblemCode[] {
  return [...new Set<ProblemCode>([
    ...(description.problems ?? []),
    ...callerProblems[description.caller],
    ...(roles ? ['staff_role_forbidden' as const] : []),
    ...(description.body ? ['request_invalid', 'unsupported_media_type', 'body_too_large'] as const : []),
    ...(description.idempotent ? ['idempotency_key_required', 'idempotency_key_reused'] as const : []),
    'internal_error', 'database_unavailable',
  ])];
}

/** A problem document as the server sends it (http/problems.ts), for the document's examples. */
function problemExample(code: ProblemCode, path: string) {
  const { status, title, messages } = problemKinds[code];
  return { type: `urn:mykey:problem:${code}`, title, status, detail: title, code, messages, requestId: '6f0d3c52-8a8e-4c43-9a51-3f0b1f0d9e21', instance: path };
}

function problemResponses(codes: ProblemCode[], path: string): ZodOpenApiResponsesObject {
  const byStatus = new Map<number, ProblemCode[]>();
  for (const code of codes) byStatus.set(problemKinds[code].status, [...(byStatus.get(problemKinds[code].status) ?? []), code]);
  return Object.fromEntries([...byStatus].map(([status, list]) => [String(status), {
    description: list.map((code) => `${code}: ${problemKinds[code].title}`).join('; '),
    // The Problem component, its code narrowed to this status's codes.
    content: { 'application/problem+json': {
      schema: z.intersection(problemDocument, z.looseObject({ code: z.enum(list as [ProblemCode, ...ProblemCode[]]) })),
      example: problemExample(list[0]!, path),
    } },
  }]));
}

function successResponses(description: RouteDescription): ZodOpenApiResponsesObject {
  return Object.fromEntries(Object.entries(description.responses).map(([status, answer]) => {
    const { description: text, mediaType = 'application/json', schema, example } = typeof answer === 'string' ? { description: answer } : answer;
    if (status === '204' || status === '304') return [status, { description: text }];
    const body = schema ?? (mediaType === 'application/json' ? { type: 'object' as const } : { type: 'string' as const });
    return [status, { description: text, content: { [mediaType]: { schema: body, ...(example === undefined ? {} : { example }) } } }];
  }));
}

/** The path's parameters: the description's, or each :name of the path as a string. */
function pathParams(path: string, description: RouteDescription): z.ZodObject | undefined {
  if (description.params) return description.params;
  const names = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  return names.length === 0 ? undefined : z.object(Object.fromEntries(names.map((name) => [name, z.string()])));
}

function operation(route: AppRoute & { description: RouteDescription }): ZodOpenApiOperationObject {
  const { description, roles, path } = route;
  const forRoles = roles ? `\n\nRoles: ${roles.join(', ')}.` : '';
  const params = pathParams(path, description);
  const headers = {
    ...(description.idempotent ? { 'Idempotency-Key': IDEMPOTENCY_KEY } : {}),
    ...description.headers?.shape,
  };
  const body = description.body
    ? { 'application/json': { schema: description.body, ...(description.example === undefined ? {} : { example: description.example }) } }
    : description.upload ? { [description.upload.mediaType]: { schema: { type: 'string' as const, description: description.upload.description } } } : undefined;
  return {
    summary: description.summary,
    ...(description.description || forRoles ? { description: `${description.description ?? description.summary}${forRoles}` } : {}),
    tags: [tagOf(path)],
    security: security[description.caller],
    ...(roles ? { 'x-mykey-roles': roles } : {}),
    requestParams: {
      ...(params ? { path: params } : {}),
      ...(description.query ? { query: description.query } : {}),
      ...(Object.keys(headers).length > 0 ? { header: z.object(headers) } : {}),
    },
    ...(body ? { requestBody: { required: true, content: body } } : {}),
    responses: { ...successResponses(description), ...problemResponses(problemsOf(route), path) },
  };
}

/** The part of the API a path belongs to: its first segment after /api/v1/ ("health" for the probes). */
function tagOf(path: string): string {
  return /^\/api\/v1\/([^/]+)/.exec(path)?.[1] ?? 'health';
}

/** The OpenAPI 3.1 document of every described route of `app`; an undescribed one is left out (the openapi suite names it). */
export function openApiDocument(app: Koa): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of appRoutes(app)) {
    if (!route.description) continue;
    const item = (paths[openApiPath(route.path)] ??= {});
    item[route.method.toLowerCase() as 'get'] = operation({ ...route, description: route.description });
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'MyKey platform API',
      version: '1',
      description: 'The HTTP API of the MyKey platform: the municipal and shop consoles (staff), reader agents (devices), partners and town services\' own systems. Every failure is an application/problem+json document; every mutating call of staff and devices takes an Idempotency-Key. Generated from the routes\' own schemas (docs/api.md).',
    },
    paths,
    components: { securitySchemes },
  });
}
