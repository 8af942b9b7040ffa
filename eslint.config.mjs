// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'data/**',
      'coverage/**',
      'reports/**',
      'bin/**',
      '*.config.js',
      '*.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: activities are imported as types only, and no
    // adapter, config, store or Node built-in may reach the bundle.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'Workflows must stay deterministic: no Node built-ins.' },
            {
              group: [
                '**/adapters/**',
                '**/config/**',
                '**/store/**',
                '**/sandbox/**',
                '**/receiver/**',
                '**/cli/**',
              ],
              message: 'Workflows must not import I/O modules.',
            },
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Import activities as types only (import type) and call them through proxyActivities.',
            },
          ],
          paths: [
            'fs',
            'path',
            'http',
            'https',
            'net',
            'crypto',
            'os',
            'child_process',
            'got',
            '@electric-sql/pglite',
            '@temporalio/client',
            '@temporalio/worker',
            '@temporalio/activity',
          ].map((name) => ({ name, message: 'Not allowed in workflow code (determinism).' })),
        },
      ],
    },
  },
);
