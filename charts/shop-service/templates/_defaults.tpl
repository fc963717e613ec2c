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

# Plain settings (a ConfigMap). Credentials never go here: see secrets.
config: {}

# A Secret created before install (scripts/k8s-install.sh does it) with the keys DATABASE_URL
# and JWT_PUBLIC_KEY, plus SERVICE_TOKEN and JWT_PRIVATE_KEY where these say so.
secrets:
  existingSecret: ""
  serviceToken: true
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

networkPolicy:
  ingressNamespace: ingress-nginx
  monitoringNamespace: monitoring
  # Other services that may call this one directly (none: clients come through the ingress).
  allowFrom: []
{{- end -}}

{{/* The chart's values over the defaults, as .Values for every template after it. */}}
{{- define "shop-service.withDefaults" -}}
{{- $defaults := fromYaml (include "shop-service.defaults" .) -}}
{{- $_ := set . "Values" (mergeOverwrite $defaults (fromYaml (toYaml .Values))) -}}
{{- end -}}
