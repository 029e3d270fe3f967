package devserver

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

// UI is the embedded Temporal Web UI.
type UI struct{ srv *uiserver.Server }

// StartUI serves the Temporal Web UI on address, talking to the frontend at
// temporalAddress. With codecEndpoint set, the UI decodes payloads there
// from the browser, sending the browser's cookies (includeCredentials), so
// a person signed in to Signoff with the codec role reads decrypted
// approvals. The UI server exits the whole process when its port is
// taken, so the port is checked first.
func StartUI(address, temporalAddress, namespace, codecEndpoint string) (*UI, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("ui address %q: %w", address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("ui port %q: %w", portStr, err)
	}
	if err := checkPortFree(address); err != nil {
		return nil, err
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: temporalAddress,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		HideLogs:            true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
	}
	if codecEndpoint != "" {
		cfg.Codec = uiconfig.Codec{Endpoint: codecEndpoint, IncludeCredentials: true,
			DefaultErrorMessage: "Sign in to Signoff (as a person with the codec role) to read these payloads."}
	}
	srv := uiserver.NewServer(server_options.WithConfigProvider(cfg))
	go func() {
		if err := srv.Start(); err != nil {
			slog.Error("temporal ui stopped", "err", err)
		}
	}()
	slog.Info("temporal web ui started", "url", "http://"+address)
	return &UI{srv: srv}, nil
}

// Stop shuts the UI down.
func (u *UI) Stop() { u.srv.Stop() }
