// A route's description lives in the route itself: `described({...})` is the first middleware of
// every route (docs/api.md). The OpenAPI document (openapi/document.ts) reads it from the
// router's layers, and the route reads its JSON body and its Idempotency-Key through it
// (readJson and idempotencyKey refuse a schema or a key the description does not name), so the
// document and what the route does cannot drift apart.
import type { Context, Middleware, Next } from 'koa';
import type { z } from 'zod';
import type { ProblemCode } from '@mykey/contracts/problem-kinds.ts';

/** Who calls a route, and so how it proves who it is (the document's security schemes). */
export type Caller = 'anyone' | 'staff' | 'resident' | 'device' | 'partner' | 'service';

/** A response that is not JSON (a CSV file, NDJSON results), or JSON of a known shape. */
export interface ResponseDescription {
  description: string;
  /** application/json unless named. */
  mediaType?: string;
  schema?: z.ZodType;
  example?: unknown;
}

export interface RouteDescription {
  /** One line: what the route does. */
  summary: string;
  /** More, when one line is not enough (where the docs say more, their page). */
  description?: string;
  caller: Caller;
  /** The JSON body: the very schema the handler passes to readJson. */
  body?: z.ZodType;
  /** A body that is not JSON (a CSV file, an NDJSON batch): its media type and what it holds. */
  upload?: { mediaType: string; description: string };
  /** A request body as a caller would send it; checked by the route's own schema in the tests. */
  example?: unknown;
  /** The query string's parameters. */
  query?: z.ZodObject;
  /** Request headers the route reads beyond those of its caller and its Idempotency-Key. */
  headers?: z.ZodObject;
  /** The path's parameters, when more can be said than "a string" (each :name of the path is one). */
  params?: z.ZodObject;
  /** The call takes an Idempotency-Key (http/idempotency.ts); the route reads it through idempotencyKey. */
  idempotent?: true;
  /** The answers when it goes well, by status: a description, or a description with its body. */
  responses: Record<number, string | ResponseDescription>;
  /**
   * The problems this route itself answers with. Those of its kind of caller, its body, its
   * Idempotency-Key and its roles are added by the document; these are the route's own.
   */
  problems?: ProblemCode[];
}

const DESCRIPTION = Symbol('route description');

type DescribedMiddleware = Middleware & { [DESCRIPTION]: RouteDescription };

/** The route's first middleware: its description, for the document and for the route's readers. */
export function described(description: RouteDescription): Middleware {
  const middleware = async (ctx: Context, next: Next) => {
    ctx.state.route = description;
    await next();
  };
  return Object.assign(middleware, { [DESCRIPTION]: description });
}

/** The description among a route's middleware, if it has one. */
export function descriptionIn(stack: readonly unknown[]): RouteDescription | undefined {
  return (stack.find((m) => typeof m === 'function' && DESCRIPTION in m) as DescribedMiddleware | undefined)?.[DESCRIPTION];
}

/** The running route's description; a route without one is a programming error (500), named. */
export function routeDescription(ctx: Context): RouteDescription {
  const description = (ctx.state as { route?: RouteDescription }).route;
  if (!description) throw new Error(`${ctx.method} ${ctx._matchedRoute ?? ctx.path} has no described({...}) as its first middleware (docs/api.md)`);
  return description;
}
