{{/*
Names and labels, after the conventions of prometheus-community's
prometheus-node-exporter chart.
*/}}

{{/* Expand the name of the chart. */}}
{{- define "bmp-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated at 63 characters (DNS label limit). If the
release name contains the chart name it is used as the full name.
*/}}
{{- define "bmp-agent.fullname" -}}
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

{{/* Chart name and version, as used by the chart label. */}}
{{- define "bmp-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Namespace: namespaceOverride or the release namespace. */}}
{{- define "bmp-agent.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "bmp-agent.labels" -}}
helm.sh/chart: {{ include "bmp-agent.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: metrics
app.kubernetes.io/part-of: {{ include "bmp-agent.name" . }}
{{ include "bmp-agent.selectorLabels" . }}
{{- with .Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels. */}}
{{- define "bmp-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bmp-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The name of the service account to use. */}}
{{- define "bmp-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bmp-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: [registry/]repository[:tag][@digest]; tag defaults to the appVersion. */}}
{{- define "bmp-agent.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/* Where the config file is mounted in the container. */}}
{{- define "bmp-agent.configPath" -}}
/etc/bmp-agent/config.yaml
{{- end }}

{{/*
The agent's config.yaml: .Values.config, with bmp.listen and http.listen
derived from .Values.listenAddress and .Values.ports unless config sets them,
and with the BIRD socket sources of calico-node when .Values.calico.enabled.
*/}}
{{- define "bmp-agent.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $bmp := get $cfg "bmp" | default dict }}
{{- if not (hasKey $bmp "listen") }}
{{- $_ := set $bmp "listen" (list (printf "%s:%d" (include "bmp-agent.hostPort" .Values.listenAddress) (int .Values.ports.bmp))) }}
{{- end }}
{{- $_ := set $cfg "bmp" $bmp }}
{{- $http := get $cfg "http" | default dict }}
{{- if not (hasKey $http "listen") }}
{{- $_ := set $http "listen" (printf "%s:%d" (include "bmp-agent.hostPort" .Values.listenAddress) (int .Values.ports.http)) }}
{{- end }}
{{- $_ := set $cfg "http" $http }}
{{- if .Values.calico.enabled }}
{{- $sources := get $cfg "sources" | default list }}
{{- range .Values.calico.sockets }}
{{- $sources = append $sources (dict "type" "bird" "socket" (printf "%s/%s" (trimSuffix "/" $.Values.calico.socketDir) .) "interval" $.Values.calico.interval) }}
{{- end }}
{{- $_ := set $cfg "sources" $sources }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* An address as the host part of HOST:PORT (IPv6 in brackets). */}}
{{- define "bmp-agent.hostPort" -}}
{{- if contains ":" . }}[{{ . }}]{{ else }}{{ . }}{{ end }}
{{- end }}
