// esbuild bundles CSS imported from TypeScript (main.ts imports style.css).
declare module "*.css";
