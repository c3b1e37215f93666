{{- define "istiod.image" -}}
{{ .Values.global.hub }}/{{ .Values.image }}:{{ .Values.global.tag }}{{ if .Values.global.variant }}-{{ .Values.global.variant }}{{ end }}
{{- end -}}
{{- define "istiod.clusterID" -}}
{{ .Values.global.multiCluster.clusterName | default "Kubernetes" }}
{{- end -}}
