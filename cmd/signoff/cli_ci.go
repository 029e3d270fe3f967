package main

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// maxRequestID is the gateway's limit on request_id.
const maxRequestID = 128

// ciRequestID derives `signoff request`'s request_id from the CI run, so a
// retried job (GitHub's "Re-run jobs", a Jenkins stage restart of the same
// build, GitLab's "Retry") finds the approval it asked for instead of asking
// again. It names the run and the job but never the attempt, and adds the
// environment and resource, so one job may gate several environments. It
// returns "" (a new approval per call) outside a known CI, and the CI's
// name.
func ciRequestID(getenv func(string) string, environment, resource string) (id, ci string) {
	var parts []string
	switch {
	case getenv("GITHUB_ACTIONS") == "true" && getenv("GITHUB_RUN_ID") != "":
		// GITHUB_RUN_ATTEMPT is left out on purpose: a re-run is a new
		// attempt of the same run.
		ci, parts = "GitHub Actions", []string{"github", getenv("GITHUB_REPOSITORY"), getenv("GITHUB_RUN_ID"), getenv("GITHUB_JOB")}
	case getenv("GITLAB_CI") == "true" && getenv("CI_PIPELINE_ID") != "":
		// CI_JOB_ID changes on retry; the job name does not.
		ci, parts = "GitLab CI", []string{"gitlab", getenv("CI_PROJECT_PATH"), getenv("CI_PIPELINE_ID"), getenv("CI_JOB_NAME")}
	case getenv("CIRCLECI") == "true" && getenv("CIRCLE_WORKFLOW_ID") != "":
		ci, parts = "CircleCI", []string{"circleci", getenv("CIRCLE_WORKFLOW_ID"), getenv("CIRCLE_JOB")}
	case getenv("JOB_NAME") != "" && getenv("BUILD_NUMBER") != "":
		// Jenkins: STAGE_NAME is set inside a declarative pipeline stage.
		ci, parts = "Jenkins", []string{"jenkins", getenv("JOB_NAME"), getenv("BUILD_NUMBER"), getenv("STAGE_NAME")}
	default:
		return "", ""
	}
	parts = slices.DeleteFunc(append(parts, environment, resource), func(p string) bool { return p == "" })
	id = "ci/" + strings.Join(parts, "/")
	if len(id) > maxRequestID {
		sum := sha256.Sum256([]byte(id))
		id = "ci/" + parts[0] + "/" + hex.EncodeToString(sum[:20])
	}
	return id, ci
}
