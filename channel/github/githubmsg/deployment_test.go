package githubmsg

import (
	"strings"
	"testing"
)

const testBase = "https://api.github.com"

func TestParseCallback(t *testing.T) {
	const route = "/repos/octo-org/api/actions/runs/42/deployment_protection_rule"
	for name, tc := range map[string]struct {
		base, raw string
		want      Callback // zero: refused
	}{
		"github.com":               {testBase, testBase + route, Callback{"octo-org", "api", 42}},
		"base with a slash":        {testBase + "/", testBase + route, Callback{"octo-org", "api", 42}},
		"host in capitals":         {testBase, "https://API.GitHub.com" + route, Callback{"octo-org", "api", 42}},
		"enterprise server":        {"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3" + route, Callback{"octo-org", "api", 42}},
		"loopback fake":            {"http://127.0.0.1:8081", "http://127.0.0.1:8081" + route, Callback{"octo-org", "api", 42}},
		"the documented example's": {testBase, "https://github.local/deploy-the-thing", Callback{}},
		"another host":             {testBase, "https://evil.example.com" + route, Callback{}},
		"a host that ends alike":   {testBase, "https://api.github.com.evil.example.com" + route, Callback{}},
		"plain http":               {testBase, "http://api.github.com" + route, Callback{}},
		"another port":             {testBase, "https://api.github.com:8443" + route, Callback{}},
		"credentials":              {testBase, "https://user:pass@api.github.com" + route, Callback{}},
		"a query":                  {testBase, testBase + route + "?next=https://evil.example.com", Callback{}},
		"a fragment":               {testBase, testBase + route + "#x", Callback{}},
		"outside the base path":    {"https://ghe.example.com/api/v3", "https://ghe.example.com" + route, Callback{}},
		"dot segments":             {testBase, testBase + "/repos/octo-org/api/../../../app/installations/1/access_tokens", Callback{}},
		"escaped slash":            {testBase, testBase + "/repos/octo-org%2Fapi/x/actions/runs/42/deployment_protection_rule", Callback{}},
		"another route":            {testBase, testBase + "/repos/octo-org/api/actions/runs/42/pending_deployments", Callback{}},
		"a longer path":            {testBase, testBase + route + "/x", Callback{}},
		"run id not a number":      {testBase, testBase + "/repos/octo-org/api/actions/runs/4x2/deployment_protection_rule", Callback{}},
		"run id zero":              {testBase, testBase + "/repos/octo-org/api/actions/runs/0/deployment_protection_rule", Callback{}},
		"owner not a name":         {testBase, testBase + "/repos/-octo/api/actions/runs/42/deployment_protection_rule", Callback{}},
		"empty":                    {testBase, "", Callback{}},
		"relative":                 {testBase, route, Callback{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseCallback(tc.base, tc.raw)
			if tc.want == (Callback{}) {
				if err == nil {
					t.Fatalf("ParseCallback(%q) = %+v, want refused", tc.raw, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseCallback(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
			}
			if u := got.URL(tc.base); u != strings.TrimRight(tc.base, "/")+route {
				t.Fatalf("URL = %s", u)
			}
		})
	}
}

// TestDeploymentCheck: the callback must be the route of the deployment's
// own repository and run.
func TestDeploymentCheck(t *testing.T) {
	good := Deployment{Repository: "octo-org/api", Environment: "production", RunID: 42, DeploymentID: 7, InstallationID: 9,
		CallbackURL: testBase + "/repos/octo-org/api/actions/runs/42/deployment_protection_rule"}
	if _, err := good.Check(testBase); err != nil {
		t.Fatal(err)
	}
	otherRepo := good
	otherRepo.Repository = "octo-org/web"
	otherRun := good
	otherRun.RunID = 43
	noInstallation := good
	noInstallation.InstallationID = 0
	for name, d := range map[string]Deployment{"another repository": otherRepo, "another run": otherRun, "no installation": noInstallation} {
		if _, err := d.Check(testBase); err == nil {
			t.Errorf("%s: Check accepted %+v", name, d)
		}
	}
	if _, ok := FromFields(map[string]string{FieldRepository: "octo-org/api", "version": "1"}); ok {
		t.Fatal("FromFields took fields without a callback for a GitHub deployment")
	}
}
