// Jest's console wrapper decorates output; oclif and our code write plain lines.
import console from 'node:console'

globalThis.console = console
