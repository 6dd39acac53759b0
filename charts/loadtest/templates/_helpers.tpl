{{/*
loadtest.name: the chart name, or nameOverride.
*/}}
{{- define "loadtest.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{/*
loadtest.fullname: prefix of every object name. Truncated to 50 characters so that
"-master", "-worker" and "-dashboard-..." suffixes still fit in a 63-character DNS label.
*/}}
{{- define "loadtest.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
loadtest.chart: chart name and version for the helm.sh/chart label.
*/}}
{{- define "loadtest.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
loadtest.runId: the run id (run.id, or the release name): names the artifacts directory
and labels metrics. It must not change on upgrade, so it is never derived from the revision.
*/}}
{{- define "loadtest.runId" -}}
{{- default .Release.Name .Values.run.id | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
loadtest.selectorLabels: immutable selector labels (never the chart version).
*/}}
{{- define "loadtest.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loadtest.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
loadtest.labels: labels of every object: selector labels, chart, version, manager, run id.
*/}}
{{- define "loadtest.labels" -}}
helm.sh/chart: {{ include "loadtest.chart" . }}
{{ include "loadtest.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: loadtest
loadtest.io/run-id: {{ include "loadtest.runId" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
loadtest.componentSelector: selector labels of one component; call with
(dict "ctx" $ "component" "master").
*/}}
{{- define "loadtest.componentSelector" -}}
{{ include "loadtest.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
loadtest.componentLabels: all labels of one component's objects; same arguments as above.
*/}}
{{- define "loadtest.componentLabels" -}}
{{ include "loadtest.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
loadtest.image: the runner image reference; a digest wins over the tag.
*/}}
{{- define "loadtest.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
loadtest.serviceAccountName: the runner's ServiceAccount.
*/}}
{{- define "loadtest.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (printf "%s-runner" (include "loadtest.fullname" .)) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
loadtest.masterHost: DNS name of the master Service (what workers connect to).
*/}}
{{- define "loadtest.masterHost" -}}
{{- printf "%s-master" (include "loadtest.fullname" .) -}}
{{- end -}}

{{/*
loadtest.artifactsDir: the run's artifacts directory inside master and gate pods.
*/}}
{{- define "loadtest.artifactsDir" -}}
{{- printf "/artifacts/%s" (include "loadtest.runId" .) -}}
{{- end -}}

{{/*
loadtest.artifactsClaim: name of the artifacts PVC (existing or created).
*/}}
{{- define "loadtest.artifactsClaim" -}}
{{- default (printf "%s-artifacts" (include "loadtest.fullname" .)) .Values.artifacts.persistence.existingClaim -}}
{{- end -}}

{{/*
loadtest.locustfiles: the locustfiles as a JSON object of relative path to content: the
values' files, or the chart's example locustfile when none are given. JSON, not YAML, so
that contents survive the include/fromJson round trip byte for byte (trailing newlines too).
*/}}
{{- define "loadtest.locustfiles" -}}
{{- if .Values.locustfiles.files -}}
{{- toJson .Values.locustfiles.files -}}
{{- else -}}
{{- toJson (dict "locustfile.py" (.Files.Get "files/locustfile.py")) -}}
{{- end -}}
{{- end -}}

{{/*
loadtest.configMapKey: ConfigMap data key of a relative path ("/" is not allowed in keys;
the volume's items map each key back to its path).
*/}}
{{- define "loadtest.configMapKey" -}}
{{- . | replace "/" "--" -}}
{{- end -}}

{{/*
loadtest.locustfilesChecksum: sha256 of the locustfiles' paths and contents; the pods carry it
as checksum/locustfiles so they roll when, and only when, a script changes.
*/}}
{{- define "loadtest.locustfilesChecksum" -}}
{{- include "loadtest.locustfiles" . | sha256sum -}}
{{- end -}}

{{/*
loadtest.locustfilePaths: Locust's -f value: the mounted locustfile(s) plus extra paths.
*/}}
{{- define "loadtest.locustfilePaths" -}}
{{- $paths := list -}}
{{- range splitList "," .Values.locustfiles.locustfile -}}
{{- $paths = append $paths (printf "/locust/%s" (trim .)) -}}
{{- end -}}
{{- join "," (concat $paths .Values.locustfiles.extraPaths) -}}
{{- end -}}

{{/*
loadtest.tagArgs: --tags/--exclude-tags arguments shared by master and workers, as a YAML list.
*/}}
{{- define "loadtest.tagArgs" -}}
{{- $args := list -}}
{{- with .Values.run.tags -}}
{{- $args = concat $args (list "--tags") . -}}
{{- end -}}
{{- with .Values.run.excludeTags -}}
{{- $args = concat $args (list "--exclude-tags") . -}}
{{- end -}}
{{- toYaml $args -}}
{{- end -}}

{{/*
loadtest.loadEnv: environment shared by master and workers: Python paths and a writable HOME
on the emptyDir (the root filesystem is read-only), the run's plain env, and target
credentials only through secretKeyRef.
*/}}
{{- define "loadtest.loadEnv" -}}
- name: PYTHONPATH
  value: /locust
# Workers prove they belong to this run with it (loadtest.locust.auth); master and workers only.
- name: LOADTEST_RUN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "loadtest.fullname" . }}-run
      key: run-secret
{{- $guard := include "loadtest.guardHosts" . }}
{{- if $guard }}
# Every request of the locustfile must go to one of these (loadtest.locust.allowlist).
- name: LOADTEST_GUARD_HOSTS
  value: {{ $guard | quote }}
{{- end }}
- name: PYTHONUNBUFFERED
  value: "1"
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: HOME
  value: /tmp
{{- range $name, $value := .Values.run.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- if .Values.targetAuth.existingSecret }}
{{- range $name, $key := .Values.targetAuth.env }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.targetAuth.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
loadtest.demoTargetName: the demo target's Deployment and Service (its DNS name in the namespace).
*/}}
{{- define "loadtest.demoTargetName" -}}
{{- printf "%s-demo-target" (include "loadtest.fullname" .) -}}
{{- end -}}

