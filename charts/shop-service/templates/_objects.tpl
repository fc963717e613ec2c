{{/*
Every object of a shop service. A service chart's only template is:
  {{ include "shop-service.all" . }}
*/}}
{{- define "shop-service.all" -}}
{{- include "shop-service.withDefaults" . -}}
{{ include "shop-service.configmap" . }}
---
{{ include "shop-service.deployment" . }}
---
{{ include "shop-service.service" . }}
---
{{ include "shop-service.migrationNetworkpolicy" . }}
---
{{ include "shop-service.migration" . }}
---
{{ include "shop-service.pdb" . }}
---
{{ include "shop-service.networkpolicy" . }}
{{- if .Values.serviceMonitor.enabled }}
---
{{ include "shop-service.servicemonitor" . }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
---
{{ include "shop-service.hpa" . }}
{{- end }}
{{- end -}}

{{- define "shop-service.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
data:
  HOST: "0.0.0.0"
  PORT: {{ .Values.service.port | quote }}
  LOG_FORMAT: json
  RUST_LOG: {{ .Values.logLevel | quote }}
  # Migrations run once per release in the pre-install/pre-upgrade Job, not in every pod.
  RUN_MIGRATIONS: "false"
  JWT_PUBLIC_KEY_FILE: /etc/shop/keys/jwt-public.pem
  DATABASE_MAX_CONNECTIONS: {{ .Values.database.poolSize | quote }}
  {{- if .Values.kafka.enabled }}
  KAFKA_BROKERS: {{ .Values.kafka.bootstrapServers | quote }}
  # Topics are KafkaTopics (kafka/topics.yaml); the login may not create any.
  KAFKA_CREATE_TOPICS: "false"
  KAFKA_SECURITY_PROTOCOL: sasl_ssl
  KAFKA_SASL_MECHANISM: SCRAM-SHA-512
  KAFKA_SASL_USERNAME: {{ .Values.kafka.user | quote }}
  KAFKA_SSL_CA_LOCATION: /etc/shop/kafka-ca/ca.crt
  {{- end }}
  {{- if .Values.secrets.jwtPrivateKey }}
  JWT_PRIVATE_KEY_FILE: /etc/shop/keys/jwt-private.pem
  {{- end }}
  {{- range $name, $value := .Values.config }}
  {{ $name }}: {{ $value | quote }}
  {{- end }}
{{- end -}}

{{- define "shop-service.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  selector:
    matchLabels:
      {{- include "shop-service.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "shop-service.labels" . | nindent 8 }}
      annotations:
        # Any change of the ConfigMap rolls the pods.
        checksum/config: {{ include "shop-service.configmap" . | sha256sum }}
    spec:
      automountServiceAccountToken: false
      {{- if .Values.spreadAcrossNodes }}
      topologySpreadConstraints:
        {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
        - maxSkew: 1
          topologyKey: {{ . }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "shop-service.selectorLabels" $ | nindent 14 }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- include "shop-service.podSecurityContext" . | nindent 8 }}
      # Longer than the requests' own 30 s limit plus the preStop pause, so in-flight requests
      # finish after SIGTERM.
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .Values.service.name }}
          image: {{ include "shop-service.image" . }}
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
              protocol: TCP
          {{- include "shop-service.env" . | nindent 10 }}
          volumeMounts:
            - name: jwt-keys
              mountPath: /etc/shop/keys
              readOnly: true
            {{- if .Values.kafka.enabled }}
            - name: kafka-ca
              mountPath: /etc/shop/kafka-ca
              readOnly: true
            {{- end }}
            - name: tmp
              mountPath: /tmp
          startupProbe:
            # A service waits for its database at start-up (retrying with backoff) before it
            # listens: up to five minutes before Kubernetes restarts it.
            httpGet:
              path: {{ printf "%s/health/live" .Values.service.prefix }}
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 60
          readinessProbe:
            # Ready while its database answers (a broker outage only degrades order and
            # notification: their outbox and consumer catch up by themselves).
            httpGet:
              path: {{ printf "%s/health" .Values.service.prefix }}
              port: http
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          livenessProbe:
            # Checks no dependency, so no outage restarts the pod; fails when a background
            # loop (relay, settler, consumer) has stopped.
            httpGet:
              path: {{ printf "%s/health/live" .Values.service.prefix }}
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          lifecycle:
            preStop:
              # Let endpoints drop the pod before SIGTERM stops new connections.
              sleep:
                seconds: 5
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- include "shop-service.containerSecurityContext" . | nindent 12 }}
      volumes:
        {{- include "shop-service.keyVolumes" . | nindent 8 }}
        - name: tmp
          emptyDir:
            sizeLimit: 16Mi
{{- end -}}

{{- define "shop-service.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "shop-service.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
{{- end -}}

{{/* Runs `<service> migrate` once per release, before the new pods start; never in parallel. */}}
{{- define "shop-service.migration" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ printf "%s-migrate" (include "shop-service.fullname" .) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  parallelism: 1
  completions: 1
  backoffLimit: 3
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 3600
  template:
    metadata:
      labels:
        {{- include "shop-service.jobPodLabels" (dict "root" . "component" "migration") | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        {{- include "shop-service.podSecurityContext" . | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "shop-service.image" . }}
          imagePullPolicy: IfNotPresent
          args: ["migrate"]
          env:
            - name: LOG_FORMAT
              value: json
            {{- include "shop-service.databaseUrl" . | nindent 12 }}
          resources:
            {{- toYaml .Values.migration.resources | nindent 12 }}
          securityContext:
            {{- include "shop-service.containerSecurityContext" . | nindent 12 }}
{{- end -}}

{{- define "shop-service.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
spec:
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "shop-service.selectorLabels" . | nindent 6 }}
{{- end -}}

{{- define "shop-service.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "shop-service.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}

{{- define "shop-service.servicemonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
    {{- with .Values.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "shop-service.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: http
      path: /metrics
      interval: {{ .Values.serviceMonitor.interval }}
{{- end -}}

{{/*
Who may connect: the ingress controller (public routes; internal paths are not routed), the
services listed in networkPolicy.allowFrom (billing: user and order, for its internal
endpoints), and Prometheus for /metrics. Where the pods may connect to: DNS, their own
Postgres, Kafka's brokers (kafka.enabled), the services in networkPolicy.callsTo, and the OTLP
collector when one is configured. The namespace denies the rest (charts/shop-namespace).
*/}}
{{- define "shop-service.networkpolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "shop-service.fullname" . }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "shop-service.selectorLabels" . | nindent 6 }}
  policyTypes: ["Ingress", "Egress"]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ .Values.networkPolicy.ingressNamespace }}
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ .Values.networkPolicy.monitoringNamespace }}
        {{- range .Values.networkPolicy.allowFrom }}
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ . }}
        {{- end }}
      ports:
        - port: http
          protocol: TCP
  egress:
    {{- include "shop-service.egressDns" . | nindent 4 }}
    {{- include "shop-service.egressDatabase" . | nindent 4 }}
    {{- if .Values.kafka.enabled }}
    {{- include "shop-service.egressKafka" . | nindent 4 }}
    {{- end }}
    {{- range .Values.networkPolicy.callsTo }}
    - to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ required "networkPolicy.callsTo[].name" .name }}
      ports:
        - port: {{ required "networkPolicy.callsTo[].port" .port }}
          protocol: TCP
    {{- end }}
    {{- include "shop-service.egressOtlp" . | nindent 4 }}
{{- end -}}

{{/*
The migration Job's pods: DNS and their own Postgres, nothing in. A hook just before the Job
(weight -1 against its 0), so that the Job can reach its database even on the first install
into a namespace that already denies everything; kept between releases (replaced at the next
one), as Helm leaves hooks in place.
*/}}
{{- define "shop-service.migrationNetworkpolicy" -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-migrate" (include "shop-service.fullname" .) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "shop-service.labels" . | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-1"
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/name: {{ .Values.service.name }}
      app.kubernetes.io/component: migration
  policyTypes: ["Ingress", "Egress"]
  egress:
    {{- include "shop-service.egressDns" . | nindent 4 }}
    {{- include "shop-service.egressDatabase" . | nindent 4 }}
{{- end -}}

{{/* Egress rules, each a list item of a NetworkPolicy's egress. */}}
{{- define "shop-service.egressDns" -}}
# DNS: the cluster's resolver.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .Values.networkPolicy.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml .Values.networkPolicy.dns.podLabels | nindent 10 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}

{{- define "shop-service.egressDatabase" -}}
# The service's own Postgres: the CloudNativePG instances of its Cluster.
- to:
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "shop-service.databaseCluster" . }}
  ports:
    - port: 5432
      protocol: TCP
{{- end -}}

{{- define "shop-service.egressKafka" -}}
# Kafka: the Strimzi cluster's brokers, on the TLS listener.
- to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ .Values.kafka.cluster }}
          strimzi.io/kind: Kafka
  ports:
    - port: {{ .Values.kafka.port }}
      protocol: TCP
{{- end -}}

{{- define "shop-service.egressOtlp" -}}
{{- with .Values.config.OTEL_EXPORTER_OTLP_ENDPOINT }}
{{- $url := urlParse . }}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $url.host) }}
{{- if not $port }}{{ $port = ternary "443" "80" (eq $url.scheme "https") }}{{ end }}
{{- $collector := $.Values.networkPolicy.otlpCollector }}
# The OpenTelemetry Collector of OTEL_EXPORTER_OTLP_ENDPOINT.
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ required "networkPolicy.otlpCollector.namespace: the namespace of the OTLP collector that config.OTEL_EXPORTER_OTLP_ENDPOINT names (the pods may reach nothing else)" $collector.namespace }}
      {{- with $collector.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
  ports:
    - port: {{ $port }}
      protocol: TCP
{{- end }}
{{- end -}}
