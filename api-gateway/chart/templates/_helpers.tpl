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

{{/* Strict-Transport-Security on every answer of the host (the server redirects plain HTTP to
HTTPS before any route, so only HTTPS answers carry it), as headers of a return or an error page. */}}
{{- define "shop-edge.hstsHeaders" -}}
{{- with .Values.hsts }}
headers:
  - name: Strict-Transport-Security
    value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* A route's action: the upstream, with HSTS added to its answers (always: errors too). */}}
{{- define "shop-edge.pass" -}}
{{- if .root.Values.hsts }}
proxy:
  upstream: {{ .upstream }}
  responseHeaders:
    add:
      - name: Strict-Transport-Security
        value: {{ .root.Values.hsts | quote }}
        always: true
{{- else }}
pass: {{ .upstream }}
{{- end }}
{{- end -}}

{{/* Retry-After of a rate limit's 429: the seconds until it lets the next request in (one per
60/N s at N r/m), rounded up; 1 at N r/s. */}}
{{- define "shop-edge.retryAfter" -}}
{{- $n := regexFind "^[0-9]+" . | atoi -}}
{{- if hasSuffix "r/s" . }}1{{ else }}{{ div (add 60 (sub $n 1)) $n }}{{ end -}}
{{- end -}}

{{/* The controller's own errors in JSON, on every proxied route (root, and limit: the rate limit
of the route, if any). Only codes no service answers with a body of its own differing in meaning:
the services' 413, 503 and 504 carry the same codes. 429 only where the edge limits (login,
registration), with Retry-After: elsewhere a service's own 429 and its Retry-After pass. 503 with
Retry-After 1, as the services' own 503 that it replaces. */}}
{{- define "shop-edge.errorPages" -}}
{{- $root := .root -}}
{{- $limit := .limit -}}
errorPages:
{{- range $code := list "413" "429" "502" "503" "504" }}
{{- if or (ne $code "429") $limit }}
  - codes: [{{ $code }}]
    return:
      code: {{ $code }}
      type: application/json
      body: {{ include "shop-edge.body" (index $root.Values.errors $code) | quote }}
      {{- if or (has $code (list "429" "503")) $root.Values.hsts }}
      headers:
        {{- if eq $code "429" }}
        - name: Retry-After
          value: {{ include "shop-edge.retryAfter" $limit.rate | quote }}
        {{- end }}
        {{- if eq $code "503" }}
        {{- /* The page replaces a service's own 503 (a full password queue says 1 s). */}}
        - name: Retry-After
          value: "1"
        {{- end }}
        {{- with $root.Values.hsts }}
        - name: Strict-Transport-Security
          value: {{ . | quote }}
        {{- end }}
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "shop-edge.notFound" -}}
return:
  code: 404
  type: application/json
  body: {{ include "shop-edge.body" (index .Values.errors "404") | quote }}
  {{- include "shop-edge.hstsHeaders" . | nindent 2 }}
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
