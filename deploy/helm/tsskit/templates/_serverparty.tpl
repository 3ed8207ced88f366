{{- /*
A StatefulSet of server parties: (dict "ctx" $ "component" "serverparty"
"c" .Values.serverParty "api" false). Each pod is one party: its party id
is its pod name, its vault is on its own volume (or in PostgreSQL under
that id), its certificate is "<pod name>.cert" in the certificates Secret.
An init container makes the identity key on first start and prints it
(kubectl logs <pod> -c identity): the key to certify.

Probes: the API port serves /livez and /readyz; a pool party, which has
no API, serves them on a port of its own (--health-addr). On SIGTERM a
party drains for at most --drain-timeout (finishes its running sessions,
takes no new ones, /readyz 503); the kubelet waits 20 s longer than that
(the binary's 10 s shutdown grace and a margin) before it kills the pod.
*/ -}}
{{- define "tsskit.serverPartySet" -}}
{{- $ := .ctx }}
{{- $c := .c }}
{{- $api := .api }}
{{- $sel := dict "ctx" $ "component" .component }}
{{- $name := printf "%s-%s" (include "tsskit.fullname" $) .component }}
{{- $masterKey := $c.masterKey }}
{{- if not $masterKey.existingSecret }}{{ $masterKey = $.Values.serverParty.masterKey }}{{ end }}
{{- $certs := default $.Values.serverParty.certificates.existingSecret $c.certificates.existingSecret }}
{{- $pg := eq $c.vault "postgres" }}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $name }}
  labels:
    {{- with (include "tsskit.componentLabels" $sel | trim) }}{{ . | nindent 4 }}{{- end }}
