// Package deploy holds no code: Dockerfile, compose file, Kubernetes
// manifests and example configs. These tests check them against the code
// they deploy, since no Docker engine or cluster runs them in CI.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/workflows"
)

// knownEnv is the one list of environment variables the deploy files may
// set for signoff. TestKnownEnv keeps it honest both ways: each name is read
// by the code, and each variable the config names by default is here.
var knownEnv = []string{
	"SIGNOFF_CONFIG",
	"SIGNOFF_NOTIFIERS",
	"TEMPORAL_API_KEY",
	"SLACK_BOT_TOKEN",
	"SLACK_SIGNING_SECRET",
	"SLACK_APP_TOKEN",
	"SLACK_API_URL",
	"SMTP_HOST",
	"SMTP_PORT",
	"SMTP_USERNAME",
	"SMTP_PASSWORD",
	"SIGNOFF_EMAIL_LINK_KEY",
	"SIGNOFF_EMAIL_LINK_KEY_PREVIOUS",
	"SIGNOFF_EVIDENCE_KEY",
	"SIGNOFF_SESSION_KEY",
	"SIGNOFF_OIDC_CLIENT_SECRET",
	"SIGNOFF_CODEC_KEYS",
	"SIGNOFF_PROOF_KEYS",
	"SIGNOFF_WEBHOOK_SECRET",
	"SIGNOFF_POSTGRES_PASSWORD",
	"GITHUB_TOKEN",
}

// runtimeEnv are read by the Go runtime, not by Signoff's code.
var runtimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"}

// notSecret are known variables whose values may be written in the open.
var notSecret = []string{"SIGNOFF_CONFIG", "SIGNOFF_NOTIFIERS", "SLACK_API_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME"}

// Fixed points of the code the deploy files must agree with.
const (
	image        = "ghcr.io/signoff/signoff"
	configDir    = "/etc/signoff"
	configPath   = configDir + "/signoff.yaml"
	gatewayHTTP  = 8080
	gatewayGRPC  = 9090
	workerHealth = 8081
	secretName   = "signoff-secrets"
)

// productionConfigs are the configs the deploy files ship (dev excluded).
var productionConfigs = []string{
	"signoff.example.yaml",
	"kubernetes/base/signoff.yaml",
	"kubernetes/overlays/production/signoff.yaml",
}

func TestKnownEnv(t *testing.T) {
	t.Run("every name is read by the code", func(t *testing.T) {
		src := moduleSource(t)
		for _, name := range knownEnv {
			require.Contains(t, src, `"`+name+`"`, "%s is in knownEnv but no Go code outside deploy/ names it", name)
		}
	})
	t.Run("every variable the config names by default is known", func(t *testing.T) {
		l := parseConfig(t, "signoff.example.yaml")
		// temporal_server is only read by `signoff temporal`; resolve its
		// defaults (which need a broadcast IP for a host name) to see them.
		l.TemporalServer.BroadcastAddress = "127.0.0.1"
		ts, err := l.TemporalServer.Resolved(l.Config)
		require.NoError(t, err)
		c := *l.Config
		c.TemporalServer = ts
		envFields := map[string]string{}
		collectEnvFields(reflect.ValueOf(c), "", envFields)
		require.NotEmpty(t, envFields, "no *_env fields found: did the config change shape?")
		for key, name := range envFields {
			require.Contains(t, knownEnv, name, "config key %s defaults to %s, missing from knownEnv", key, name)
		}
	})
}

