{{/* Name of the service's objects: the release name. */}}
{{- define "shop-service.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "shop-service.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.service.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
A Job's pods: the service's name (what the database's and Kafka's network policies admit) but
not the instance, so that neither the Service, the PodDisruptionBudget nor the NetworkPolicy of
the serving pods selects them.
*/}}
{{- define "shop-service.jobPodLabels" -}}
app.kubernetes.io/name: {{ .root.Values.service.name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: shop
{{- end -}}

{{- define "shop-service.labels" -}}
{{ include "shop-service.selectorLabels" . }}
app.kubernetes.io/part-of: shop
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "shop-service.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if or (not $tag) (eq (toString $tag) "latest") -}}
{{- fail "image.tag must be a pinned version, not empty or latest" -}}
{{- end -}}
{{- $repository := .Values.image.repository | default (printf "shop/%s" .Values.service.name) -}}
{{- with .Values.image.registry }}{{ $repository = printf "%s/%s" . $repository }}{{ end -}}
{{ printf "%s:%s" $repository (toString $tag) }}
{{- end -}}

{{- define "shop-service.secretName" -}}
{{- required "secrets.existingSecret: the Secret with the JWT keys and the service credentials" .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "shop-service.databaseSecret" -}}
{{- .Values.database.secretName | default (printf "%s-db-app" .Values.service.name) -}}
{{- end -}}

{{- define "shop-service.databaseCluster" -}}
{{- .Values.database.cluster | default (printf "%s-db" .Values.service.name) -}}
{{- end -}}

{{/* DATABASE_URL, from the Secret the database operator keeps the service's login in. */}}
{{- define "shop-service.databaseUrl" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "shop-service.databaseSecret" . }}
      key: {{ .Values.database.secretKey }}
{{- end -}}

{{/* The restricted security context of every container. */}}
{{- define "shop-service.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "shop-service.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment from the ConfigMap (plain settings) and the Secret (credentials and keys). */}}
{{- define "shop-service.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "shop-service.fullname" . }}
env:
  {{- include "shop-service.databaseUrl" . | nindent 2 }}
  {{- if .Values.kafka.enabled }}
  - name: KAFKA_SASL_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ required "kafka.user: the KafkaUser this service logs in as" .Values.kafka.user }}
        key: password
  {{- end }}
  {{- range $key := .Values.secrets.env }}
  - name: {{ $key }}
    valueFrom:
      secretKeyRef:
        name: {{ include "shop-service.secretName" $ }}
        key: {{ $key }}
  {{- end }}
{{- end -}}

{{- define "shop-service.keyVolumes" -}}
- name: jwt-keys
  secret:
    secretName: {{ include "shop-service.secretName" . }}
    defaultMode: 0440
    items:
      - key: JWT_PUBLIC_KEY
        path: jwt-public.pem
      {{- if .Values.secrets.jwtPrivateKey }}
      - key: JWT_PRIVATE_KEY
        path: jwt-private.pem
      {{- end }}
{{- if .Values.kafka.enabled }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end -}}
