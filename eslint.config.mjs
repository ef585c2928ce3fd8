// Type-aware lint (typescript-eslint) plus Nx module boundaries that forbid, not merely describe:
// apps never import apps; domain libs see only contracts and utils; contracts see nothing else.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';

const only = (sourceTag, tags) => ({ sourceTag, onlyDependOnLibsWithTags: tags });

const depConstraints = [
  only('type:app', [
    'type:feature',
    'type:domain',
    'type:data-access',
    'type:contracts',
    'type:util',
  ]),
  only('type:feature', ['type:domain', 'type:data-access', 'type:contracts', 'type:util']),
  only('type:data-access', ['type:data-access', 'type:contracts', 'type:util']),
  only('type:domain', ['type:domain', 'type:contracts', 'type:util']),
  only('type:util', ['type:util', 'type:contracts']),
  only('type:contracts', []),
  only('type:testing', ['type:data-access', 'type:contracts', 'type:util', 'type:testing']),
  only('type:tool', [
    'type:domain',
    'type:data-access',
    'type:contracts',
    'type:util',
    'type:testing',
  ]),
  only('type:e2e', [
    'type:testing',
    'type:contracts',
    'type:util',
    'type:data-access',
    'type:tool',
  ]),
  only('scope:shared', ['scope:shared']),
  only('scope:registry', ['scope:shared', 'scope:registry']),
  only('scope:ingestion', ['scope:shared', 'scope:ingestion']),
  only('scope:coverage-monitor', ['scope:shared', 'scope:coverage-monitor']),
  only('scope:profile-orchestrator', ['scope:shared', 'scope:profile-orchestrator']),
  only('scope:billing', ['scope:shared', 'scope:billing']),
  only('scope:tools', ['scope:shared', 'scope:tools']),
  only('scope:e2e', ['scope:shared', 'scope:tools']),
];

// Tests of an app or lib may also use the testing lib; production code may not.
const testDepConstraints = depConstraints.map((c) =>
  c.sourceTag.startsWith('type:') && c.sourceTag !== 'type:contracts'
    ? { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'type:testing'] }
    : c,
);

const boundaries = (constraints) => [
  'error',
  { enforceBuildableLibDependency: false, allow: [], depConstraints: constraints },
];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'tmp/**',
      '.stack/**',
      '.sim/**',
      '.nx/**',
      'coverage/**',
      '**/*.cjs',
      '**/*.mjs',
      '**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../../*', '@meterlink/*/src/*'],
              message:
                'Import other folders through their @meterlink/* alias (STYLE.md: public entry points only).',
            },
          ],
        },
      ],
      '@nx/enforce-module-boundaries': boundaries(depConstraints),
    },
  },
  {
    // test-support/ folders hold fixtures and harnesses that only specs import.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/test-support/**/*.ts'],
    rules: {
      '@typescript-eslint/unbound-method': 'off',
      '@nx/enforce-module-boundaries': boundaries(testDepConstraints),
    },
  },
);
