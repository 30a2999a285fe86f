{{/* The chart's name, or nameOverride. */}}
{{- define "agentgroup-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource's name: RELEASE-agentgroup-operator, or the
release name alone when it already says agentgroup-operator.
*/}}
{{- define "agentgroup-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agentgroup-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "agentgroup-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selects the manager Pods. */}}
{{- define "agentgroup-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentgroup-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentgroup-operator.serviceAccountName" -}}
{{ include "agentgroup-operator.fullname" . }}
{{- end }}

{{/* repository[:tag][@digest]; the tag defaults to the chart's appVersion. */}}
{{- define "agentgroup-operator.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
The rules of a Role or ClusterRole in config/, from the chart's copy of it
(files/config/..., written by `make chart`): one source of truth for every
role the chart installs. Called with (list $ "config/rbac/role.yaml").
*/}}
{{- define "agentgroup-operator.rulesOf" -}}
{{- $root := index . 0 }}
{{- $path := printf "files/%s" (index . 1) }}
{{- $role := $root.Files.Get $path | fromYaml }}
{{- if not $role.rules }}
{{- fail (printf "%s has no rules: run `make chart`" $path) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/* The manager's ServiceAccount as a subject of a binding. */}}
{{- define "agentgroup-operator.subjects" -}}
- kind: ServiceAccount
  name: {{ include "agentgroup-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}
