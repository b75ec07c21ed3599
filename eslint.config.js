import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // Generated files and every folder .gitignore lists (test/build/lint.test.ts): the sandbox
  // an interrupted Stryker run leaves is a mutated copy of every source; linting it failed
  // npm test.
  {
    ignores: [
      'node_modules/',
      'visualizations/',
      'coverage/',
      'scratch/',
      'dist/',
      'reports/',
      '.stryker-tmp/',
      'test-artifacts/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Charts are deterministic specifications: no I/O, no clock, no environment (cf. Temporal workflows).
    files: ['machines/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'http', 'net', 'crypto', 'os', 'child_process'],
              message: 'machines/ must stay pure: no Node built-ins.',
            },
            {
              group: ['ioredis', 'ioredis-mock', 'express', '../src/*', '../../src/*'],
              message: 'machines/ may import only xstate and machines/shared.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'machines/ must not read the environment.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Time comes from events, not the clock.' },
      ],
    },
  },
);
