// Package gateway is Signoff's front door: the gRPC ApprovalService, its
// REST mapping through grpc-gateway, health and metrics. It authenticates
// every caller, validates input and talks to Temporal; it keeps no state, so
// any number can run.
package gateway

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/email/linktoken"
	githubcallbacks "github.com/signoff/signoff/channel/github/callbacks"
	"github.com/signoff/signoff/channel/web"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/temporal/codec"
)

// Options are what a gateway is built from; the composition root fills
// them once at start.
type Options struct {
	Live      *config.Live
	Approvals approvalstore.Approvals
	// Actions validates actions at create and amend time.
	Actions intake.ActionValidator
	// Proofs stamps what the gateway verified; required.
	Proofs *proof.Keyring
	// Codec is the payload codec; nil leaves /codec unmounted.
	Codec *codec.Codec
	// Ready reports whether the backend (Temporal) answers, for /readyz.
	Ready func(ctx context.Context) error
	// Secrets are what the routes need from the environment, read once
	// at start.
	Secrets Secrets
	// Authn tells who a bearer credential belongs to; nil accepts the
	// users' static tokens only.
	Authn *authn.Authenticator
	// Outside reads approver groups kept outside the config (Slack user
	// groups) when approvals are created; nil counts no one in them.
	Outside policy.Outside
	// People keeps delegations and identity-provider groups; nil turns
	// delegation off.
	People peoplestore.Store
	// Metrics are served on /metrics with the gateway's own: the Temporal
	// SDK's and what the workflows and activities emit through it (with
	// the worker's, when it runs in this process); nil adds none.
	Metrics prometheus.Gatherer
	Logger  *slog.Logger
}

// Secrets are what the gateway's routes need from the environment. The
// composition root reads them once, at start: nothing in the gateway reads
// the environment itself.
type Secrets struct {
	// Slack verifies Slack's callbacks (signing secret, app token) and
	// calls its API (bot token, API URL override).
	Slack config.SlackSecrets
	// EmailLinks verifies the links in emails; nil when
	// SIGNOFF_EMAIL_LINK_KEY is unset.
	EmailLinks *linktoken.Keys
	// Evidence signs evidence exports; nil when SIGNOFF_EVIDENCE_KEY is
	// unset (the export answers 503).
	Evidence ed25519.PrivateKey
	// SessionKey signs browser sessions; nil turns sign-in off, except
	// in a dev_only config, which makes one up for the process's life.
	SessionKey []byte
	// OIDCClientSecret is the OIDC client's secret (browser sign-in);
	// empty for a public client.
	OIDCClientSecret string
	// Env looks up the variables the config names (the GitHub App's
	// webhook secret), read at start; nil finds none.
	Env config.Env
}

// Deps is what extra HTTP routes are built from.
type Deps struct {
	// Config is the config at start; Live has the one in force.
	Config    *config.Loaded
	Live      *config.Live
	Approvals approvalstore.Approvals
	Codec     *codec.Codec
	Logger    *slog.Logger
	Service   *Service
	// Proofs stamps decisions made through the routes.
	Proofs *proof.Keyring
	// Secrets are Options.Secrets.
	Secrets Secrets
	// Authn is Options.Authn: every route that takes a bearer token
	// asks it.
	Authn *authn.Authenticator
	// Sessions are the browsers signed in; nil when sign-in is off.
	Sessions *web.Sessions
	// People has the delegations in force; nil without.
	People peoplestore.Store
	// Memberships are the outside groups people are in now (Service.Memberships).
	Memberships func(ctx context.Context, users ...string) map[string][]string
	// Go runs fn in the background while Serve runs (a Slack Socket Mode
	// connection, draining deliveries); fn's ctx ends when Serve stops,
	// and Serve waits for it (up to the shutdown timeout).
	Go func(fn func(ctx context.Context) error)
}

// routeBuilder mounts extra HTTP routes (Slack callbacks, email pages, the
// codec server) when their config asks for them.
type routeBuilder func(mux *http.ServeMux, d Deps) error

// routes are the extra HTTP routes, each in a file of its own.
var routes = []routeBuilder{mountSlack, mountWeb, codecRoutes, mountGitHubApp, mountTeams}

// mountGitHubApp serves GitHub's deployment_protection_rule webhook
// (POST /github/webhook) when github_app is configured; it starts
// approvals through the API's intake. Its secret is looked up in the
// environment read at start (Secrets.Env).
func mountGitHubApp(mux *http.ServeMux, d Deps) error {
	if d.Service == nil {
		return nil
	}
	return githubcallbacks.Mount(mux, githubcallbacks.Options{Live: d.Live, Starter: d.Service.starter, Env: d.Secrets.Env.Lookup, Logger: d.Logger})
}

// Server serves gRPC and HTTP.
type Server struct {
	cfg    *config.Loaded
	ready  func(ctx context.Context) error
	logger *slog.Logger
	grpc   *grpc.Server
	http   *http.Server
	inproc *bufconn.Listener
	conn   *grpc.ClientConn
	health *health.Server
	// background are the Deps.Go tasks.
	background []func(ctx context.Context) error
}

