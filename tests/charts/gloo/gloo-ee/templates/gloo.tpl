{{- if .Values.license_key }}
apiVersion: v1
kind: Secret
metadata:
  name: license
  namespace: {{ .Release.Namespace }}
  labels:
    app: gloo
    release: {{ .Release.Name }}
type: Opaque
data:
  license-key: {{ .Values.license_key | b64enc | quote }}
---
{{- end }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: gloo
  namespace: {{ .Release.Namespace }}
  labels:
    app: gloo
    release: {{ .Release.Name }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gloo
  namespace: {{ .Release.Namespace }}
  labels:
    app: gloo
    gloo: gloo
    release: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      gloo: gloo
  template:
    metadata:
      labels:
        gloo: gloo
    spec:
      serviceAccountName: gloo
      containers:
        - name: gloo
          image: "{{ .Values.gloo.gloo.deployment.image.repository }}:{{ .Values.gloo.gloo.deployment.image.tag }}"
          env:
            - name: GG_K8S_GW_CONTROLLER
              value: {{ .Values.gloo.kubeGateway.enabled | quote }}
            - name: DISCOVERY_ENABLED
              value: {{ .Values.gloo.discovery.enabled | quote }}
            {{- with .Values.gloo.gloo.deployment.customEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
{{- if .Values.gloo.kubeGateway.enabled }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: gloo-gateway
  labels:
    app: gloo
    release: {{ .Release.Name }}
spec:
  controllerName: solo.io/gloo-gateway
{{- end }}
