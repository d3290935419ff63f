// The walls between the workspaces (docs/architecture.md#where-code-lives), checked by
// `npm run typecheck` (scripts/typecheck.ts) with dependency-cruiser; scripts/test/walls.test.ts
// shows each rule failing on a file that breaks it.
//
// Symlinks are kept (preserveSymlinks), so an import of a workspace by its package name resolves
// to node_modules/@mykey/<name>/… and is checked against the importer's package.json like any
// npm package. A path below is therefore matched in both of its spellings.

/** A workspace's folder, as a regular expression matching it by path or by its node_modules link. */
const workspace = (folder, name) => `(^${folder}/|^node_modules/@mykey/${name}/)`;
const CONTRACTS = workspace('packages/contracts', 'contracts');
const DEV_TOOLS = workspace('packages/dev-tools', 'dev-tools');
const TESTS = '(^|/)(backend|reader-agent|packages/[^/]+|node_modules/@mykey/[^/]+)/(test|bench)/';
/** The card simulator is a development tool that stays beside the reader agent it plays the card for. */
const CARD_SIMULATOR = '^reader-agent/src/simulator/';
const PRODUCTION = '^(backend/src|reader-agent/src|frontend/src|packages/contracts/src)/';
/** The workspaces' folders; the root package (scripts/, seeds/, knexfile.ts) is everything else. */
const WORKSPACE_FOLDER = '^(backend|frontend|reader-agent|packages/[^/]+)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-relative-import-across-workspaces',
      comment: 'Another workspace is imported by its package name (@mykey/backend/…, @mykey/dev-tools/…), never by a relative path.',
      severity: 'error',
      from: { path: WORKSPACE_FOLDER },
      to: { dependencyTypes: ['local'], pathNot: ['^$1/'] },
    },
    {
      name: 'no-relative-import-from-root-into-workspaces',
      comment: 'The root package (scripts/, seeds/, knexfile.ts) imports the workspaces by package name. '
        + 'scripts/bootstrap.mjs alone reaches debian.mjs by path: it runs before npm install has linked any workspace.',
      severity: 'error',
      from: { pathNot: [WORKSPACE_FOLDER, '^node_modules/', '^scripts/bootstrap\\.mjs$'] },
      to: { dependencyTypes: ['local'], path: WORKSPACE_FOLDER },
    },
    {
      name: 'contracts-import-nothing-of-ours',
      comment: 'What the backend, the reader agent and the console agree on depends on none of them.',
      severity: 'error',
      from: { path: CONTRACTS },
      to: { pathNot: [CONTRACTS, '^node_modules/(?!@mykey/)'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'production-not-to-dev-tools',
      comment: 'Production code (backend/src, reader-agent/src but its card simulator, frontend/src, contracts) never imports the development tools.',
      severity: 'error',
      from: { path: PRODUCTION, pathNot: CARD_SIMULATOR },
      to: { path: [DEV_TOOLS, CARD_SIMULATOR, '^(scripts|seeds)/'] },
    },
    {
      name: 'production-imports-only-contracts',
      comment: 'Of the other workspaces, production code (the backend, the reader agent, the console) imports only the contracts.',
      severity: 'error',
      from: { path: '^(backend|reader-agent|frontend)/src/', pathNot: CARD_SIMULATOR },
      to: { path: '^node_modules/@mykey/(?!contracts/)' },
    },
    {
      name: 'production-not-to-tests',
      comment: 'Production code never imports a test, a test helper or a benchmark.',
      severity: 'error',
      from: { path: PRODUCTION },
      to: { path: TESTS },
    },
    {
      name: 'production-not-to-dev-dependencies',
      comment: 'A package production code imports is a dependency, not a devDependency. The console is bundled, so everything it uses is a devDependency.',
      severity: 'error',
      from: { path: PRODUCTION, pathNot: ['^frontend/', CARD_SIMULATOR] },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-undeclared-package',
      comment: 'Each workspace declares in its package.json every package it imports, npm packages and @mykey workspaces alike (devDependencies for tests).',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-cycle-between-backend-features',
      comment: 'The backend\'s feature folders (backend/src/<feature>/) depend on each other one way.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^backend/src/[^/]+$' },
      to: { path: '^backend/src/[^/]+$', circular: true },
    },
    {
      name: 'no-circular',
      comment: 'No module imports itself through others.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^frontend/dist/' },
    preserveSymlinks: true,
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], mainFields: ['module', 'main', 'types'] },
  },
};
