/**
 * got ships ES modules with its types behind `exports`, which the project's `node10` module resolution does not
 * read. This re-exports the same declarations under the package name; at run time Node >= 20.19 (and Jest, which
 * transpiles got) load the package itself.
 */
declare module 'got' {
  export * from 'got/dist/source/index';
  export { default } from 'got/dist/source/index';
}
