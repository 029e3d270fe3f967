// Package connect dials the Temporal cluster from config (plain, TLS,
// mTLS or a Temporal Cloud API key) and makes sure the namespace has what
// Signoff needs.
package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/temporal/codec"
)

// Converter is the data converter of every Signoff client: payloads (and
// failure messages) are encrypted with payloads when it is not nil. Code
// that decodes what the SDK hands over raw (memos, search attributes,
// summaries) must use the same converter the client was dialled with.
func Converter(payloads *codec.Codec) converter.DataConverter {
	if payloads == nil {
		return converter.GetDefaultDataConverter()
	}
	return codec.DataConverter(payloads)
}

// Dial connects to Temporal with apiKey (if any) and, when payloads is not
// nil, payload encryption.
func Dial(ctx context.Context, cfg config.Temporal, payloads *codec.Codec, apiKey string, logger *slog.Logger) (client.Client, error) {
	return DialWith(ctx, cfg, payloads, apiKey, nil, logger)
}

// DialWith is Dial with the SDK's metrics (the client's, and those of the
// workers built on it) going to metrics; nil records none.
func DialWith(ctx context.Context, cfg config.Temporal, payloads *codec.Codec, apiKey string, metrics client.MetricsHandler, logger *slog.Logger) (client.Client, error) {
	opts := client.Options{
		HostPort:       cfg.Address,
		Namespace:      cfg.Namespace,
		Logger:         tlog.NewStructuredLogger(logger),
		MetricsHandler: metrics,
	}
	if isLoopback(cfg.Address) {
		// gzip costs CPU on both ends and saves nothing on loopback (the
		// embedded server, a sidecar): measured at about 3% of the CPU of
		// the whole stack under load.
		opts.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
	}
	if cfg.TLS.Enabled || cfg.TLS.CAFile != "" || cfg.TLS.CertFile != "" {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts.ConnectionOptions.TLS = tc
	}
	if apiKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(apiKey)
		if opts.ConnectionOptions.TLS == nil {
			opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	// With codec keys, every payload (and failure message) this client
	// writes is encrypted; see package codec.
	if payloads != nil {
		opts.DataConverter = Converter(payloads)
		opts.FailureConverter = codec.FailureConverter(opts.DataConverter)
		logger.Info("payload encryption on", "key_ids", payloads.KeyIDs())
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", cfg.Address, err)
	}
	return c, nil
}

func tlsConfig(t config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal tls ca %s: no certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal tls client cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// EnsureNamespace registers the namespace (with a retention long enough for
// approvals) and the search attributes attrs when missing. "Already exists"
// is success, so every worker may run it at start-up.
func EnsureNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration, attrs map[string]enumspb.IndexedValueType) error {
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(retention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range attrs {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	var already *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("add search attributes %v (register them with `temporal operator search-attribute create`): %w", keys(missing), err)
	}
	return nil
}

func keys(m map[string]enumspb.IndexedValueType) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// isLoopback says whether addr (host:port) names this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
