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
{{- $registry := (.Values.global | default dict).imageRegistry | default .Values.image.registry }}
{{- if $registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" $registry) .Values.image.repository }}
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
{{- if not (hasKey $bmp "allow") }}
{{- if contains ":" .Values.listenAddress }}
{{- $_ := set $bmp "allow" (list "127.0.0.0/8" "::1/128") }}
{{- else }}
{{- $_ := set $bmp "allow" (list "127.0.0.0/8") }}
{{- end }}
{{- end }}
{{- if not (hasKey $bmp "listen") }}
{{- $_ := set $bmp "listen" (list (printf "%s:%d" (include "bmp-agent.hostPort" .Values.listenAddress) (int .Values.ports.bmp))) }}
{{- end }}
{{- $_ := set $cfg "bmp" $bmp }}
{{- $http := get $cfg "http" | default dict }}
{{- if not (hasKey $http "listen") }}
{{- $_ := set $http "listen" (printf "%s:%d" (include "bmp-agent.hostPort" .Values.listenAddress) (int .Values.ports.http)) }}
{{- end }}
{{- $_ := set $cfg "http" $http }}
{{- if eq .Values.mode "collector" }}
{{- /* Not on a node: no kernel FIB of a router to compare with. */}}
{{- $fib := get $cfg "fib" | default dict }}
{{- if not (hasKey $fib "enabled") }}
{{- $_ := set $fib "enabled" false }}
{{- end }}
{{- $_ := set $cfg "fib" $fib }}
{{- end }}
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

{{/* Whether HTTP is served over TLS (webConfig). */}}
{{- define "bmp-agent.tls" -}}
{{- $w := .Values.webConfig }}
{{- if kindIs "bool" $w.tls }}{{ if $w.tls }}true{{ end }}
{{- else if or $w.tlsSecret (hasKey ($w.config | default dict) "tls_server_config") }}true
{{- end }}
{{- end }}

{{/* Whether a web config is mounted. */}}
{{- define "bmp-agent.webConfig" -}}
{{- if or .Values.webConfig.existingSecret .Values.webConfig.config }}true{{ end }}
{{- end }}

{{/* Scheme of the probes (HTTP/HTTPS). */}}
{{- define "bmp-agent.scheme" -}}
{{- if include "bmp-agent.tls" . }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{/* Image pull secrets: global.imagePullSecrets and imagePullSecrets, names or {name}. */}}
{{- define "bmp-agent.imagePullSecrets" -}}
{{- $out := list }}
{{- range (concat ((.Values.global | default dict).imagePullSecrets | default list) (.Values.imagePullSecrets | default list)) }}
{{- if kindIs "string" . }}
{{- $out = append $out (dict "name" .) }}
{{- else }}
{{- $out = append $out . }}
{{- end }}
{{- end }}
{{- if $out }}
imagePullSecrets:
{{- toYaml (uniq $out) | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod template of the DaemonSet (mode daemonset) or the Deployment (mode collector). */}}
{{- define "bmp-agent.podTemplate" -}}
{{- $hostNetwork := and .Values.hostNetwork (ne .Values.mode "collector") }}
metadata:
  labels:
    {{- include "bmp-agent.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # Roll the pods when the config changes.
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if .Values.webConfig.config }}
    checksum/web-config: {{ include (print $.Template.BasePath "/web-config-secret.yaml") . | sha256sum }}
    {{- end }}
    kubectl.kubernetes.io/default-container: bmp-agent
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "bmp-agent.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  enableServiceLinks: {{ .Values.enableServiceLinks }}
  hostNetwork: {{ $hostNetwork }}
  dnsPolicy: {{ .Values.dnsPolicy | default (ternary "ClusterFirstWithHostNet" "ClusterFirst" $hostNetwork) }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with (include "bmp-agent.imagePullSecrets" .) }}
  {{- . | nindent 2 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  {{- with .Values.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: bmp-agent
      image: {{ include "bmp-agent.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config
        - {{ include "bmp-agent.configPath" . }}
        {{- if include "bmp-agent.webConfig" . }}
        - --web.config.file
        - /etc/bmp-agent/web/web-config.yml
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if or .Values.extraEnv (not .Values.listenOnAllInterfaces) }}
      env:
        {{- if not .Values.listenOnAllInterfaces }}
        - name: HOST_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        # HTTP on the node's own address only ([IPv4] is fine for the agent).
        - name: BMP_AGENT_HTTP_LISTEN
          value: "[$(HOST_IP)]:{{ .Values.ports.http }}"
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      ports:
        - name: bmp
          containerPort: {{ .Values.ports.bmp }}
          protocol: TCP
        - name: http
          containerPort: {{ .Values.ports.http }}
          protocol: TCP
      {{- range $probe := list "livenessProbe" "readinessProbe" }}
      {{- with (get $.Values $probe) }}
      {{- $p := deepCopy . }}
      {{- if and (hasKey $p "httpGet") (not (hasKey $p.httpGet "scheme")) }}
      {{- $_ := set $p.httpGet "scheme" (include "bmp-agent.scheme" $) }}
      {{- end }}
      {{ $probe }}:
        {{- toYaml $p | nindent 8 }}
      {{- end }}
      {{- end }}
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $sc := deepCopy .Values.securityContext }}
      {{- if .Values.calico.enabled }}
      {{- /* The BIRD sockets of calico-node are writable by their owner only (see values.yaml). */}}
      {{- $_ := set $sc "runAsUser" (int .Values.calico.runAsUser) }}
      {{- $_ := set $sc "runAsNonRoot" (ne (int .Values.calico.runAsUser) 0) }}
      {{- end }}
      securityContext:
        {{- toYaml $sc | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/bmp-agent
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if include "bmp-agent.webConfig" . }}
        - name: web-config
          mountPath: /etc/bmp-agent/web
          readOnly: true
        {{- end }}
        {{- if .Values.webConfig.tlsSecret }}
        - name: tls
          mountPath: /etc/bmp-agent/tls
          readOnly: true
        {{- end }}
        {{- if .Values.calico.enabled }}
        - name: calico-sockets
          mountPath: {{ .Values.calico.socketDir }}
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "bmp-agent.fullname" . }}
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 16Mi
    {{- if include "bmp-agent.webConfig" . }}
    - name: web-config
      secret:
        secretName: {{ .Values.webConfig.existingSecret | default (printf "%s-web-config" (include "bmp-agent.fullname" .)) }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.webConfig.tlsSecret }}
    - name: tls
      secret:
        secretName: {{ .Values.webConfig.tlsSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.calico.enabled }}
    - name: calico-sockets
      hostPath:
        path: {{ .Values.calico.socketDir }}
        # Directory, not DirectoryOrCreate: no /var/run/calico on nodes without Calico.
        type: Directory
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
