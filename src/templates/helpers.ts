import type Handlebars from 'handlebars'

import {hostPort} from '../net.js'
import {jsonText, natsQuote, shQuote, systemdQuote, yamlBlock, yamlQuote} from './escape.js'

/**
 * The helpers every template gets. Templates are compiled with `noEscape` (nothing is HTML), so a
 * value must go through the helper of its context:
 *
 * | context | helper | example |
 * |---|---|---|
 * | YAML scalar | `yaml` | `path: {{yaml file.path}}` |
 * | YAML block (a file's text) | `#yamlblock COLUMN` | `content: {{#yamlblock 4}}...{{/yamlblock}}` |
 * | shell word | `sh` | `URL={{sh url}}` |
 * | JSON | `json` (`json value 2` pretty) | `{"id": {{json node.id}}}` |
 * | systemd word | `systemd` (`systemd value "exec"` in ExecStart=) | `Environment={{systemd (concat "A=" a)}}` |
 * | nats.conf string | `nats` | `server_name: {{nats node.id}}` |
 */
export function registerHelpers(hb: typeof Handlebars): void {
  hb.registerHelper('json', (value: unknown, indent: unknown) => jsonText(value, typeof indent === 'number' ? indent : undefined))
  hb.registerHelper('yaml', (value: unknown) => yamlQuote(value))
  hb.registerHelper('sh', (value: unknown) => shQuote(value))
  hb.registerHelper('nats', (value: unknown) => natsQuote(value))
  hb.registerHelper('systemd', (value: unknown, mode: unknown) => systemdQuote(value, {dollar: mode === 'exec'}))
  hb.registerHelper('yamlblock', function (this: unknown, column: number, options: Handlebars.HelperOptions) {
    return yamlBlock(options.fn(this), column)
  })
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''))
  hb.registerHelper('hostport', (host: string, port: number) => hostPort(host, port))
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b)
  hb.registerHelper('indent', (spaces: number, text: string) =>
    String(text)
      .split('\n')
      .map((l) => (l ? ' '.repeat(spaces) + l : l))
      .join('\n'),
  )
}
