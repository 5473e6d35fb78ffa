package securityserver

import (
	"fmt"
	"net/http"

	"github.com/jisr-bus/jisr/internal/webui"
	"github.com/jisr-bus/jisr/internal/xerr"
	"github.com/jisr-bus/jisr/securityserver/conf"
	"github.com/jisr-bus/jisr/securityserver/console"
)

// mountConsole mounts the web console (securityserver/console) at
// /console/ on the admin listener's mux. The console reaches the admin API
// and /readyz through mux itself, in-process, with the operator's API key,
// and the operational monitoring query API through its handler; it never
// touches the stores but to read, at sign-in, the name and roles of the key
// presented. If it cannot be built, /console/ answers 503 and the cause is
// logged: the rest of the server keeps running.
func (s *Service) mountConsole(mux *http.ServeMux) {
	h, err := s.newConsole(mux)
	if err != nil {
		s.log.Error("web console unavailable", "err", err)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			xerr.Write(w, r, nil, &xerr.Error{Code: xerr.PrefixServer + "ServiceUnavailable", Message: "web console unavailable",
				Detail: xerr.NewDetailID(), Status: http.StatusServiceUnavailable}, "")
		})
	}
	mux.Handle(webui.Prefix+"/", h)
}

func (s *Service) newConsole(admin http.Handler) (http.Handler, error) {
	st, ok := s.confStore.(conf.AdminStore)
	if !ok {
		return nil, fmt.Errorf("the local configuration store %T keeps no API keys", s.confStore)
	}
	cfg := console.Config{Server: s.cfg.ID(), Admin: admin, Identify: console.Identify(st, s.clk), Clock: s.clk,
		Logger: s.log.With("component", "console")}
	if s.mon != nil {
		cfg.Exchanges = s.mon.handler
	}
	return console.New(cfg)
}