spec:
  replicas: {{ $c.replicas }}
  serviceName: {{ $name }}-headless
  # Every pod starts at once: a pod waiting for its certificate does not
  # hold back the next one (whose identity key must be printed too).
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
  selector:
    matchLabels:
      {{- with (include "tsskit.selectorLabels" $sel | trim) }}{{ . | nindent 6 }}{{- end }}
  template:
    metadata:
      labels:
        {{- with (include "tsskit.selectorLabels" $sel | trim) }}{{ . | nindent 8 }}{{- end }}
      {{- with $c.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- with (include "tsskit.podSecurity" $ | trim) }}{{ . | nindent 6 }}{{- end }}
      {{- with (include "tsskit.scheduling" $c | trim) }}{{ . | nindent 6 }}{{- end }}
      terminationGracePeriodSeconds: {{ add (int $c.drainTimeoutSeconds) 20 }}
      initContainers:
        - name: identity
          image: {{ include "tsskit.image" $ }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          {{- with (include "tsskit.command" $ | trim) }}{{ . | nindent 10 }}{{- end }}
          args:
            - serverparty
            - --print-identity
            - --party-id=$(POD_NAME)
            - --data-dir=/data
          env:
            {{- with (include "tsskit.podNameEnv" $ | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- with (include "tsskit.secretEnv" (dict "name" "CRYPTO_MASTER_KEY" "ref" $masterKey) | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- if $pg }}
            {{- with (include "tsskit.secretEnv" (dict "name" "DATABASE_URL" "ref" $.Values.database) | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- toYaml $.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: data
              mountPath: /data
      containers:
        - name: serverparty
          image: {{ include "tsskit.image" $ }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          {{- with (include "tsskit.command" $ | trim) }}{{ . | nindent 10 }}{{- end }}
          args:
            - serverparty
            - --party-id=$(POD_NAME)
            - --coordinator={{ include "tsskit.coordinatorAddrs" $ }}
            - --router={{ include "tsskit.routerAddr" $ }}
            - --data-dir=/data
            - --certificate=/etc/tsskit/certificates/$(POD_NAME).cert
            - --preparams-pool={{ $c.preparamsPool }}
            {{- if $api }}
            - --api-addr=:{{ $c.port }}
            {{- else }}
            - --health-addr=:{{ $c.healthPort }}
            {{- end }}
            - --drain-timeout={{ int $c.drainTimeoutSeconds }}s
            {{- with (include "tsskit.commonArgs" $ | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- with $c.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            {{- with (include "tsskit.podNameEnv" $ | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- with (include "tsskit.commonEnv" $ | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- with (include "tsskit.secretEnv" (dict "name" "CRYPTO_MASTER_KEY" "ref" $masterKey) | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- if $pg }}
            {{- with (include "tsskit.secretEnv" (dict "name" "DATABASE_URL" "ref" $.Values.database) | trim) }}{{ . | nindent 12 }}{{- end }}
            {{- end }}
            {{- if $api }}
            - name: ALLOWED_IPS
              value: {{ join "," $c.allowedIPs | quote }}
            {{- with $c.trustedProxies }}
            - name: TRUSTED_PROXIES
              value: {{ join "," . | quote }}
            {{- end }}
            {{- with $c.rateLimit }}
            - name: RATE_LIMIT
              value: {{ . | quote }}
            {{- end }}
            {{- end }}
            {{- with $c.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- if $api }}
            - name: api
              containerPort: {{ $c.port }}
              protocol: TCP
            {{- else }}
            - name: health
              containerPort: {{ $c.healthPort }}
              protocol: TCP
            {{- end }}
            {{- if $.Values.metrics.enabled }}
            - name: metrics
              containerPort: {{ $.Values.metrics.port }}
              protocol: TCP
            {{- end }}
          {{- $probePort := ternary "api" "health" $api }}
          livenessProbe:
            {{- with (include "tsskit.probe" (dict "ctx" $ "probe" $c.probes.liveness "port" $probePort) | trim) }}{{ . | nindent 12 }}{{- end }}
          readinessProbe:
            {{- with (include "tsskit.probe" (dict "ctx" $ "probe" $c.probes.readiness "port" $probePort) | trim) }}{{ . | nindent 12 }}{{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- toYaml $.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: data
              mountPath: /data
            - name: tmp
              mountPath: /tmp
            - name: certificates
              mountPath: /etc/tsskit/certificates
              readOnly: true
            {{- with (include "tsskit.tlsVolumeMount" $ | trim) }}{{ . | nindent 12 }}{{- end }}
      volumes:
        - name: tmp
          emptyDir: {}
        # The whole Secret, not single keys: a certificate added for a new
        # pod appears in the running pods' volume, and a pod waiting for its
        # own picks it up at its next restart.
        - name: certificates
          secret:
            secretName: {{ $certs }}
            defaultMode: 0440
        {{- if $pg }}
        - name: data
          emptyDir: {}
        {{- end }}
        {{- with (include "tsskit.tlsVolume" $ | trim) }}{{ . | nindent 8 }}{{- end }}
  {{- if not $pg }}
  # A removed pod's volume (its shares) is kept: scaled back up, the pod of
  # the same name is the same party again.
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: Retain
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- with (include "tsskit.selectorLabels" $sel | trim) }}{{ . | nindent 10 }}{{- end }}
      spec:
        accessModes: [ReadWriteOnce]
        {{- with $c.persistence.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $c.persistence.size }}
  {{- end }}
---
# Stable pod names (the party ids) and the metrics endpoints.
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-headless
  labels:
    {{- with (include "tsskit.componentLabels" $sel | trim) }}{{ . | nindent 4 }}{{- end }}
    {{- if $.Values.metrics.enabled }}
    tsskit.io/metrics: "true"
    {{- end }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    {{- with (include "tsskit.selectorLabels" $sel | trim) }}{{ . | nindent 4 }}{{- end }}
  {{- if $.Values.metrics.enabled }}
  ports:
    - name: metrics
      port: {{ $.Values.metrics.port }}
      targetPort: metrics
      protocol: TCP
  {{- end }}
{{- end }}
