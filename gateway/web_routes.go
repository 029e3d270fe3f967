package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/channel/web"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

// newSessions signs browsers in with the session key; a dev_only config
// without one gets a key for the life of the process (everyone signs in
// again after a restart). Without a key, sign-in is off.
func newSessions(cfg *config.Loaded, live *config.Live, key []byte, logger *slog.Logger) (*web.Sessions, error) {
	if key == nil {
		if !cfg.DevOnly {
			logger.Info("browser sign-in off: " + config.EnvSessionKey + " is not set")
			return nil, nil
		}
		key = web.RandomSessionKey()
	}
	u, err := url.Parse(cfg.Gateway.PublicURL)
	if err != nil {
		return nil, errors.New("gateway.public_url: " + err.Error())
	}
	return web.NewSessions(web.SessionOptions{
		Key: key, TTL: cfg.Gateway.SessionTTL.Std(), Secure: u.Scheme == "https",
		Directory: func() *identity.Directory { return live.Get().Directory },
	})
}

// mountWeb serves the pages people use in a browser: sign-in, the inbox
// and approval pages (with a session key), the pages email links open
// (with the link key), and the evidence export (always; it answers 503
// without a signing key).
func mountWeb(mux *http.ServeMux, d Deps) error {
	keys, sign := d.Secrets.EmailLinks, d.Secrets.Evidence
	if keys == nil && (slices.Contains(d.Config.Notifiers, "email") || slices.Contains(d.Config.SecurityNotifiers, "email")) {
		return errors.New("email pages: " + config.EnvEmailLinkKey + " is not set: the links in emails could not be verified")
	}
	live := d.Live
	o := web.Options{
		Keys:      keys,
		Evidence:  sign,
		Directory: func() *identity.Directory { return live.Get().Directory },
		Authn:     d.Authn,
		Approvals: d.Approvals,
		Logger:    d.Logger.With("component", "web"),
		PublicURL: d.Config.Gateway.PublicURL,
		Timeout:   time.Duration(d.Config.Gateway.CallTimeout),
		Proofs:    d.Proofs,
		Sessions:  d.Sessions,
		// A dev_only config lists its people to sign in as; a real one
		// never does, whatever else it says.
		DevSignIn:   d.Config.DevOnly,
		People:      d.People,
		Memberships: d.Memberships,
	}
	if d.Service != nil {
		// "Ask for more time" starts the extension as the API does.
		o.Extend = d.Service.Extend
		// "Propose a secret change" proposes as the API does.
		o.ProposeSecret, o.SecretTargets = d.Service.proposeSecretWeb, d.Service.secretTargets
		// "Request access" lists the caller's catalog and requests as the API does.
		o.Catalog, o.RequestAccess = d.Service.webCatalog, d.Service.requestAccessWeb
	}
	if d.Sessions != nil {
		o.SignIn = d.Authn.SignIn(d.Config.OIDC.ClientID, d.Secrets.OIDCClientSecret, strings.TrimSuffix(d.Config.Gateway.PublicURL, "/")+"/auth/callback")
	}
	h, err := web.New(o)
	if err != nil {
		return err
	}
	h.Mount(mux)
	if d.Sessions != nil {
		d.Logger.Info("browser sign-in on", "oidc", o.SignIn != nil, "dev_sign_in", o.DevSignIn,
			"inbox", d.Config.Gateway.PublicURL+"/inbox")
	}
	return nil
}
