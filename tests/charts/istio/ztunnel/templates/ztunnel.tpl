{{- $hub := .Values.hub | default .Values.global.hub }}
{{- $tag := .Values.tag | default .Values.global.tag }}
{{- $variant := .Values.variant | default .Values.global.variant }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Values.resourceName }}
  namespace: {{ .Release.Namespace }}
  labels:
    app: ztunnel
    release: {{ .Release.Name }}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Values.resourceName }}
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: ztunnel
    release: {{ .Release.Name }}
spec:
  selector:
    matchLabels:
      app: ztunnel
  template:
    metadata:
      labels:
        app: ztunnel
        sidecar.istio.io/inject: "false"
    spec:
      serviceAccountName: {{ .Values.resourceName }}
      containers:
        - name: istio-proxy
          image: "{{ $hub }}/{{ .Values.image }}:{{ $tag }}{{ if $variant }}-{{ $variant }}{{ end }}"
          env:
            - name: CA_ADDRESS
              value: "istiod.{{ .Values.istioNamespace }}.svc:15012"
            - name: XDS_ADDRESS
              value: "istiod.{{ .Values.istioNamespace }}.svc:15012"
            - name: NETWORK
              value: {{ .Values.network | default .Values.global.network | quote }}
            - name: ISTIO_META_CLUSTER_ID
              value: {{ .Values.multiCluster.clusterName | default "Kubernetes" | quote }}
            {{- range $name, $value := .Values.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
