// @ts-check
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      '.scratch/**',
      '.tmp/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
  {
    // Layering rules from docs/architecture.md: the distributor never reaches into
    // storage/ or node/, the protocol never into transport/, the CLI only the public API.
    files: ['src/distributor/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['**/storage/**', '**/node/**'] }],
    },
  },
  {
    files: ['src/protocol/**', 'src/model/**', 'src/scheduling/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/transport/**', '**/node/**', '**/distributor/**', '**/storage/**'] },
      ],
    },
  },
  {
    files: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '../distributor/**',
            '../node/**',
            '../storage/**',
            '../transport/**',
            '../protocol/**',
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: false, project: null },
    },
  },
  {
    // The dashboard runs in the browser (served as is, no build step).
    files: ['dashboard/**/*.js'],
    languageOptions: { globals: globals.browser },
  },
);
