{{- /* Pieces of the NetworkPolicies (networkpolicy.yaml). */ -}}
{{- define "tsskit.npPods" -}}
- podSelector:
    matchLabels:
      {{- with (include "tsskit.selectorLabels" . | trim) }}{{ . | nindent 6 }}{{- end }}
{{- end }}
{{- define "tsskit.npDNS" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- define "tsskit.npMetrics" -}}
{{- if .Values.metrics.enabled }}
- ports:
    - {port: {{ .Values.metrics.port }}, protocol: TCP}
  {{- with .Values.metrics.from }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
{{- /* (dict "ref" .Values.database) */ -}}
{{- define "tsskit.npExternal" -}}
- ports:
    - {port: {{ .ref.port }}, protocol: TCP}
  {{- with .ref.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- /* Pods of the release that dial the router and the coordinator. */ -}}
{{- define "tsskit.npServiceClients" -}}
{{- include "tsskit.npPods" (dict "ctx" .ctx "component" "serverparty") }}
{{- if gt (int .ctx.Values.partyApi.replicas) 0 }}
{{ include "tsskit.npPods" (dict "ctx" .ctx "component" "partyapi") }}
{{- end }}
{{- end }}
