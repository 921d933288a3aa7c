import {SECRET_ENV, resolveSecret} from '../../../src/config/secrets.js'
import {MorpheusError} from '../../../src/errors.js'

// The one precedence for secrets, used by every plugin's context.secrets and by `registry init`:
// the config's secrets.<name> (${ENV}-expanded) when set and not empty, else its environment variables in order.
const config = (secrets?: Record<string, unknown>) => ({
  path: '/tmp/morpheus-test/config.yaml',
  values: secrets === undefined ? {} : {secrets},
})

describe('resolveSecret: hetzner_api_token', () => {
  test('the environment variables it falls back to, in order', () => {
    expect(SECRET_ENV.hetzner_api_token).toEqual(['HCLOUD_TOKEN', 'HETZNER_API_TOKEN'])
  })

  test('the config wins over both environment variables', () => {
    const env = {HCLOUD_TOKEN: 'from-hcloud', HETZNER_API_TOKEN: 'from-hetzner'}
    expect(resolveSecret(config({hetzner_api_token: 'from-config'}), 'hetzner_api_token', env)).toBe('from-config')
  })

  test('a config value naming a variable is expanded, and that variable wins however it is called', () => {
    const env = {HCLOUD_TOKEN: 'from-hcloud', HETZNER_API_TOKEN: 'from-hetzner', MY_TOKEN: 'from-mine'}
    expect(resolveSecret(config({hetzner_api_token: '${MY_TOKEN}'}), 'hetzner_api_token', env)).toBe('from-mine')
    expect(resolveSecret(config({hetzner_api_token: '${HETZNER_API_TOKEN}'}), 'hetzner_api_token', env)).toBe('from-hetzner')
  })

  test('without the config: HCLOUD_TOKEN, then HETZNER_API_TOKEN', () => {
    expect(resolveSecret(config(), 'hetzner_api_token', {HCLOUD_TOKEN: 'from-hcloud', HETZNER_API_TOKEN: 'from-hetzner'})).toBe(
      'from-hcloud',
    )
    expect(resolveSecret(config({}), 'hetzner_api_token', {HETZNER_API_TOKEN: 'from-hetzner'})).toBe('from-hetzner')
    expect(
      resolveSecret(config({hetzner_api_token: null}), 'hetzner_api_token', {HCLOUD_TOKEN: '', HETZNER_API_TOKEN: 'from-hetzner'}),
    ).toBe('from-hetzner')
  })

  test('an empty config value falls through to the environment; alone it stays an empty (set) value', () => {
    expect(resolveSecret(config({hetzner_api_token: ''}), 'hetzner_api_token', {HCLOUD_TOKEN: 'from-hcloud'})).toBe('from-hcloud')
    expect(resolveSecret(config({hetzner_api_token: ''}), 'hetzner_api_token', {})).toBe('')
  })

  test('set nowhere: undefined', () => {
    expect(resolveSecret(config(), 'hetzner_api_token', {})).toBeUndefined()
    expect(resolveSecret(config({other: 'x'}), 'hetzner_api_token', {HCLOUD_TOKEN: ''})).toBeUndefined()
  })

  test('a config value naming an unset variable is a config error naming it, not a silent fallback', () => {
    let error: unknown
    try {
      resolveSecret(config({hetzner_api_token: '${NOT_SET_ANYWHERE}'}), 'hetzner_api_token', {HCLOUD_TOKEN: 'from-hcloud'})
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MorpheusError)
    expect((error as MorpheusError).kind).toBe('CONFIG')
    expect((error as MorpheusError).message).toMatch(/secrets\.hetzner_api_token refers to \$\{NOT_SET_ANYWHERE\}/)
  })
})

describe('resolveSecret: a secret without environment variables', () => {
  test('only the config gives it', () => {
    expect(resolveSecret(config({http_registry_token: 'abc'}), 'http_registry_token', {HCLOUD_TOKEN: 'x'})).toBe('abc')
    expect(resolveSecret(config(), 'http_registry_token', {HCLOUD_TOKEN: 'x', HTTP_REGISTRY_TOKEN: 'y'})).toBeUndefined()
  })
})
