/**
 * PGlite's CommonJS build loads Node built-ins with import(), which Jest's module sandbox cannot run without
 * --experimental-vm-modules. This transform rewrites those calls to process.getBuiltinModule (Node >= 20.16).
 */
const { createHash } = require('node:crypto');
const { isBuiltin } = require('node:module');

const dynamicImport = /\bimport\((["'])([\w:/.-]+)\1\)/g;

module.exports = {
  process(source) {
    return {
      code: source.replace(dynamicImport, (call, quote, name) =>
        isBuiltin(name) ? `Promise.resolve(process.getBuiltinModule(${quote}${name}${quote}))` : call,
      ),
    };
  },
  getCacheKey(source, filename) {
    return createHash('sha256')
      .update('pglite-transform-1\0')
      .update(filename)
      .update('\0')
      .update(source)
      .digest('hex');
  },
};
