import {MorpheusCommand} from '../ui/base-command.js'

export interface VersionResult {
  /** Name and version, platform and Node, as `--version` prints them. */
  user_agent: string
  version: string
  node: string
  platform: string
  arch: string
}

export default class Version extends MorpheusCommand {
  static summary = 'Print the version (the same as --version and -v).'
  static examples = ['<%= config.bin %> version', '<%= config.bin %> version --json']

  async run(): Promise<VersionResult> {
    await this.parse(Version)
    const {arch, platform, userAgent, version} = this.config
    if (!this.jsonEnabled()) this.log(userAgent)
    return {arch, node: process.version, platform, user_agent: userAgent, version}
  }
}
