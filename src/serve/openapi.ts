// /openapi.json: the OpenAPI 3.1 description of the routes, made from the route table's zod
// schemas (the same objects that check the requests), so the published API and the checks agree.

import { z } from 'zod';

export interface RouteDoc {
  method: 'GET' | 'POST';
  /** Fastify's form: /v1/tasks/:task/predict. */
  url: string;
  summary: string;
  body?: z.ZodType;
  /** Status -> the answer's schema (JSON), or a description of a non-JSON answer. */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(routes: readonly RouteDoc[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const url = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const params = [...r.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    paths[url] ??= {};
    paths[url][r.method.toLowerCase()] = {
      summary: r.summary,
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, a]) => [
          status,
          {
            description: a.description,
            ...(a.schema ? { content: { [a.contentType ?? 'application/json']: { schema: jsonSchema(a.schema, 'output') } } } : {}),
            ...(!a.schema && a.contentType ? { content: { [a.contentType]: { schema: { type: 'string' } } } } : {}),
          },
        ]),
      ),
    };
  }
  return { openapi: '3.1.0', info, paths };
}
