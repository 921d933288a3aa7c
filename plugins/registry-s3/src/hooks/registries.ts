import type {RegistryDescriptor} from 'morpheus/plugin-api'

/**
 * Tiny on purpose: it runs for every command that lists registry backends. It imports nothing
 * but types; the AWS SDK (about 185 ms to import) is loaded by load() only, when `registry.type`
 * is s3 and a command actually uses the registry.
 */
export default async function registries(): Promise<RegistryDescriptor[]> {
  return [
    {
      apiVersion: 2,
      capabilities: {remote: true},
      configSchema: {
        endpoint: {
          description: 'S3 endpoint URL (leave out for AWS S3; e.g. https://<account>.r2.cloudflarestorage.com, http://minio.example:9000)',
          type: 'string',
        },
        region: {
          description:
            "Region (AWS: the bucket's region; R2: auto; MinIO: us-east-1). Default: AWS_REGION, the AWS profile, else us-east-1 with an endpoint",
          type: 'string',
        },
        bucket: {description: 'Bucket holding the registry (must exist)', type: 'string'},
        key: {
          default: 'morpheus/registry.json',
          description: 'Object key of the registry document; forest secrets live beside it under <key>.secrets/',
          type: 'string',
        },
        force_path_style: {
          default: false,
          description: 'Address the bucket as <endpoint>/<bucket> instead of <bucket>.<endpoint> (MinIO and most self-hosted servers)',
          type: 'boolean',
        },
        access_key_id: {
          description: 'Access key id, best as ${ENV}; leave out both keys to use the standard AWS credential chain',
          secret: true,
          type: 'string',
        },
        secret_access_key: {description: 'Secret access key, best as ${ENV}', secret: true, type: 'string'},
        session_token: {description: 'Session token for temporary credentials, best as ${ENV}', secret: true, type: 'string'},
        timeout_seconds: {default: 30, description: 'Time limit of one request to the endpoint', minimum: 1, type: 'integer'},
      },
      load: async () => (await import('../s3-registry.js')).createS3Registry,
      name: 's3',
      summary: 'The registry document in an S3 bucket (AWS S3, Cloudflare R2, MinIO), written with conditional PUTs',
    },
  ]
}
