// A container's config files (a balancer's upstream file, what its hooks wrote), read through its
// host's driver: the list, or one file with `?path=`.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context';
import { route } from '../route';
import { RefParams } from '../schemas';

const FilesQuery = Type.Object(
  { path: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'an absolute path inside the container, one of its `paths`' })) },
  { additionalProperties: false },
);

const FilesResource = Type.Object({
  container: Type.String(),
  host: Type.String({ description: 'the host the files were read on' }),
  paths: Type.Array(Type.String(), { description: 'every config file the container exposes, sorted' }),
  file: Type.Optional(Type.Object({ path: Type.String(), content: Type.String() })),
});

export function fileRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, {
    method: 'GET',
    url: '/v1/containers/:ref/files',
    role: 'viewer',
    tag: 'containers',
    summary:
      "A container's config files, read through its host's driver: their paths, and with `path` that file's content. A path the container does not expose is 404 naming it (and the files it has); a malformed path 400; a container on no host 409",
    params: RefParams,
    querystring: FilesQuery,
    response: { 200: FilesResource },
    handler: async (req) => ctx.client.containers.files(await ctx.name('container', req.params.ref), req.query.path),
  });
}
