apiVersion: v1
kind: ServiceAccount
metadata:
  name: istiod
  namespace: {{ .Release.Namespace }}
  labels:
    app: istiod
    release: {{ .Release.Name }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: {{ .Release.Namespace }}
  labels:
    app: istiod
    release: {{ .Release.Name }}
data:
  meshNetworks: "networks: {}"
  mesh: |-
    {{- $mesh := dict "trustDomain" "cluster.local" "rootNamespace" .Release.Namespace }}
    {{- if .Values.global.meshID }}{{ $_ := set $mesh "defaultConfig" (dict "meshId" .Values.global.meshID) }}{{ end }}
    {{- toYaml (mergeOverwrite $mesh .Values.meshConfig) | nindent 4 }}
---
apiVersion: v1
kind: Service
metadata:
  name: istiod
  namespace: {{ .Release.Namespace }}
  labels:
    app: istiod
    istio: pilot
    release: {{ .Release.Name }}
spec:
  selector:
    app: istiod
  ports:
    - {name: grpc-xds, port: 15010, protocol: TCP}
    - {name: https-dns, port: 15012, protocol: TCP}
    - {name: https-webhook, port: 443, targetPort: 15017, protocol: TCP}
    - {name: http-monitoring, port: 15014, protocol: TCP}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
  namespace: {{ .Release.Namespace }}
  labels:
    app: istiod
    istio: pilot
    release: {{ .Release.Name }}
    istio.io/rev: {{ .Values.revision | default "default" }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: istiod
  template:
    metadata:
      labels:
        app: istiod
        istio: pilot
    spec:
      serviceAccountName: istiod
      containers:
        - name: discovery
          image: {{ include "istiod.image" . | quote }}
          ports:
            - {containerPort: 15010, protocol: TCP}
            - {containerPort: 15012, protocol: TCP}
          env:
            - name: CLUSTER_ID
              value: {{ include "istiod.clusterID" . | quote }}
            - name: ISTIO_META_NETWORK
              value: {{ .Values.global.network | quote }}
            - name: CA_TRUSTED_NODE_ACCOUNTS
              value: "{{ .Values.trustedZtunnelNamespace | default .Release.Namespace }}/{{ .Values.trustedZtunnelName | default "ztunnel" }}"
            {{- if eq .Values.profile "ambient" }}
            - name: PILOT_ENABLE_AMBIENT
              value: "true"
            {{- end }}
            {{- if .Values.platforms.peering.enabled }}
            - name: PEERING_ENABLED
              value: "true"
            {{- end }}
            {{- range $name, $value := .Values.env }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
