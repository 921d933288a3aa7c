import {expandEnv} from './config.js'

/**
 * Environment variables that stand in for a secret the config does not set, in the order they are read.
 * The one precedence of the whole CLI, for plugins (context.secrets) and the core alike:
 *   1. `secrets.<name>` in the config, `${ENV}`-expanded, when it is set and not empty;
 *   2. else the first of these variables that is set and not empty.
 */
export const SECRET_ENV: Readonly<Record<string, readonly string[]>> = {
  hetzner_api_token: ['HCLOUD_TOKEN', 'HETZNER_API_TOKEN'],
}

/** One secret as the precedence above gives it; undefined when neither the config nor the environment has it. */
export function resolveSecret(
  config: {path: string; values: {secrets?: Record<string, unknown> | null}},
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const all = config.values.secrets ?? {}
  const configured = all[name] === undefined || all[name] === null ? '' : String(expandEnv(all[name], config.path, env, `secrets.${name}`))
  if (configured) return configured
  for (const variable of SECRET_ENV[name] ?? []) {
    if (env[variable]) return env[variable]
  }
  return all[name] === undefined || all[name] === null ? undefined : configured
}
