// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.freight/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Only src/config reads process.env (DESIGN.md §1).',
        },
      ],
    },
  },
  {
    files: ['src/config/**', 'test/**', 'bench/**', 'scripts/**', 'vitest.config.ts', 'bin/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // Tests read JSON response bodies whose shape the assertions check.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Drivers are imported only inside connectors/ (and the store adapter for its own database).
    files: [
      'src/domain/**',
      'src/engine/**',
      'src/operations/**',
      'src/http/**',
      'src/mcp/**',
      'src/cli/**',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['pg', 'pg-*', 'mysql2', 'mysql2/*', 'better-sqlite3'],
              message: 'Drivers live in src/connectors/ (DESIGN.md §1).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/domain/**', 'src/engine/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['pg', 'pg-*', 'mysql2', 'mysql2/*', 'better-sqlite3', 'kysely'],
              message: 'The engine depends only on domain + connector interfaces.',
            },
            {
              group: [
                '**/store/**',
                '**/queue/**',
                '**/http/**',
                '**/mcp/**',
                '**/cli/**',
                '**/connectors/*/**',
              ],
              message:
                'domain/ and engine/ import nothing from store/ queue/ http/ mcp/ cli/ or a concrete connector.',
            },
          ],
        },
      ],
    },
  },
);
