export { createEdge, type Edge, type EdgeConfig, type EdgeDeps } from './edge.ts';
export { errorResponse } from './pages.ts';
