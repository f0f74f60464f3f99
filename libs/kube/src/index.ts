export { KubeRequestError, KubeConfigError, statusOf } from './errors.ts';
export { loadKubeConnection, kubeConnection, endpointFromKubeconfig, inClusterEndpoint, SERVICE_ACCOUNT_DIR, type KubeConnection } from './kube-connection.ts';
export { kubeCall, type KubeCallOptions } from './request.ts';
export { createResourceInformer, type ResourceInformer, type ResourceInformerOptions, type InformerChange, type InformerStats, type ListPage } from './informer.ts';
export { Backoff } from './backoff.ts';
export { createKubeClient, kubePaths, kubeStatusOf, type KubeClient, type KubeObject, type ObjectMeta, type ServicePort, type Intercept, type Service, type Deployment, type TypedListPage } from './client.ts';
