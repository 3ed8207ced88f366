{{/* Names. */}}
{{- define "tsskit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name. Pod names of the StatefulSets are party ids and
DNS labels: it is kept short enough for "<fullname>-coordinator-headless".
*/}}
{{- define "tsskit.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 30 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tsskit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "tsskit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tsskit
{{- end }}

{{/* Selector labels of one component: (dict "ctx" $ "component" "router"). */}}
{{- define "tsskit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tsskit.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tsskit.componentLabels" -}}
{{ include "tsskit.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "tsskit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tsskit.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tsskit.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Service names and addresses. */}}
{{- define "tsskit.domain" -}}
{{- printf "%s.svc.%s" .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{- define "tsskit.routerAddr" -}}
{{- printf "%s-router.%s:%d" (include "tsskit.fullname" .) (include "tsskit.domain" .) (int .Values.router.port) }}
{{- end }}

{{- define "tsskit.coordinatorHeadless" -}}
{{- printf "%s-coordinator-headless" (include "tsskit.fullname" .) }}
{{- end }}

{{/* One replica's address: (dict "ctx" $ "pod" "<pod name or $(POD_NAME)>"). */}}
{{- define "tsskit.coordinatorPodAddr" -}}
{{- printf "%s.%s.%s:%d" .pod (include "tsskit.coordinatorHeadless" .ctx) (include "tsskit.domain" .ctx) (int .ctx.Values.coordinator.port) }}
{{- end }}

{{/* Every coordinator replica's address, comma-separated. */}}
{{- define "tsskit.coordinatorAddrs" -}}
{{- $addrs := list }}
{{- range $i := until (int .Values.coordinator.replicas) }}
{{- $pod := printf "%s-coordinator-%d" (include "tsskit.fullname" $) $i }}
{{- $addrs = append $addrs (include "tsskit.coordinatorPodAddr" (dict "ctx" $ "pod" $pod)) }}
{{- end }}
{{- join "," $addrs }}
{{- end }}

{{- define "tsskit.partyApiURL" -}}
{{- printf "%s://%s-partyapi.%s:%d" (ternary "https" "http" .Values.tls.enabled) (include "tsskit.fullname" .) (include "tsskit.domain" .) (int .Values.partyApi.port) }}
{{- end }}

{{/* Flags every service shares: transport security, metrics, log format. */}}
{{- define "tsskit.commonArgs" -}}
{{- if .Values.tls.enabled }}
- --tls-cert=/etc/tsskit/tls/{{ .Values.tls.certKey }}
- --tls-key=/etc/tsskit/tls/{{ .Values.tls.keyKey }}
- --tls-ca=/etc/tsskit/tls/{{ .Values.tls.caKey }}
{{- if .Values.tls.mutual }}
- --tls-client-ca=/etc/tsskit/tls/{{ .Values.tls.caKey }}
{{- end }}
{{- end }}
{{- if and (not .Values.tls.enabled) .Values.insecure.listen }}
- --insecure-listen
{{- end }}
{{- if and (not .Values.tls.enabled) .Values.insecure.dial }}
- --insecure-dial
{{- end }}
{{- if .Values.metrics.enabled }}
- --metrics-addr=:{{ .Values.metrics.port }}
{{- end }}
- --log-format={{ .Values.logFormat }}
{{- end }}

{{- define "tsskit.tlsVolumeMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/tsskit/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "tsskit.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* Environment every service reads. */}}
{{- define "tsskit.commonEnv" -}}
- name: TSSKIT_TRUST_ROOT
  value: {{ .Values.trustRoot | quote }}
{{- with .Values.revoked }}
- name: TSSKIT_REVOKED
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}

{{/* A secret as an environment variable: (dict "name" "X" "ref" .Values.apiKey). */}}
{{- define "tsskit.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.existingSecret }}
      key: {{ .ref.key }}
{{- end }}

{{/*
A probe: (dict "ctx" $ "probe" .Values.router.probes.liveness "port" "grpc").
HTTP GET on the path (/livez, /readyz), HTTPS under TLS; under mutual TLS
the kubelet cannot present a client certificate, so it only checks that
the port accepts.
*/}}
{{- define "tsskit.probe" -}}
{{- $port := default .port .probe.port }}
{{- if .ctx.Values.tls.mutual }}
tcpSocket:
  port: {{ $port }}
{{- else }}
httpGet:
  path: {{ .probe.path }}
  port: {{ $port }}
  scheme: {{ ternary "HTTPS" "HTTP" .ctx.Values.tls.enabled }}
{{- end }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end }}

{{- define "tsskit.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
serviceAccountName: {{ include "tsskit.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Scheduling of a component: its values. */}}
{{- define "tsskit.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "tsskit.command" -}}
{{- with .Values.image.command }}
command:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The pod's own name, for $(POD_NAME) in arguments. */}}
{{- define "tsskit.podNameEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
