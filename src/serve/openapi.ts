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

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A self-contained HTML page of the OpenAPI document (no scripts, nothing fetched): each route, its body's and answers' schemas. */
export function docsPage(doc: Record<string, unknown>): string {
  const info = doc.info as { title: string; version: string };
  const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
  const json = (v: unknown) => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;
  const sections = Object.entries(paths).flatMap(([url, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const body = (op.requestBody as { content: Record<string, { schema: unknown }> } | undefined)?.content['application/json'].schema;
      const answers = Object.entries(op.responses as Record<string, { description: string; content?: Record<string, { schema: unknown }> }>).map(
        ([status, a]) =>
          `<li><b>${esc(status)}</b> ${esc(a.description)}${a.content?.['application/json'] ? `<details><summary>schema</summary>${json(a.content['application/json'].schema)}</details>` : ''}</li>`,
      );
      return (
        `<section><h2><code>${esc(method.toUpperCase())} ${esc(url)}</code></h2><p>${esc(String(op.summary))}</p>` +
        (body ? `<h3>body</h3><details open><summary>schema</summary>${json(body)}</details>` : '') +
        `<h3>answers</h3><ul>${answers.join('')}</ul></section>`
      );
    }),
  );
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>${esc(info.title)}</title>` +
    '<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}pre{background:#f4f4f4;padding:.5rem;overflow:auto}</style></head>' +
    `<body><h1>${esc(info.title)} <small>model ${esc(info.version)}</small></h1><p>The same description as JSON: <a href="/openapi.json">/openapi.json</a>.</p>` +
    `${sections.join('')}</body></html>\n`
  );
}
