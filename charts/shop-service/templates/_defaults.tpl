{{/*
The values every service chart starts from. A service's own values.yaml holds only what
differs (its name, port, prefix, settings, secrets and callers); it overrides these key by key.
*/}}
{{- define "shop-service.defaults" -}}
image:
  # The image is <registry>/shop/<service name> unless repository names another one.
  registry: ""
  repository: ""
  # Empty means the chart's appVersion; never "latest".
  tag: ""

replicaCount: 2
logLevel: info

# Plain settings (a ConfigMap). Credentials never go here: see secrets. For example, to export
# the service's spans to an OpenTelemetry Collector (OTLP over HTTP):
#   config:
#     OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector.observability:4318
config: {}

# The service's own Postgres: the Secret CloudNativePG keeps the login in (<service>-db-app
# unless named here; <service>/database/cluster.yaml) and the pool size. poolSize x the most
# replicas there can be, plus the migration Job, must fit the database's max_connections
# (charts/tests check it). cluster: the CloudNativePG Cluster (<service>-db unless named here),
# whose instances (label cnpg.io/cluster) the NetworkPolicy lets the pods reach on port 5432.
database:
  cluster: ""
  secretName: ""
  secretKey: uri
  poolSize: 10

# Kafka (order and notification): the Strimzi cluster's TLS listener, a SCRAM-SHA-512 login as
# the KafkaUser named here (its password in the Secret of that name), and the cluster CA. cluster
# and port are the Kafka resource's name and its listener's port (kafka/kafka.yaml), which the
# NetworkPolicy lets the pods reach.
kafka:
  enabled: false
  cluster: shop
  port: 9093
  bootstrapServers: shop-kafka-bootstrap:9093
  user: ""
  caSecret: shop-cluster-ca-cert

# A Secret created before install (scripts/k8s-install.sh does it) with the key JWT_PUBLIC_KEY,
# plus JWT_PRIVATE_KEY where jwtPrivateKey says so, and the keys named in env, each given to the
# service as the environment variable of that name: a calling service's own credential
# (SERVICE_TOKEN, the X-Service-Token it sends billing), billing's credentials of its callers
# (USER_SERVICE_TOKEN, ORDER_SERVICE_TOKEN). None by default.
secrets:
  existingSecret: ""
  env: []
  jwtPrivateKey: false

resources:
  requests:
    cpu: 100m
    memory: 64Mi
  limits:
    cpu: 500m
    memory: 256Mi

migration:
  resources:
    requests:
      cpu: 50m
      memory: 32Mi
    limits:
      cpu: 200m
      memory: 128Mi

terminationGracePeriodSeconds: 45

podDisruptionBudget:
  minAvailable: 1

# Spread the replicas over nodes and zones (preferred, so a one-node cluster still schedules
# them all): one node drained or lost leaves the others serving.
spreadAcrossNodes: true

autoscaling:
  enabled: false
  minReplicas: 2
  maxReplicas: 6
  targetCPUUtilizationPercentage: 70

serviceMonitor:
  enabled: true
  interval: 15s
  # The label kube-prometheus-stack selects ServiceMonitors by (monitoring/k8s-prometheus.yaml).
  labels:
    release: kube-prometheus-stack

# Who may connect to the pods (ingress) and where they may connect to (egress). The namespace
# denies everything else in both directions (charts/shop-namespace), so each service's pods reach
# only: DNS, their own Postgres, Kafka's brokers when kafka.enabled, the services in callsTo and
# the OpenTelemetry Collector when config.OTEL_EXPORTER_OTLP_ENDPOINT is set.
networkPolicy:
  # Where the NGINX Ingress Controller runs (api-gateway/chart routes the public API through it).
  ingressNamespace: nginx-ingress
  monitoringNamespace: monitoring
  # Other services that may call this one directly (none: clients come through the ingress).
  allowFrom: []
  # Other services this one calls directly: [{name: billing, port: 8082}] (the pods of that
  # app.kubernetes.io/name, on that port).
  callsTo: []
  # The cluster's DNS: kube-dns (or CoreDNS, which keeps the label) in kube-system, port 53.
  dns:
    namespace: kube-system
    podLabels:
      k8s-app: kube-dns
  # With OTEL_EXPORTER_OTLP_ENDPOINT set (config), the collector's namespace (required then) and,
  # optionally, its pods' labels; the port is the endpoint's.
  otlpCollector:
    namespace: ""
    podLabels: {}
{{- end -}}

{{/* The chart's values over the defaults, as .Values for every template after it. */}}
{{- define "shop-service.withDefaults" -}}
{{- $defaults := fromYaml (include "shop-service.defaults" .) -}}
{{- $_ := set . "Values" (mergeOverwrite $defaults (fromYaml (toYaml .Values))) -}}
{{- end -}}