{{/*
loadtest.targetHost: the run's target: run.host, else the release's demo target when enabled, else empty.
*/}}
{{- define "loadtest.targetHost" -}}
{{- if .Values.run.host -}}
{{- .Values.run.host -}}
{{- else if .Values.demoTarget.enabled -}}
{{- printf "http://%s:%d" (include "loadtest.demoTargetName" .) (int .Values.demoTarget.port) -}}
{{- end -}}
{{- end -}}

{{/*
loadtest.guardHosts: the run's effective allowlist, comma-separated: run.allowedHosts and run.host's
host[:port]. Empty (no guard) only when neither is set.
*/}}
{{- define "loadtest.guardHosts" -}}
{{- $hosts := .Values.run.allowedHosts | default list -}}
{{- $target := include "loadtest.targetHost" . -}}
{{- if $target -}}
{{- $hosts = append $hosts (urlParse $target).host -}}
{{- end -}}
{{- $hosts | uniq | join "," -}}
{{- end -}}

{{/*
loadtest.locustfilesVolume: the locustfiles ConfigMap volume, each key mapped back to its path.
*/}}
{{- define "loadtest.locustfilesVolume" -}}
- name: locustfiles
  configMap:
    name: {{ include "loadtest.fullname" . }}-locustfiles
    items:
      {{- range $path, $_ := (include "loadtest.locustfiles" . | fromJson) }}
      - key: {{ include "loadtest.configMapKey" $path }}
        path: {{ $path }}
      {{- end }}
{{- end -}}

{{/*
loadtest.podSecurityContext: the pod-level security context (restricted profile).
*/}}
{{- define "loadtest.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{/*
loadtest.containerSecurityContext: the container-level security context (restricted profile).
*/}}
{{- define "loadtest.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/*
loadtest.waitContainer: an init container that holds its pod until `url` answers (deadline 600 s):
tcp://HOST:PORT accepts a connection, or http://HOST:PORT answers GET /healthz. dict: ctx, name, url.
*/}}
{{- define "loadtest.waitContainer" -}}
- name: {{ .name }}
  image: {{ include "loadtest.image" .ctx }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  command:
    - python
    - -c
    - |
      import socket, sys, time, urllib.parse, urllib.request
      url, deadline = sys.argv[1], time.monotonic() + 600
      parsed = urllib.parse.urlsplit(url)
      while time.monotonic() < deadline:
          try:
              if parsed.scheme == "tcp":
                  socket.create_connection((parsed.hostname, parsed.port), timeout=2).close()
              else:  # urlopen raises on an error status
                  urllib.request.urlopen(url + "/healthz", timeout=2).close()
              sys.exit(0)
          except OSError as exc:
              print(f"waiting for {url}: {exc}", flush=True)
              time.sleep(1)
      sys.exit(f"{url} did not answer within 600 s")
    - {{ .url | quote }}
  securityContext:
    {{- include "loadtest.containerSecurityContext" .ctx | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/*
loadtest.validate: cross-field checks the JSON schema cannot express; fails with the key and fix.
*/}}
{{- define "loadtest.validate" -}}
{{- if and .Values.gate.enabled (not .Values.artifacts.persistence.enabled) -}}
{{- fail "gate.enabled is true but artifacts.persistence.enabled is false: the gate Job reads the run's stats.json from the artifacts PVC; set artifacts.persistence.enabled=true (optionally with artifacts.persistence.existingClaim)" -}}
{{- end -}}
{{- $files := include "loadtest.locustfiles" . | fromJson -}}
{{- if and .Values.sla.file (not (hasKey $files .Values.sla.file)) -}}
{{- fail (printf "sla.file %q is not a key of locustfiles.files: add the SLA file there or fix the path" .Values.sla.file) -}}
{{- end -}}
{{- range splitList "," .Values.locustfiles.locustfile -}}
{{- if not (hasKey $files (trim .)) -}}
{{- fail (printf "locustfiles.locustfile names %q, which is not a key of locustfiles.files: add it or fix the path" (trim .)) -}}
{{- end -}}
{{- end -}}
{{- $keys := dict -}}
{{- range $path, $_ := $files -}}
{{- $key := include "loadtest.configMapKey" $path -}}
{{- if hasKey $keys $key -}}
{{- fail (printf "locustfiles.files: %q and %q map to the same ConfigMap key %q: rename one" (get $keys $key) $path $key) -}}
{{- end -}}
{{- $_ := set $keys $key $path -}}
{{- end -}}
{{- if and .Values.targetAuth.env (not .Values.targetAuth.existingSecret) -}}
{{- fail "targetAuth.env is set but targetAuth.existingSecret is empty: name the Secret that holds the keys" -}}
{{- end -}}
{{- end -}}
