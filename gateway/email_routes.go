package gateway

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/gateway/emailhttp"
	"github.com/signoff/signoff/identity"
)

// mountEmail serves the pages email links open (when the link key is set)
// and the evidence export (always; it answers 503 without a signing key).
func mountEmail(mux *http.ServeMux, d Deps) error {
	keys, sign := d.Secrets.EmailLinks, d.Secrets.Evidence
	if keys == nil && (slices.Contains(d.Config.Notifiers, "email") || slices.Contains(d.Config.SecurityNotifiers, "email")) {
		return errors.New("email pages: " + config.EnvEmailLinkKey + " is not set: the links in emails could not be verified")
	}
	live := d.Live
	h, err := emailhttp.New(emailhttp.Options{
		Keys:      keys,
		Evidence:  sign,
		Directory: func() *identity.Directory { return live.Get().Directory },
		Authn:     d.Authn,
		Approvals: d.Approvals,
		Logger:    d.Logger.With("component", "email_pages"),
		PublicURL: d.Config.Gateway.PublicURL,
		Timeout:   time.Duration(d.Config.Gateway.CallTimeout),
		Proofs:    d.Proofs,
	})
	if err != nil {
		return err
	}
	h.Mount(mux)
	return nil
}
