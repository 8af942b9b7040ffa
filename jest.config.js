/**
 * got (and its helpers) ship as ES modules only. Node >= 20.19 loads them from CommonJS natively, but Jest's
 * module registry does not on Node 20, so those packages are transpiled to CommonJS for the tests.
 */
const esmOnlyPackages = [
  'got',
  '@sindresorhus/is',
  'byte-counter',
  'cacheable-lookup',
  'cacheable-request',
  'get-stream',
  '@sec-ant',
  'is-stream',
  'keyv',
  '@keyv',
  'mimic-response',
  'normalize-url',
  'responselike',
  'lowercase-keys',
  'decompress-response',
  'form-data-encoder',
  'p-cancelable',
  '@electric-sql/pglite',
];
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  setupFiles: ['<rootDir>/test/helpers/quiet-temporal-logs.ts'],
  transform: {
    '/node_modules/@electric-sql/pglite/.+\\.c?js$': '<rootDir>/jest.pglite-transform.config.js',
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    '^.+\\.js$': [
      'ts-jest',
      {
        tsconfig: {
          allowJs: true,
          module: 'commonjs',
          target: 'es2022',
          esModuleInterop: true,
          isolatedModules: true,
        },
      },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnlyPackages.join('|')})/)`],
};
