{{/* The release's full name, cut to the 63 characters a name may have. */}}
{{- define "mailjet-connector.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mailjet-connector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one role; `role` is the role's name (ingress, normalizer, …). */}}
{{- define "mailjet-connector.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "mailjet-connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mailjet-connector.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The roles, one Deployment each: the values key, the command of ./mailjet-connector it runs, the port
its HTTP server listens on (health, metrics; webhooks or identify calls where `service` is true), the
variable naming that port, the variable of its shutdown timeout and that timeout's default (the
process's own, docs/configuration.md), settings the role sets itself, and for a consumer group the
variables (and defaults) of its group and of the topic it reads, which lag-based autoscaling watches.
*/}}
{{- define "mailjet-connector.roles" -}}
ingress:
  key: ingress
  command: ingress
  port: 8080
  portEnv: INGRESS_PORT
  shutdownEnv: INGRESS_SHUTDOWN_TIMEOUT_MS
  shutdownMs: 25000
  service: true
normalizer:
  key: normalizer
  command: normalizer
  port: 8081
  portEnv: CONNECTOR_PORT
  shutdownEnv: CONNECTOR_SHUTDOWN_TIMEOUT_MS
  shutdownMs: 30000
  service: false
  consumes: { groupEnv: CONNECTOR_GROUP_ID, group: mailjet-connector, groupSuffix: "", topicEnv: RAW_TOPIC, topic: mailjet.events.raw }
segment-sink:
  key: segmentSink
  command: segment-sink
  port: 8081
  portEnv: CONNECTOR_PORT
  shutdownEnv: CONNECTOR_SHUTDOWN_TIMEOUT_MS
  shutdownMs: 30000
  service: false
  consumes: { groupEnv: CONNECTOR_GROUP_ID, group: mailjet-connector, groupSuffix: "-segment", topicEnv: NORMALIZED_TOPIC, topic: mailjet.events.normalized }
destination-intake:
  key: destinationIntake
  command: destination
  port: 8082
  portEnv: DESTINATION_PORT
  shutdownEnv: DESTINATION_SHUTDOWN_TIMEOUT_MS
  shutdownMs: 25000
  service: true
  env:
    DESTINATION_ROLE: intake
destination-worker:
  key: destinationWorker
  command: destination
  port: 8082
  portEnv: DESTINATION_PORT
  shutdownEnv: DESTINATION_SHUTDOWN_TIMEOUT_MS
  shutdownMs: 25000
  service: false
  consumes: { groupEnv: DESTINATION_GROUP_ID, group: mailjet-connector-destination, groupSuffix: "", topicEnv: IDENTIFY_TOPIC, topic: segment.identifies }
  env:
    DESTINATION_ROLE: worker
{{- end -}}
