{{- define "shop-edge.labels" -}}
app.kubernetes.io/part-of: shop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A JSON body for an nginx `return`: the controller wants its double quotes escaped. */}}
{{- define "shop-edge.body" -}}
{{- replace "\"" "\\\"" . -}}
{{- end -}}

{{/* The controller's own errors in JSON, on every proxied route. Only codes no service answers
with a body of its own differing in meaning: the services' 413, 503 and 504 carry the same codes. */}}
{{- define "shop-edge.errorPages" -}}
{{- $root := . -}}
errorPages:
{{- range $code := list "413" "429" "502" "503" "504" }}
  - codes: [{{ $code }}]
    return:
      code: {{ $code }}
      type: application/json
      body: {{ include "shop-edge.body" (index $root.Values.errors $code) | quote }}
{{- end }}
{{- end -}}

{{- define "shop-edge.notFound" -}}
return:
  code: 404
  type: application/json
  body: {{ include "shop-edge.body" (index .Values.errors "404") | quote }}
{{- end -}}

{{/* Exact paths under the public prefixes that are not for the public. */}}
{{- define "shop-edge.hiddenPaths" -}}
- /api/v1/billing/account
- /api/v1/billing/account/withdraw
- /api/v1/billing/account/refund
{{- range $prefix := list "users" "billing" "orders" "notifications" }}
- {{ printf "/api/v1/%s/health" $prefix }}
- {{ printf "/api/v1/%s/openapi.json" $prefix }}
{{- end }}
{{- end -}}
