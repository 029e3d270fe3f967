package gateway

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
)

// The OpenAPI document, the HTTP rules it and the REST mux are generated
// from, and the generated mux itself (`make proto`; CI checks they are fresh).
const (
	openapiPath   = "../proto/signoff/v1/signoff.swagger.json"
	httpRulesPath = "../proto/signoff/v1/signoff_api.yaml"
	restMuxPath   = "../proto/signoff/v1/signoff.pb.gw.go"
)

// apiRoute is one method and path template, in the document's spelling:
// "/v1/approvals/{id}:decide".
type apiRoute struct{ method, path string }

func (r apiRoute) String() string { return r.method + " " + r.path }

type openapiDoc struct {
	SecurityDefinitions map[string]struct {
		Type, Name, In, Description string
	} `json:"securityDefinitions"`
	Security    []map[string][]string                 `json:"security"`
	Paths       map[string]map[string]json.RawMessage `json:"paths"`
	Definitions map[string]openapiSchema              `json:"definitions"`
}

type openapiOperation struct {
	OperationID string                     `json:"operationId"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []openapiParam             `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

type openapiParam struct {
	Name, In string
	Schema   *openapiSchema
}

type openapiSchema struct {
	Ref        string                     `json:"$ref"`
	Example    json.RawMessage            `json:"example"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func loadOpenAPI(t *testing.T) *openapiDoc {
	t.Helper()
	b, err := os.ReadFile(openapiPath)
	if err != nil {
		t.Fatal(err)
	}
	var d openapiDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", openapiPath, err)
	}
	return &d
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

// operations are the document's operations by route.
func (d *openapiDoc) operations(t *testing.T) map[apiRoute]openapiOperation {
	t.Helper()
	ops := map[apiRoute]openapiOperation{}
	for path, item := range d.Paths {
		for method, raw := range item {
			if !slices.Contains(httpMethods, method) {
				continue // parameters, x- extensions
			}
			var op openapiOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[apiRoute{strings.ToUpper(method), path}] = op
		}
	}
	return ops
}

// schema resolves a local $ref.
func (d *openapiDoc) schema(t *testing.T, s *openapiSchema) openapiSchema {
	t.Helper()
	if s == nil {
		t.Fatal("no schema")
	}
	if s.Ref == "" {
		return *s
	}
	def, ok := d.Definitions[strings.TrimPrefix(s.Ref, "#/definitions/")]
	if !ok {
		t.Fatalf("dangling $ref %s", s.Ref)
	}
	return def
}

// generatedRESTRoutes are the routes the generated grpc-gateway mux
// registers: each mux.Handle(method, pattern, handler) of signoff.pb.gw.go
// with the path template its handler annotates (WithHTTPPathPattern).
func generatedRESTRoutes(t *testing.T) map[apiRoute]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), restMuxPath, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	routes := map[apiRoute]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isCall(call, "mux", "Handle") || len(call.Args) != 3 {
			return true
		}
		var method string
		switch m := call.Args[0].(type) {
		case *ast.SelectorExpr: // http.MethodPost
			method = strings.ToUpper(strings.TrimPrefix(m.Sel.Name, "Method"))
		case *ast.BasicLit:
			method, _ = strconv.Unquote(m.Value)
		}
		var path, rpc string
		ast.Inspect(call.Args[2], func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			switch {
			case isCall(c, "runtime", "WithHTTPPathPattern") && len(c.Args) == 1:
				path = stringLit(c.Args[0])
			case isCall(c, "runtime", "AnnotateContext") || isCall(c, "runtime", "AnnotateIncomingContext"):
				if len(c.Args) > 3 {
					rpc = stringLit(c.Args[3])
				}
			}
			return true
		})
		if method == "" || path == "" {
			t.Fatalf("%s: a mux.Handle whose method or path template this test cannot read", restMuxPath)
		}
		routes[apiRoute{method, path}] = rpc
		return true
	})
	if len(routes) == 0 {
		t.Fatalf("%s: no routes found: has the generated code changed shape?", restMuxPath)
	}
	return routes
}

func isCall(c *ast.CallExpr, x, name string) bool {
	sel, ok := c.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == x
}

func stringLit(e ast.Expr) string {
	if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
		s, _ := strconv.Unquote(l.Value)
		return s
	}
	return ""
}

// httpRule is a google.api.HttpRule as signoff_api.yaml writes it.
type httpRule struct {
	Selector                      string
	Get, Put, Post, Delete, Patch string
	Custom                        *struct{ Kind, Path string }
	AdditionalBindings            []httpRule `yaml:"additional_bindings"`
}

// ruleRoutes are the routes signoff_api.yaml binds, by RPC.
func ruleRoutes(t *testing.T) map[apiRoute]string {
	t.Helper()
	b, err := os.ReadFile(httpRulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var svc struct {
		HTTP struct{ Rules []httpRule } `yaml:"http"`
	}
	if err := yaml.Unmarshal(b, &svc); err != nil {
		t.Fatal(err)
	}
	routes := map[apiRoute]string{}
	var add func(selector string, r httpRule)
	add = func(selector string, r httpRule) {
		for method, path := range map[string]string{"GET": r.Get, "PUT": r.Put, "POST": r.Post, "DELETE": r.Delete, "PATCH": r.Patch} {
			if path != "" {
				routes[apiRoute{method, path}] = selector
			}
		}
		if r.Custom != nil {
			routes[apiRoute{strings.ToUpper(r.Custom.Kind), r.Custom.Path}] = selector
		}
		for _, more := range r.AdditionalBindings {
			add(selector, more)
		}
	}
	for _, r := range svc.HTTP.Rules {
		add(r.Selector, r)
	}
	return routes
}

// webV1Routes are the routes the gateway's own handlers and the channels'
// callback handlers register under /v1/ (the evidence export): every
// Handle and HandleFunc call of a non-test file under gateway/ and
// channel/, its pattern evaluated from literals and constants. The "/v1/"
// mount of the REST mux itself is left out. A pattern this test cannot
// evaluate fails it: make it a constant.
func webV1Routes(t *testing.T) map[apiRoute]string {
	t.Helper()
	const module = "github.com/signoff/signoff/"
	type call struct {
		dir     string
		imports map[string]string // the file's import names: name → dir
		arg     ast.Expr
		pos     token.Position
	}
	fset := token.NewFileSet()
	consts := map[string]ast.Expr{} // "dir.Name", dir relative to the repository
	var calls []call
	for _, root := range []string{".", "../channel"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasSuffix(d.Name(), "fake") {
				return filepath.SkipDir // a test double serves the outside service's routes
			}
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			dir := filepath.ToSlash(filepath.Clean(filepath.Join("gateway", filepath.Dir(path))))
			imports := map[string]string{}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if !strings.HasPrefix(p, module) {
					continue
				}
				name := p[strings.LastIndex(p, "/")+1:]
				if imp.Name != nil {
					name = imp.Name.Name
				}
				imports[name] = strings.TrimPrefix(p, module)
			}
			for _, decl := range f.Decls {
				if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, spec := range g.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, name := range vs.Names {
							if i < len(vs.Values) {
								consts[dir+"."+name.Name] = vs.Values[i]
							}
						}
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				c, ok := n.(*ast.CallExpr)
				if !ok || len(c.Args) != 2 {
					return true
				}
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Handle" || sel.Sel.Name == "HandleFunc") {
					calls = append(calls, call{dir, imports, c.Args[0], fset.Position(c.Pos())})
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var eval func(c call, e ast.Expr) (string, bool)
	eval = func(c call, e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			return s, err == nil && e.Kind == token.STRING
		case *ast.ParenExpr:
			return eval(c, e.X)
		case *ast.BinaryExpr:
			l, ok1 := eval(c, e.X)
			r, ok2 := eval(c, e.Y)
			return l + r, ok1 && ok2 && e.Op == token.ADD
		case *ast.Ident:
			if v, ok := consts[c.dir+"."+e.Name]; ok {
				return eval(c, v)
			}
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok {
				if dir, ok := c.imports[x.Name]; ok {
					if v, ok := consts[dir+"."+e.Sel.Name]; ok {
						return eval(call{dir: dir, imports: c.imports}, v)
					}
				}
			}
		}
		return "", false
	}
	routes := map[apiRoute]string{}
	found := 0
	for _, c := range calls {
		pattern, ok := eval(c, c.arg)
		if !ok {
			t.Errorf("%s: a route whose pattern this test cannot evaluate: make it a constant so the OpenAPI check sees it", c.pos)
			continue
		}
		found++
		method, path, hasMethod := strings.Cut(pattern, " ")
		if !hasMethod {
			method, path = "", pattern
		}
		path = path[strings.Index(path, "/"):] // drop a host
		if path == "/v1/" || !strings.HasPrefix(path, "/v1/") {
			continue
		}
		if method == "" {
			t.Errorf("%s: %q serves every method under /v1/: give it one", c.pos, pattern)
			continue
		}
		// Go's wildcards in the document's spelling: {rest...} is {rest}, {$} goes.
		path = strings.TrimSuffix(strings.ReplaceAll(path, "...}", "}"), "{$}")
		routes[apiRoute{method, path}] = c.pos.String()
	}
	if found == 0 {
		t.Fatal("no routes found under gateway/: has the registration changed shape?")
	}
	return routes
}

// TestOpenAPIHTTPRulesMatchTheGeneratedMux: the routes signoff_api.yaml binds
// are exactly those the generated grpc-gateway mux serves, each for its RPC.
func TestOpenAPIHTTPRulesMatchTheGeneratedMux(t *testing.T) {
	rules, generated := ruleRoutes(t), generatedRESTRoutes(t)
	for r, selector := range rules {
		rpc, ok := generated[r]
		if !ok {
			t.Errorf("%s (%s) is in %s but not served by the generated mux: run make proto", r, selector, httpRulesPath)
		} else if i := strings.LastIndex(selector, "."); rpc != "/"+selector[:i]+"/"+selector[i+1:] {
			t.Errorf("%s: the mux calls %s, the rule binds %s", r, rpc, selector)
		}
	}
	for r := range generated {
		if _, ok := rules[r]; !ok {
			t.Errorf("%s is served by the generated mux but bound by no rule of %s: run make proto", r, httpRulesPath)
		}
	}
}

// TestOpenAPIDocumentsEveryV1Route: every route served under /v1/ (the
// generated REST mux's and the gateway's own, such as the evidence export)
// is in the OpenAPI document with its method, and the document has no
// other.
func TestOpenAPIDocumentsEveryV1Route(t *testing.T) {
	ops := loadOpenAPI(t).operations(t)
	served := map[apiRoute]string{}
	for r, rpc := range generatedRESTRoutes(t) {
		served[r] = rpc
	}
	web := webV1Routes(t)
	if _, ok := web[apiRoute{"GET", "/v1/approvals/{id}/evidence"}]; !ok {
		t.Errorf("the evidence export was not found among the gateway's routes: %v", slices.Collect(maps.Keys(web)))
	}
	for r, where := range web {
		if rpc, dup := served[r]; dup {
			t.Errorf("%s is served twice: by %s and by %s", r, rpc, where)
		}
		served[r] = where
	}
	for r, by := range served {
		if _, ok := ops[r]; !ok {
			t.Errorf("%s (%s) is served but not in %s", r, by, openapiPath)
		}
	}
	for r, op := range ops {
		if _, ok := served[r]; !ok {
			t.Errorf("%s (%s) is in %s but not served", r, op.OperationID, openapiPath)
		}
	}
}

// TestOpenAPIRoutesAreServed asks a running gateway for every operation of
// the document, without a token: each is routed and answers 401, as the
// document's security requirement says, where a route nobody serves
// answers 404. (grpc-gateway also routes GET /v1/approvals/x:cancel to
// GetApproval, id "x:cancel": methods are checked by
// TestOpenAPIDocumentsEveryV1Route.)
func TestOpenAPIRoutesAreServed(t *testing.T) {
	base := startTestGateway(t)
	call := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	params := strings.NewReplacer("{id}", "abcdefghijklmnopqrstuvwxyz", "{name}", "default")
	ops := loadOpenAPI(t).operations(t)
	for r := range ops {
		if code, body := call(r.method, params.Replace(r.path)); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %s, want 401", r, code, body)
		}
	}
	// The document itself is served, as committed.
	if code, body := call("GET", "/openapi.json"); code != http.StatusOK || body != string(pb.OpenAPI) {
		t.Errorf("GET /openapi.json: %d, %d bytes, want 200 and the committed document", code, len(body))
	}
	if want, err := os.ReadFile(openapiPath); err != nil || string(want) != string(pb.OpenAPI) {
		t.Errorf("the embedded document is not %s: %v", openapiPath, err)
	}
	if code, _ := call("GET", "/v1/approvals/abcdefghijklmnopqrstuvwxyz/nothing-here"); code != http.StatusNotFound {
		t.Errorf("a route nobody serves: %d, want 404", code)
	}
	if _, ok := ops[apiRoute{"DELETE", "/v1/approvals/{id}"}]; !ok {
		if code, _ := call("DELETE", "/v1/approvals/abcdefghijklmnopqrstuvwxyz"); code == http.StatusUnauthorized {
			t.Errorf("DELETE of a GET route answers 401: the probe cannot tell methods apart")
		}
	}
}

// startTestGateway serves a gateway on loopback ports (the embedded
// Temporal replaced by the in-memory port) until the test ends; it returns
// the HTTP base URL.
func startTestGateway(t *testing.T) string {
	t.Helper()
	cfg, err := config.Parse([]byte("dev_only: true\nusers:\n  - {name: bob, token: dev-bob}\n"))
	if err != nil {
		t.Fatal(err)
	}
	keys := proof.Generate()
	s, err := New(Options{Live: config.NewLive(cfg, nil), Approvals: approvalstore.NewMemory(keys, nil), Actions: knownActions,
		Proofs: keys, Ready: func(context.Context) error { return nil }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	grpcL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, grpcL, httpL) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("the gateway did not stop")
		}
	})
	return "http://" + httpL.Addr().String()
}

// TestOpenAPISecurityScheme: the bearer scheme (static tokens and OIDC
// tokens, both as Authorization: Bearer) is defined, required for the
// whole API, and no operation opts out.
func TestOpenAPISecurityScheme(t *testing.T) {
	d := loadOpenAPI(t)
	s, ok := d.SecurityDefinitions["bearer"]
	if !ok {
		t.Fatalf("no bearer security scheme: %v", d.SecurityDefinitions)
	}
	if s.Type != "apiKey" || s.In != "header" || s.Name != "Authorization" {
		t.Errorf("bearer scheme: %+v, want an apiKey in the Authorization header", s)
	}
	for _, want := range []string{"Authorization: Bearer <token>", "token_sha256", "OpenID Connect", "oidc.issuer", "oidc.audience",
		"/.well-known/openid-configuration"} {
		if !strings.Contains(s.Description, want) {
			t.Errorf("the bearer scheme's description does not mention %q:\n%s", want, s.Description)
		}
	}
	if !slices.ContainsFunc(d.Security, func(req map[string][]string) bool { _, ok := req["bearer"]; return ok && len(req) == 1 }) {
		t.Errorf("no global security requirement of bearer: %v", d.Security)
	}
	for r, op := range d.operations(t) {
		if op.Security != nil {
			t.Errorf("%s overrides the global security requirement: %v", r, *op.Security)
		}
		if _, ok := op.Responses["401"]; !ok {
			t.Errorf("%s documents no 401", r)
		}
	}
}

// TestOpenAPIRequestExamples: the main requests have an example in their
// body schema, and each example is a request the API accepts as JSON.
func TestOpenAPIRequestExamples(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations(t)
	for _, c := range []struct {
		route apiRoute
		msg   proto.Message
		check func(proto.Message) bool
	}{
		{apiRoute{"POST", "/v1/approvals"}, &pb.CreateApprovalRequest{},
			func(m proto.Message) bool {
				r := m.(*pb.CreateApprovalRequest)
				return r.GetTitle() != "" && r.GetEnvironment() != ""
			}},
		{apiRoute{"POST", "/v1/approvals/{id}:decide"}, &pb.DecideApprovalRequest{},
			func(m proto.Message) bool {
				r := m.(*pb.DecideApprovalRequest)
				return r.GetDecision() != pb.Decision_DECISION_UNSPECIFIED && regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(r.GetRequestHash())
			}},
		{apiRoute{"POST", "/v1/secret-changes"}, &pb.ProposeSecretChangeRequest{},
			func(m proto.Message) bool {
				r := m.(*pb.ProposeSecretChangeRequest)
				return r.GetTarget() != "" && r.GetSecret() != "" && len(r.GetChanges()) > 0
			}},
		{apiRoute{"POST", "/v1/approvals/{id}:extend"}, &pb.ExtendGrantRequest{},
			func(m proto.Message) bool { return m.(*pb.ExtendGrantRequest).GetDuration() != "" }},
	} {
		op, ok := ops[c.route]
		if !ok {
			t.Errorf("%s is not in the document", c.route)
			continue
		}
		i := slices.IndexFunc(op.Parameters, func(p openapiParam) bool { return p.In == "body" })
		if i < 0 {
			t.Errorf("%s has no body parameter", c.route)
			continue
		}
		ex := d.schema(t, op.Parameters[i].Schema).Example
		if len(ex) == 0 {
			t.Errorf("%s: no example", c.route)
			continue
		}
		if err := protojson.Unmarshal(ex, c.msg); err != nil {
			t.Errorf("%s: the example is not a %T: %v\n%s", c.route, c.msg, err, ex)
		} else if !c.check(c.msg) {
			t.Errorf("%s: the example leaves out what the call needs: %s", c.route, ex)
		}
	}
}

// TestOpenAPIEvidenceSchema: the evidence export's hand-written schema
// names exactly the fields the document has (evidence.Document, its header
// and entries), so it follows the export's changes.
func TestOpenAPIEvidenceSchema(t *testing.T) {
	d := loadOpenAPI(t)
	op, ok := d.operations(t)[apiRoute{"GET", "/v1/approvals/{id}/evidence"}]
	if !ok {
		t.Fatal("the evidence export is not in the document")
	}
	var ok200 struct{ Schema *openapiSchema }
	if err := json.Unmarshal(op.Responses["200"], &ok200); err != nil || ok200.Schema == nil {
		t.Fatalf("the evidence export's 200 has no schema: %s", op.Responses["200"])
	}
	for name, typ := range map[string]reflect.Type{
		strings.TrimPrefix(ok200.Schema.Ref, "#/definitions/"): reflect.TypeFor[evidence.Document](),
		"signoffEvidenceHeader":                                reflect.TypeFor[evidence.Header](),
		"signoffEvidenceEntry":                                 reflect.TypeFor[evidence.Entry](),
	} {
		def, ok := d.Definitions[name]
		if !ok {
			t.Errorf("no definition %s", name)
			continue
		}
		var fields []string
		for i := range typ.NumField() {
			if tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); tag != "" && tag != "-" {
				fields = append(fields, tag)
			}
		}
		slices.Sort(fields)
		if got := slices.Sorted(maps.Keys(def.Properties)); !slices.Equal(got, fields) {
			t.Errorf("%s describes %v; %s has %v", name, got, typ, fields)
		}
	}
}
