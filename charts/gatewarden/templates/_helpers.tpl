{{/* Labels of every object of the chart. */}}
{{- define "gatewarden.labels" -}}
app.kubernetes.io/name: gatewarden
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The Pods' selector: stable across upgrades. */}}
{{- define "gatewarden.selector" -}}
app.kubernetes.io/name: gatewarden
{{- end }}
