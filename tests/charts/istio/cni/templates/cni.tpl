{{- /* Istio's platform and ambient profiles, as the real chart applies them. */ -}}
{{- $openshift := eq .Values.global.platform "openshift" }}
{{- $ambient := or .Values.ambient.enabled (eq .Values.profile "ambient") }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-cni-config
  namespace: {{ .Release.Namespace }}
  labels:
    app: istio-cni
    release: {{ .Release.Name }}
data:
  CURRENT_AGENT_VERSION: {{ .Chart.AppVersion | quote }}
  AMBIENT_ENABLED: {{ $ambient | quote }}
  AMBIENT_DNS_CAPTURE: {{ .Values.ambient.dnsCapture | quote }}
  CHAINED_CNI_PLUGIN: {{ ternary false .Values.chained $openshift | quote }}
  CNI_BIN_DIR: {{ ternary "/var/lib/cni/bin" .Values.cniBinDir $openshift | quote }}
  CNI_NET_DIR: {{ ternary "/etc/cni/multus/net.d" .Values.cniConfDir $openshift | quote }}
  CNI_PROVIDER: {{ ternary "multus" .Values.provider $openshift | quote }}
  EXCLUDE_NAMESPACES: {{ join "," .Values.excludeNamespaces | quote }}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: istio-cni-node
  namespace: {{ .Release.Namespace }}
  labels:
    k8s-app: istio-cni-node
    release: {{ .Release.Name }}
spec:
  selector:
    matchLabels:
      k8s-app: istio-cni-node
  template:
    metadata:
      labels:
        k8s-app: istio-cni-node
    spec:
      containers:
        - name: install-cni
          image: "{{ .Values.global.hub }}/{{ .Values.image }}:{{ .Values.global.tag }}{{ if .Values.global.variant }}-{{ .Values.global.variant }}{{ end }}"
          envFrom:
            - configMapRef:
                name: istio-cni-config