func TestConfigs(t *testing.T) {
	keys := configKeys(reflect.TypeFor[config.Config](), "")
	for _, path := range append([]string{"signoff.dev.yaml"}, productionConfigs...) {
		t.Run(path, func(t *testing.T) {
			l := parseConfig(t, path)
			for _, k := range yamlKeys(t, readFile(t, path)) {
				require.True(t, keys[k], "%s: key %s is not a field of config.Config", path, k)
			}
			if path == "signoff.dev.yaml" {
				return
			}
			require.False(t, l.DevOnly, "a shipped config must not be dev_only")
			require.Equal(t, gatewayHTTP, port(t, l.Gateway.HTTPAddress))
			require.Equal(t, gatewayGRPC, port(t, l.Gateway.GRPCAddress))
			require.Equal(t, workerHealth, port(t, l.Worker.HealthAddress))
			for _, a := range []string{l.Gateway.HTTPAddress, l.Gateway.GRPCAddress, l.Worker.HealthAddress} {
				require.True(t, strings.HasPrefix(a, "0.0.0.0:"), "%s: %s must listen on all interfaces in a container", path, a)
			}
			require.True(t, strings.HasPrefix(l.Gateway.PublicURL, "https://"), "%s: public_url must be https", path)
			for _, u := range l.Users {
				require.Empty(t, u.Token, "%s: user %s has a plaintext token", path, u.Name)
				require.NotEmpty(t, u.TokenSHA256, "%s: user %s has no token_sha256", path, u.Name)
			}
		})
	}
}

