// Command validate decodes every Kubernetes manifest under the given directories strictly into
// the Kubernetes API types: an unknown or misspelt field, a wrong type or a duplicate key fails.
// Custom resources (Strimzi, CloudNativePG, KEDA) and kustomizations have no types here; they
// are listed and left to tests/unit/test_k8s_manifests.py, which checks their structure.
//
//	go run . ../          # from deploy/k8s/validate: every *.yaml under deploy/k8s
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// coreTypes maps "apiVersion kind" to a fresh value of its Go type.
var coreTypes = map[string]func() any{
	"v1 ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1 Namespace":                           func() any { return &corev1.Namespace{} },
	"v1 Secret":                              func() any { return &corev1.Secret{} },
	"v1 Service":                             func() any { return &corev1.Service{} },
	"v1 ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"apps/v1 Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1 StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"batch/v1 Job":                           func() any { return &batchv1.Job{} },
	"batch/v1 CronJob":                       func() any { return &batchv1.CronJob{} },
	"policy/v1 PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2 HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1 NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
}

// customGroups are API groups whose resources are checked in Python instead.
var customGroups = []string{
	"kafka.strimzi.io/", "postgresql.cnpg.io/", "keda.sh/", "kustomize.config.k8s.io/",
}

var separator = regexp.MustCompile(`(?m)^---\s*$`)

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// result counts what one run saw; errors name the file and document.
type result struct {
	decoded map[string]int
	custom  map[string]int
	errors  []string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: validate DIR...")
		os.Exit(2)
	}
	res := result{decoded: map[string]int{}, custom: map[string]int{}}
	for _, root := range os.Args[1:] {
		if err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				res.checkFile(path)
			}
			return nil
		}); err != nil {
			res.errors = append(res.errors, err.Error())
		}
	}
	report(os.Stdout, "decoded", res.decoded)
	report(os.Stdout, "custom (checked in Python)", res.custom)
	for _, e := range res.errors {
		fmt.Fprintln(os.Stderr, "error:", e)
	}
	if len(res.errors) > 0 || len(res.decoded) == 0 {
		os.Exit(1)
	}
}

func (r *result) checkFile(path string) {
	content, err := os.ReadFile(path)
	if err != nil {
		r.errors = append(r.errors, err.Error())
		return
	}
	for i, doc := range separator.Split(string(content), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		if err := r.checkDocument([]byte(doc)); err != nil {
			r.errors = append(r.errors, fmt.Sprintf("%s (document %d): %v", path, i+1, err))
		}
	}
}

func (r *result) checkDocument(doc []byte) error {
	var h header
	if err := yaml.Unmarshal(doc, &h); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	if h.APIVersion == "" || h.Kind == "" {
		return fmt.Errorf("no apiVersion or kind")
	}
	key := h.APIVersion + " " + h.Kind
	for _, group := range customGroups {
		if strings.HasPrefix(h.APIVersion, group) {
			r.custom[key]++
			return nil
		}
	}
	newObject, known := coreTypes[key]
	if !known {
		return fmt.Errorf("%s: not a kind this check knows (add it to coreTypes)", key)
	}
	if err := yaml.UnmarshalStrict(doc, newObject()); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	r.decoded[key]++
	return nil
}

func stripComments(doc string) string {
	var out bytes.Buffer
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

func report(out *os.File, what string, counts map[string]int) {
	keys := make([]string, 0, len(counts))
	total := 0
	for k, n := range counts {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	fmt.Fprintf(out, "%s: %d\n", what, total)
	for _, k := range keys {
		fmt.Fprintf(out, "  %-50s %d\n", k, counts[k])
	}
}
