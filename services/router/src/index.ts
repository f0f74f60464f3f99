export { createRouter, type Router, type RouterConfig, type RouterDeps } from './router.ts';