func TestDockerfile(t *testing.T) {
	df := readFile(t, "Dockerfile")
	for _, want := range []string{
		"CGO_ENABLED=0", "-tags nodev", "-trimpath",
		"USER 65532:65532",
		"ENV SIGNOFF_CONFIG=" + configPath,
		`ENTRYPOINT ["/usr/local/bin/signoff"]`,
	} {
		require.Contains(t, df, want)
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	require.NotEmpty(t, froms)
	final := froms[len(froms)-1][1]
	require.Regexp(t, `^(gcr\.io/distroless/static[-\w]*:nonroot|scratch)$`, final, "final stage must be minimal")
	goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(readFile(t, "../go.mod"))
	require.NotNil(t, goVersion)
	require.Contains(t, df, "ARG GO_VERSION="+goVersion[1], "the builder's Go must match go.mod")
	expose := regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindStringSubmatch(df)
	require.NotNil(t, expose)
	require.ElementsMatch(t, []string{"8080", "9090", "8081"}, strings.Fields(expose[1]))
}

// TestKubernetes checks every manifest: images, commands, environment,
// Secrets, ports, probes, hardening, and the references between objects.
func TestKubernetes(t *testing.T) {
	objs := loadManifests(t, "kubernetes/base")
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		require.NotEqual(t, "Secret", o.Kind, "%s: Secrets are created outside the repository, never committed", o.file)
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for _, kind := range []string{"Deployment", "Service", "Ingress", "PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "ServiceAccount"} {
		require.NotEmpty(t, byKind[kind], "no %s in the base", kind)
	}
	base := parseConfig(t, "kubernetes/base/signoff.yaml")

	deployments := map[string]k8sObject{}
	containerPorts := map[string]map[string]int{} // deployment -> port name -> number
	for _, d := range byKind["Deployment"] {
		deployments[d.Metadata.Name] = d
		pod := d.Spec.Template.Spec
		require.Len(t, pod.Containers, 1, d.Metadata.Name)
		c := pod.Containers[0]
		role := c.Args[0]
		require.Contains(t, []string{"worker", "gateway"}, role, "%s: unknown command", d.Metadata.Name)
		require.Equal(t, image, c.Image, d.Metadata.Name)
		require.Equal(t, role, d.Spec.Template.Metadata.Labels["app.kubernetes.io/component"])
		require.Equal(t, d.Spec.Selector.MatchLabels, subset(d.Spec.Template.Metadata.Labels, d.Spec.Selector.MatchLabels), "%s: selector must match the pod labels", d.Metadata.Name)

		ports := map[string]int{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		containerPorts[d.Metadata.Name] = ports
		switch role {
		case "gateway":
			require.Equal(t, map[string]int{"http": port(t, base.Gateway.HTTPAddress), "grpc": port(t, base.Gateway.GRPCAddress)}, ports)
			requireProbe(t, c.LivenessProbe, "/healthz", "http")
			requireProbe(t, c.ReadinessProbe, "/readyz", "http")
			require.NotNil(t, c.Lifecycle.PreStop, "the gateway needs a preStop delay to drain")
		case "worker":
			require.Equal(t, map[string]int{"health": port(t, base.Worker.HealthAddress)}, ports)
			requireProbe(t, c.LivenessProbe, "/healthz", "health")
			requireProbe(t, c.ReadinessProbe, "/readyz", "health")
		}

		// Environment: known names only; secrets by reference only.
		var sawConfig bool
		for _, e := range c.Env {
			require.True(t, slices.Contains(knownEnv, e.Name) || slices.Contains(runtimeEnv, e.Name),
				"%s: env %s is not read by signoff (knownEnv)", d.Metadata.Name, e.Name)
			if e.Name == "SIGNOFF_CONFIG" {
				require.Equal(t, configPath, e.Value)
				sawConfig = true
				continue
			}
			if slices.Contains(knownEnv, e.Name) && !slices.Contains(notSecret, e.Name) {
				require.Empty(t, e.Value, "%s: %s must come from a Secret, not a literal", d.Metadata.Name, e.Name)
				require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s: %s must reference a Secret", d.Metadata.Name, e.Name)
				require.Equal(t, secretName, e.ValueFrom.SecretKeyRef.Name)
				require.Equal(t, e.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		}
		require.True(t, sawConfig, "%s: SIGNOFF_CONFIG not set", d.Metadata.Name)
		require.Len(t, c.VolumeMounts, 1)
		require.Equal(t, configDir, c.VolumeMounts[0].MountPath)
		require.True(t, c.VolumeMounts[0].ReadOnly)
		require.Equal(t, "signoff-config", volumeConfigMap(pod.Volumes, c.VolumeMounts[0].Name), "%s: config volume", d.Metadata.Name)

		// Hardening and lifecycle.
		require.True(t, pod.SecurityContext.RunAsNonRoot, d.Metadata.Name)
		sc := c.SecurityContext
		require.True(t, sc.ReadOnlyRootFilesystem, d.Metadata.Name)
		require.True(t, sc.RunAsNonRoot, d.Metadata.Name)
		require.NotNil(t, sc.AllowPrivilegeEscalation)
		require.False(t, *sc.AllowPrivilegeEscalation, d.Metadata.Name)
		require.Equal(t, []string{"ALL"}, sc.Capabilities.Drop, d.Metadata.Name)
		require.NotEmpty(t, c.Resources.Requests["cpu"], d.Metadata.Name)
		require.NotEmpty(t, c.Resources.Requests["memory"], d.Metadata.Name)
		require.NotEmpty(t, c.Resources.Limits["memory"], d.Metadata.Name)
		require.Positive(t, pod.TerminationGracePeriodSeconds, d.Metadata.Name)
		require.Positive(t, d.Spec.Replicas, d.Metadata.Name)
	}

	// Services point at named container ports of the Deployment they select.
	servicePorts := map[string]map[string]bool{}
	for _, s := range byKind["Service"] {
		d := selected(t, deployments, s.Spec.Selector.MatchLabels)
		servicePorts[s.Metadata.Name] = map[string]bool{}
		for _, p := range s.Spec.Ports {
			_, ok := containerPorts[d][p.TargetPort]
			require.True(t, ok, "service %s: targetPort %s is not a port of %s", s.Metadata.Name, p.TargetPort, d)
			servicePorts[s.Metadata.Name][p.Name] = true
		}
	}
	for _, ing := range byKind["Ingress"] {
		require.NotEmpty(t, ing.Spec.TLS, "ingress %s: TLS", ing.Metadata.Name)
		var paths []string
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				b := p.Backend.Service
				require.True(t, servicePorts[b.Name][b.Port.Name], "ingress %s: backend %s:%s", ing.Metadata.Name, b.Name, b.Port.Name)
				paths = append(paths, p.Path)
			}
		}
		for _, p := range paths {
			require.NotContains(t, []string{"/metrics", "/healthz", "/readyz"}, p, "keep health and metrics off the ingress")
		}
		if ing.Metadata.Name == "signoff-gateway" {
			require.Contains(t, paths, "/v1/")
			require.Contains(t, paths, "/slack/", "Slack must reach /slack/*")
		}
	}
	for _, sm := range byKind["ServiceMonitor"] {
		for _, ep := range sm.Spec.Endpoints {
			require.Equal(t, "/metrics", ep.Path)
			found := false
			for _, ports := range servicePorts {
				found = found || ports[ep.Port]
			}
			require.True(t, found, "servicemonitor port %s is on no Service", ep.Port)
		}
	}
	for _, p := range byKind["PodDisruptionBudget"] {
		selected(t, deployments, p.Spec.Selector.MatchLabels)
	}
	for _, h := range byKind["HorizontalPodAutoscaler"] {
		_, ok := deployments[h.Spec.ScaleTargetRef.Name]
		require.True(t, ok, "hpa %s targets %s", h.Metadata.Name, h.Spec.ScaleTargetRef.Name)
		require.LessOrEqual(t, h.Spec.MinReplicas, deployments[h.Spec.ScaleTargetRef.Name].Spec.Replicas,
			"hpa %s: minReplicas above the Deployment's replicas", h.Metadata.Name)
	}
	for _, np := range byKind["NetworkPolicy"] {
		d := selected(t, deployments, np.Spec.PodSelector.MatchLabels)
		for _, in := range np.Spec.Ingress {
			for _, p := range in.Ports {
				require.True(t, slices.Contains(mapValues(containerPorts[d]), p.Port), "networkpolicy %s: port %d is not a port of %s", np.Metadata.Name, p.Port, d)
			}
		}
	}

	t.Run("probe and metrics paths are served by the code", func(t *testing.T) {
		for _, file := range []string{"../gateway/server.go", "../cmd/signoff/health.go"} {
			src := readFile(t, file)
			for _, route := range []string{`"GET /healthz"`, `"GET /readyz"`, `"GET /metrics"`} {
				require.Contains(t, src, route, file)
			}
		}
		require.Contains(t, readFile(t, "../channel/slack/callbacks/handler.go"), `"/slack/`, "the ingress routes /slack/ to the gateway")
	})

	t.Run("overlays", func(t *testing.T) {
		names := map[string]bool{}
		for _, o := range objs {
			names[o.Kind+"/"+o.Metadata.Name] = true
		}
		prod := loadManifests(t, "kubernetes/overlays/production")
		for _, o := range prod {
			require.NotEqual(t, "Secret", o.Kind)
			require.True(t, names[o.Kind+"/"+o.Metadata.Name], "overlay patch %s/%s patches nothing in the base", o.Kind, o.Metadata.Name)
		}
	})
}

// TestCompose checks the compose file: Signoff services, their config,
// environment and health checks, and Temporal's images and set-up.
func TestCompose(t *testing.T) {
	var cf composeFile
	require.NoError(t, yaml.Unmarshal([]byte(readFile(t, "compose.yaml")), &cf))
	cfg := parseConfig(t, "signoff.example.yaml")

	roles := map[string]bool{}
	for name, s := range cf.Services {
		if !strings.HasPrefix(name, "signoff-") {
			continue
		}
		role := s.Command[0]
		roles[role] = true
		require.Contains(t, []string{"worker", "gateway"}, role, name)
		require.Contains(t, s.Image, "SIGNOFF_IMAGE", name)
		for k, v := range s.Environment {
			require.Contains(t, knownEnv, k, "%s: env %s is not read by signoff", name, k)
			if !slices.Contains(notSecret, k) {
				require.Regexp(t, `^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$`, v, "%s: %s must be taken from the environment, not written here", name, k)
			}
		}
		require.Equal(t, configPath, s.Environment["SIGNOFF_CONFIG"], name)
		var mounted string
		for _, v := range s.Volumes {
			if src, dst, ok := strings.Cut(strings.TrimSuffix(v, ":ro"), ":"); ok && dst == configPath {
				mounted = src
			}
		}
		require.Equal(t, "./signoff.example.yaml", mounted, "%s mounts the example config", name)
		require.True(t, s.ReadOnly, name)
		require.Equal(t, []string{"ALL"}, s.CapDrop, name)
		require.Equal(t, "65532:65532", s.User, name)

		probePort, probePath := workerHealth, "/readyz"
		if role == "gateway" {
			probePort = port(t, cfg.Gateway.HTTPAddress)
			require.ElementsMatch(t, []string{"8080:8080", "9090:9090"}, s.Ports)
		} else {
			require.Equal(t, port(t, cfg.Worker.HealthAddress), probePort)
		}
		require.Equal(t, []string{"CMD", "/usr/local/bin/signoff", "probe", "http://127.0.0.1:" + strconv.Itoa(probePort) + probePath}, s.Healthcheck.Test, name)
	}
	require.True(t, roles["worker"] && roles["gateway"], "compose runs a worker and a gateway")

	t.Run("temporal images follow go.mod", func(t *testing.T) {
		gomod := readFile(t, "../go.mod")
		server := regexp.MustCompile(`go\.temporal\.io/server v(\S+)`).FindStringSubmatch(gomod)
		ui := regexp.MustCompile(`github\.com/temporalio/ui-server/v2 v(\S+)`).FindStringSubmatch(gomod)
		require.NotNil(t, server)
		require.NotNil(t, ui)
		require.Equal(t, "temporalio/server:"+server[1], cf.Services["temporal"].Image)
		require.Equal(t, "temporalio/admin-tools:"+server[1], cf.Services["temporal-schema"].Image)
		require.Equal(t, "temporalio/admin-tools:"+server[1], cf.Services["temporal-setup"].Image)
		require.Equal(t, "temporalio/ui:"+ui[1], cf.Services["temporal-ui"].Image)
	})
	t.Run("set-up registers the namespace and search attributes", func(t *testing.T) {
		setup := cf.Services["temporal-setup"]
		require.Equal(t, cfg.Temporal.Namespace, setup.Environment["NAMESPACE"])
		script := strings.Join(setup.Command, "\n")
		for sa := range workflows.SearchAttributes {
			require.Contains(t, script, sa)
		}
		require.Contains(t, script, "--type Keyword")
	})
	t.Run("every service that others wait on has a health check", func(t *testing.T) {
		for name, s := range cf.Services {
			for dep, cond := range s.DependsOn {
				if cond.Condition == "service_healthy" {
					require.NotEmpty(t, cf.Services[dep].Healthcheck.Test, "%s waits for %s to be healthy", name, dep)
				}
			}
		}
	})
	t.Run("mounted files exist", func(t *testing.T) {
		for name, s := range cf.Services {
			for _, v := range s.Volumes {
				if src, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, "./") {
					_, err := os.Stat(src)
					require.NoError(t, err, "%s mounts %s", name, src)
				}
			}
		}
	})
}

// TestNoSecretsInFiles looks for literal secrets in every deploy file: a
// known secret variable given a value, or a password-like key.
func TestNoSecretsInFiles(t *testing.T) {
	secretKey := regexp.MustCompile(`(?mi)^\s*-?\s*(password|secret|api_key|token)\s*:.*$`)
	assign := regexp.MustCompile(`(?m)^[ \t]*-?[ \t]*"?([A-Z][A-Z0-9_]+)"?[ \t]*[:=][ \t]*(\S.*)$`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range assign.FindAllStringSubmatch(string(b), -1) {
			name, value := m[1], strings.Trim(strings.TrimSpace(m[2]), `"'`)
			if !slices.Contains(knownEnv, name) || slices.Contains(notSecret, name) {
				continue
			}
			if value == "" || strings.HasPrefix(value, "${") || strings.HasPrefix(value, "#") || strings.HasPrefix(value, "...") {
				continue
			}
			t.Errorf("%s: %s has a literal value", path, name)
		}
		// The dev config's plaintext tokens are its point (dev_only: true).
		if path != "signoff.dev.yaml" {
			if m := secretKey.FindString(string(b)); m != "" {
				t.Errorf("%s: secret-looking key %q", path, strings.TrimSpace(m))
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// --- config helpers

func parseConfig(t *testing.T, path string) *config.Loaded {
	t.Helper()
	l, err := config.Parse([]byte(readFile(t, path)))
	require.NoError(t, err, "config.Parse(%s)", path)
	return l
}

// configKeys lists every dotted key path config.Config accepts ("[]" for
// list items). Types with their own YAML decoding are leaves.
func configKeys(typ reflect.Type, prefix string) map[string]bool {
	keys := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
			return
		}
		switch t.Kind() {
		case reflect.Slice:
			walk(t.Elem(), prefix+"[]")
		case reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if name == "-" || !f.IsExported() {
					continue
				}
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				key := strings.TrimPrefix(prefix+"."+name, ".")
				keys[key] = true
				walk(f.Type, key)
			}
		}
	}
	walk(typ, prefix)
	return keys
}

// yamlKeys lists the dotted key paths a YAML document sets. Maps under a
// key that is a map in the Go type (match, connect_attributes) still show
// up; callers only compare keys the struct walk can know.
func yamlKeys(t *testing.T, doc string) []string {
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte(doc), &root))
	var out []string
	structKeys := configKeys(reflect.TypeFor[config.Config](), "")
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, prefix+"[]")
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := strings.TrimPrefix(prefix+"."+n.Content[i].Value, ".")
				out = append(out, key)
				// Descend only where the Go type is a struct: below a map
				// or a custom type, any key is data.
				if hasChildren(structKeys, key) {
					walk(n.Content[i+1], key)
				}
			}
		}
	}
	walk(&root, "")
	sort.Strings(out)
	return out
}

