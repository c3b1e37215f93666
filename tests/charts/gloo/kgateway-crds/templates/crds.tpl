apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gatewayparameters.gateway.kgateway.dev
  labels:
    release: {{ .Release.Name }}
spec:
  group: gateway.kgateway.dev
  names:
    kind: GatewayParameters
    listKind: GatewayParametersList
    plural: gatewayparameters
    singular: gatewayparameters
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