// New builds the servers; Serve starts them.
func New(o Options) (*Server, error) {
	live, proofs, logger := o.Live, o.Proofs, o.Logger
	cfg := live.Get()
	if o.Approvals == nil || o.Ready == nil {
		return nil, errors.New("gateway: no approvals port or readiness check")
	}
	if proofs == nil {
		return nil, errors.New("gateway: no proof keys: decisions could not be stamped (" + proof.KeysEnv + ")")
	}
	auth := o.Authn
	if auth == nil {
		auth = authn.Static(func() *identity.Directory { return live.Get().Directory }, logger)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := newMetrics(reg)
	reg.MustRegister(newGrantsCollector(o.Approvals, logger), newPendingCollector(o.Approvals, logger))
	var gather prometheus.Gatherer = reg
	if o.Metrics != nil {
		gather = prometheus.Gatherers{reg, o.Metrics}
	}

	svc := NewService(live, o.Approvals, o.Actions, proofs, logger)
	svc.starter.Outside, svc.starter.People, svc.people = o.Outside, o.People, o.People
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(cfg.Gateway.MaxBodyBytes)),
		grpc.ChainUnaryInterceptor(m.unary, recoverUnary(logger), authUnary(auth, "/signoff.v1.")),
	)
	pb.RegisterApprovalServiceServer(gs, svc)
	pb.RegisterPolicyServiceServer(gs, &PolicyService{svc: svc})
	pb.RegisterDelegationServiceServer(gs, &DelegationService{svc: svc})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	reflection.Register(gs)

	// The REST mux reaches the gRPC server in-process, so REST and gRPC share
	// one auth, validation and metrics path, whatever TLS the public
	// listener has.
	inproc := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///inproc",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return inproc.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)),
	)
	if err != nil {
		return nil, fmt.Errorf("in-process grpc client: %w", err)
	}
	mux := runtime.NewServeMux(runtime.WithErrorHandler(httpErrorHandler), runtime.WithOutgoingHeaderMatcher(outgoingHeader))
	if err := pb.RegisterApprovalServiceHandler(context.Background(), mux, conn); err != nil {
		return nil, fmt.Errorf("register rest handlers: %w", err)
	}
	if err := pb.RegisterPolicyServiceHandler(context.Background(), mux, conn); err != nil {
		return nil, fmt.Errorf("register rest handlers: %w", err)
	}
	if err := pb.RegisterDelegationServiceHandler(context.Background(), mux, conn); err != nil {
		return nil, fmt.Errorf("register rest handlers: %w", err)
	}

	s := &Server{cfg: cfg, ready: o.Ready, logger: logger, grpc: gs, inproc: inproc, conn: conn, health: hs}
	root := http.NewServeMux()
	root.Handle("/v1/", limitBody(cfg.Gateway.MaxBodyBytes, mux))
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	// The API's description is public (it is in the repository): clients
	// and API tools read it without a token.
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(pb.OpenAPI)
	})
	root.HandleFunc("GET /readyz", s.readyz)
	// A metric that cannot be gathered is logged and left out, not the
	// whole scrape.
	root.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{Registry: reg,
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}))
	sessions, err := newSessions(cfg, live, o.Secrets.SessionKey, logger)
	if err != nil {
		return nil, err
	}
	deps := Deps{Config: cfg, Live: live, Approvals: o.Approvals, Codec: o.Codec,
		Logger: logger, Service: svc, Proofs: proofs, Secrets: o.Secrets, Authn: auth, Sessions: sessions, People: o.People, Memberships: svc.Memberships,
		Go: func(fn func(ctx context.Context) error) { s.background = append(s.background, fn) }}
	for _, b := range routes {
		if err := b(root, deps); err != nil {
			return nil, fmt.Errorf("mount routes: %w", err)
		}
	}
	s.http = &http.Server{
		Handler:           m.http(securityHeaders(root)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return s, nil
}

// Serve runs until ctx is done, then drains in-flight requests.
func (s *Server) Serve(ctx context.Context, grpcL, httpL net.Listener) error {
	errc := make(chan error, 3)
	go func() { errc <- s.grpc.Serve(s.inproc) }()
	go func() { errc <- s.grpc.Serve(grpcL) }()
	go func() {
		if err := s.http.Serve(httpL); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	s.logger.Info("gateway listening", "grpc", grpcL.Addr().String(), "http", httpL.Addr().String())
	bgCtx, stopBackground := context.WithCancel(ctx)
	var bg sync.WaitGroup
	for _, fn := range s.background {
		bg.Go(func() {
			if err := fn(bgCtx); err != nil && bgCtx.Err() == nil {
				s.logger.Error("gateway background task failed", "error", err)
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.health.Shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = s.http.Shutdown(shutdownCtx)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		s.grpc.Stop()
	}
	_ = s.conn.Close()
	stopBackground()
	bgDone := make(chan struct{})
	go func() { bg.Wait(); close(bgDone) }()
	select {
	case <-bgDone:
	case <-shutdownCtx.Done():
	}
	return err
}

// readyz is ready when the backend (Temporal) answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		http.Error(w, "temporal unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// limitBody refuses oversize bodies: early by Content-Length (413), and by
// cutting the stream off for chunked bodies.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"code":3,"message":"request body too large"}`))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