func hasChildren(keys map[string]bool, key string) bool {
	for k := range keys {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[].") {
			return true
		}
	}
	return false
}

// collectEnvFields records string fields whose YAML key ends in _env: the
// names of environment variables the config tells the code to read.
func collectEnvFields(v reflect.Value, prefix string, out map[string]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			collectEnvFields(v.Elem(), prefix, out)
		}
	case reflect.Slice:
		for i := range v.Len() {
			collectEnvFields(v.Index(i), prefix+"[]", out)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			key := strings.TrimPrefix(prefix+"."+name, ".")
			if strings.HasSuffix(name, "_env") && f.Type.Kind() == reflect.String {
				if s := v.Field(i).String(); s != "" {
					out[key] = s
				}
				continue
			}
			collectEnvFields(v.Field(i), key, out)
		}
	}
}

// moduleSource concatenates the module's non-test Go files outside deploy/.
func moduleSource(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		buf.Write(b)
		return err
	})
	require.NoError(t, err)
	return buf.String()
}

// --- Kubernetes helpers

type k8sObject struct {
	file     string
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// Service
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// Ingress
		TLS []struct {
			Hosts      []string `yaml:"hosts"`
			SecretName string   `yaml:"secretName"`
		} `yaml:"tls"`
		Rules []struct {
			HTTP struct {
				Paths []struct {
					Path    string `yaml:"path"`
					Backend struct {
						Service struct {
							Name string `yaml:"name"`
							Port struct {
								Name string `yaml:"name"`
							} `yaml:"port"`
						} `yaml:"service"`
					} `yaml:"backend"`
				} `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
		// ServiceMonitor
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
		// HorizontalPodAutoscaler
		ScaleTargetRef struct {
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		// NetworkPolicy
		PodSelector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"podSelector"`
		Ingress []struct {
			Ports []struct {
				Port int `yaml:"port"`
			} `yaml:"ports"`
		} `yaml:"ingress"`
	} `yaml:"spec"`
}

// UnmarshalYAML reads a Service's selector, a plain map, into
// Spec.Selector.MatchLabels as well.
func (o *k8sObject) UnmarshalYAML(n *yaml.Node) error {
	type plain k8sObject
	if err := n.Decode((*plain)(o)); err != nil {
		return err
	}
	if o.Kind == "Service" {
		var s struct {
			Spec struct {
				Selector map[string]string `yaml:"selector"`
			} `yaml:"spec"`
		}
		if err := n.Decode(&s); err != nil {
			return err
		}
		o.Spec.Selector.MatchLabels = s.Spec.Selector
	}
	return nil
}

type podSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []volume    `yaml:"volumes"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

type container struct {
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	LivenessProbe  *probeSpec `yaml:"livenessProbe"`
	ReadinessProbe *probeSpec `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop any `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsNonRoot             bool  `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type probeSpec struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func requireProbe(t *testing.T, p *probeSpec, path, portName string) {
	t.Helper()
	require.NotNil(t, p, "probe for %s", path)
	require.Equal(t, path, p.HTTPGet.Path)
	require.Equal(t, portName, p.HTTPGet.Port)
}

// kustomization is the part of kustomization.yaml these tests follow.
type kustomization struct {
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name  string   `yaml:"name"`
		Files []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Patches []struct {
		Path string `yaml:"path"`
	} `yaml:"patches"`
}

// loadManifests reads a kustomization's resources (files, not other
// kustomizations) and patch files, checking that each exists and that
// generated config files parse.
func loadManifests(t *testing.T, dir string) []k8sObject {
	t.Helper()
	var k kustomization
	require.NoError(t, yaml.Unmarshal([]byte(readFile(t, filepath.Join(dir, "kustomization.yaml"))), &k))
	var files []string
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		require.NoError(t, err, "%s: resource %s", dir, r)
		if st.IsDir() {
			_, err := os.Stat(filepath.Join(p, "kustomization.yaml"))
			require.NoError(t, err, "%s: %s is not a kustomization", dir, r)
			continue
		}
		files = append(files, p)
	}
	for _, p := range k.Patches {
		if p.Path != "" {
			files = append(files, filepath.Join(dir, p.Path))
		}
	}
	for _, g := range k.ConfigMapGenerator {
		require.Equal(t, "signoff-config", g.Name)
		for _, f := range g.Files {
			require.Equal(t, filepath.Base(configPath), f, "the ConfigMap key is the file the pods read")
			parseConfig(t, filepath.Join(dir, f))
		}
	}
	var objs []k8sObject
	for _, f := range files {
		dec := yaml.NewDecoder(strings.NewReader(readFile(t, f)))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			require.NotEmpty(t, o.Kind, "%s: a document without kind", f)
			require.NotEmpty(t, o.Metadata.Name, "%s: a %s without name", f, o.Kind)
			o.file = f
			objs = append(objs, o)
		}
	}
	return objs
}

// selected returns the Deployment whose pod labels match a selector, and
// fails unless exactly one does.
func selected(t *testing.T, deployments map[string]k8sObject, sel map[string]string) string {
	t.Helper()
	var hits []string
	for name, d := range deployments {
		if len(sel) > 0 && reflect.DeepEqual(sel, subset(d.Spec.Template.Metadata.Labels, sel)) {
			hits = append(hits, name)
		}
	}
	require.Len(t, hits, 1, "selector %v matches %v", sel, hits)
	return hits[0]
}

// subset returns the entries of labels whose keys are in sel.
func subset(labels, sel map[string]string) map[string]string {
	out := map[string]string{}
	for k := range sel {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

func volumeConfigMap(vols []volume, name string) string {
	for _, v := range vols {
		if v.Name == name {
			return v.ConfigMap.Name
		}
	}
	return ""
}

// --- compose helpers

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	ReadOnly    bool              `yaml:"read_only"`
	User        string            `yaml:"user"`
	CapDrop     []string          `yaml:"cap_drop"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// --- small helpers

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, addr)
	n, err := net.LookupPort("tcp", p)
	require.NoError(t, err, addr)
	return n
}

func mapValues(m map[string]int) []int {
	out := make([]int, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
