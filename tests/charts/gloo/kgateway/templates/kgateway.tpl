apiVersion: v1
kind: ServiceAccount
metadata:
  name: kgateway
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: kgateway
    release: {{ .Release.Name }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kgateway
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: kgateway
    release: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: kgateway
  template:
    metadata:
      labels:
        app.kubernetes.io/name: kgateway
    spec:
      serviceAccountName: kgateway
      containers:
        - name: kgateway
          image: "{{ .Values.controller.image.registry }}/{{ .Values.controller.image.repository }}:{{ .Values.controller.image.tag }}"
          env:
            {{- range $name, $value := .Values.controller.extraEnv }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            - name: KGW_GATEWAY_CLASS
              value: {{ .Values.gatewayClass.name | quote }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: {{ .Values.gatewayClass.name }}
  labels:
    release: {{ .Release.Name }}
spec:
  controllerName: kgateway.dev/kgateway
